"""`microbiome diversity` end to end on a small real cohort (KIM_ADENOMAS_2020 subset), and its
one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import TEST_DATA
from skbio.diversity import beta_diversity
from skbio.stats.distance import permanova

from microbiome.cli.main import main

KIM_TABLE = TEST_DATA / "multiomics" / "kim_genera.counts.tsv"
KIM_METADATA = TEST_DATA / "multiomics" / "kim_metadata.tsv"


@pytest.mark.slow
def test_kim_subset_permanova_from_tables_alone(tmp_path):
    out = tmp_path / "div"
    code = main(
        ["diversity", "--table", str(KIM_TABLE), "--metadata", str(KIM_METADATA)]
        + ["--outdir", str(out), "--permutations", "199", "--rarefaction-depth", "1000", "-q"]
    )
    assert code == 0
    counts = pd.read_csv(KIM_TABLE, sep="\t", index_col=0)
    meta = pd.read_csv(KIM_METADATA, sep="\t", index_col=0)
    props = counts.div(counts.sum(axis=1), axis=0)
    dm = beta_diversity("braycurtis", props.to_numpy(), ids=list(props.index))
    ref = permanova(dm, meta.loc[list(dm.ids), "Study.Group"].to_numpy(), permutations=199, seed=42)
    rows = pd.read_csv(out / "tests" / "permanova.tsv", sep="\t")
    row = rows[(rows["metric"] == "braycurtis") & (rows["variable"] == "Study.Group")].iloc[0]
    assert row["pseudo_f"] == pytest.approx(ref["test statistic"])
    assert row["p_value"] == pytest.approx(ref["p-value"])
    assert (row["n_samples"], row["n_groups"]) == (36, 3)
    f = ref["test statistic"]
    assert row["r2"] == pytest.approx(f * 2 / (f * 2 + 33))
    # Every variable of the sheet but the IDs is tested; Subject is the patient column.
    assert set(rows["variable"]) == {"Study.Group", "Age", "Gender"}
    for name in ("alpha.tsv", "alpha.rarefied.tsv", "excluded.tsv", "parameters.json"):
        assert (out / name).is_file()
    assert (out / "figures" / "pcoa_braycurtis_Study.Group.svg").is_file()
    assert (out / "figures" / "alpha_shannon_ln_Study.Group.png").is_file()


def test_unknown_variable_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(
        ["diversity", "--table", str(KIM_TABLE), "--metadata", str(KIM_METADATA)]
        + ["--outdir", str(tmp_path), "--variables", "Diagnosis", "--no-figures"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("microbiome: error: variable 'Diagnosis' is not a column")


def test_table_without_counts_is_one_line_and_exit_1(tmp_path, capsys):
    table = tmp_path / "empty.tsv"
    table.write_text("sample_id\ttaxonA\ttaxonB\nS1\t0\t0\nS2\t0\t0\n")
    code = main(["diversity", "--table", str(table), "--outdir", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    errors = [line for line in err if line.startswith("microbiome: error:")]
    assert len(errors) == 1 and "empty.tsv" in errors[0] and "no sample has any counts" in errors[0]
    assert "sample S1 has no counts" in err[0]  # the exclusions are logged first


def write_status(path, rows):
    """A sample status table as `microbiome sample-status` writes it (issue 14's contract)."""
    header = (
        "sample_id\tqc_verdict\tqc_reason\tcoverage_verdict\tcoverage_reason\t"
        "classified_percent\tspecies_percent\texcluded\texclusion_reason\n"
    )
    lines = [
        f"{sample}\tPASS\t\t{'FAIL' if excluded == 'yes' else 'PASS'}\t{reason}\t3.1\t2.0\t"
        f"{excluded}\t{reason}\n"
        for sample, excluded, reason in rows
    ]
    path.write_text(header + "".join(lines))
    return path


def test_exclude_leaves_failed_samples_out_and_says_why(tmp_path, capsys):
    reason = "coverage FAIL: 3.1 % of reads classified (below 20 %)"
    status = write_status(
        tmp_path / "status.tsv",
        [("A001", "yes", reason), ("A002", "no", ""), ("Z999", "yes", "not in the table")],
    )
    out = tmp_path / "div"
    args = ["diversity", "--table", str(KIM_TABLE), "--metadata", str(KIM_METADATA)]
    args += ["--outdir", str(out), "--variables", "Study.Group", "--no-figures"]
    assert main([*args, "--permutations", "19", "--exclude", str(status)]) == 0
    err = capsys.readouterr().err
    assert "1 samples excluded by the sample status" in err and f"A001 ({reason})" in err
    excluded = pd.read_csv(out / "excluded.tsv", sep="\t")
    assert excluded.to_dict("list") == {
        "sample_id": ["A001"],
        "reason": [f"excluded by the sample status: {reason}"],
    }
    alpha = pd.read_csv(out / "alpha.tsv", sep="\t")
    assert "A001" not in set(alpha["sample_id"]) and "A002" in set(alpha["sample_id"])
    assert len(alpha) == 35
    permanova = pd.read_csv(out / "tests" / "permanova.tsv", sep="\t")
    assert set(permanova["n_samples"]) == {35}
    # progress lines only when asked for (stderr is not a terminal here)
    assert "progress:" not in err
    assert main([*args, "--permutations", "19", "--progress", "-q"]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "progress:" in x]
    assert lines[0].startswith("microbiome: progress: diversity: 0/")
    assert lines[-1].endswith(", done") and "steps (100 %)" in lines[-1]


def test_bad_status_table_is_one_line(tmp_path, capsys):
    status = write_status(tmp_path / "status.tsv", [("A001", "maybe", "")])
    args = ["diversity", "--table", str(KIM_TABLE), "--outdir", str(tmp_path / "o")]
    assert main([*args, "--exclude", str(status), "--no-figures"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"microbiome: error: {status}, line 2, column excluded: 'maybe' is not one of yes, no"
    )
    assert not (tmp_path / "o").exists()
