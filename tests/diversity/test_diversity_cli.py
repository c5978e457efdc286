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
