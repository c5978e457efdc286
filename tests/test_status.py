"""Each sample's status (microbiome.status, `microbiome sample-status`): the QC and coverage
verdicts at their thresholds, NA when an input is absent, the exclusion, the status table's
contract, and one-line errors for bad input. Fixtures follow the issue-14 interface (File 1:
classification_summary.tsv; File 2: sample_status.tsv)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from microbiome.cli.main import main
from microbiome.errors import ConfigError, InputError
from microbiome.profile.summary import SUMMARY_COLUMNS
from microbiome.status import (
    STATUS_COLUMNS,
    coverage_verdicts,
    left_out,
    qc_verdicts,
    read_exclusions,
    read_status,
    sample_status,
)

THRESHOLDS = {
    "min_reads_fail": 1000,
    "min_reads_warn": 5000,
    "max_host_percent_warn": 10,
    "max_host_percent_fail": 50,
    "max_removed_percent_warn": 30,
    "max_removed_percent_fail": 60,
}


def qc_row(reads_out, kept, host):
    return {"reads_out": reads_out, "kept_read_percent": kept, "host_read_percent": host}


@pytest.mark.parametrize(
    "row, verdict, words",
    [
        (qc_row(5000, 100.0, 0.0), "PASS", ""),
        (qc_row(4999, 100.0, 0.0), "WARN", "recommended minimum 5,000"),
        (qc_row(999, 100.0, 0.0), "FAIL", "999 clean reads (minimum 1,000)"),
        (qc_row(10_000, 85.0, 10.5), "WARN", "10.5 % human (host) reads"),
        (qc_row(10_000, 49.0, 50.5), "FAIL", "50.5 % human (host) reads (maximum 50 %)"),
        (qc_row(10_000, 39.0, 0.0), "FAIL", "61.0 % of reads removed by QC"),
        (qc_row(4000, 69.0, 0.0), "WARN", "31.0 % of reads removed"),
    ],
)
def test_qc_verdicts_at_the_thresholds(row, verdict, words):
    got = qc_verdicts(pd.DataFrame([row], index=["s"]), THRESHOLDS)
    assert got.loc["s", "qc_verdict"] == verdict
    assert words in got.loc["s", "qc_reason"]
    if verdict == "PASS":
        assert got.loc["s", "qc_reason"] == ""  # the interface: empty for PASS


def test_qc_verdicts_worst_wins_and_every_reason_is_given():
    got = qc_verdicts(pd.DataFrame([qc_row(500, 80.0, 15.0)], index=["s"]), THRESHOLDS)
    assert got.loc["s", "qc_verdict"] == "FAIL"
    assert "500 clean reads" in got.loc["s", "qc_reason"]
    assert "15.0 % human" in got.loc["s", "qc_reason"]


def test_qc_thresholds_the_wrong_way_round_are_a_config_error():
    with pytest.raises(ConfigError, match="min_reads_warn"):
        qc_verdicts(pd.DataFrame([qc_row(1, 1, 1)]), THRESHOLDS | {"min_reads_warn": 10})
    with pytest.raises(ConfigError, match="max_host_percent_fail"):
        qc_verdicts(pd.DataFrame([qc_row(1, 1, 1)]), THRESHOLDS | {"max_host_percent_fail": 5})


def classification(rows: dict[str, tuple]) -> pd.DataFrame:
    """A classification summary: sample -> (reads_total, reads_classified, reads_species)."""
    table = pd.DataFrame(
        [
            (s, total, cls, 100 * cls / total if total else float("nan"), sp,
             100 * sp / total if total else float("nan"))
            for s, (total, cls, sp) in rows.items()
        ],
        columns=list(SUMMARY_COLUMNS),
    )  # fmt: skip
    return table.set_index("sample_id")


@pytest.mark.parametrize(
    "classified, verdict, reason",
    [
        (5000, "PASS", ""),
        (
            4999,
            "WARN",
            "49.99 % of reads classified (4,999 of 10,000; below 50 %): the "
            "reference database does not cover this sample well",
        ),  # fmt: skip
        (2000, "WARN", "20.0 % of reads classified (2,000 of 10,000; below 50 %)"),
        (
            1999,
            "FAIL",
            "19.99 % of reads classified (1,999 of 10,000; below 20 %): the "
            "reference database does not cover this sample",
        ),  # fmt: skip
        (360, "FAIL", "3.6 % of reads classified (360 of 10,000; below 20 %)"),
        (11, "FAIL", "0.11 % of reads classified (11 of 10,000; below 20 %)"),
    ],
)
def test_coverage_verdicts_at_the_default_thresholds(classified, verdict, reason):
    got = coverage_verdicts(classification({"s": (10_000, classified, classified)}))
    assert got.loc["s", "coverage_verdict"] == verdict
    assert reason in got.loc["s", "coverage_reason"]
    if verdict == "PASS":
        assert got.loc["s", "coverage_reason"] == ""


def test_coverage_thresholds_come_from_the_config_and_are_checked():
    table = classification({"s": (100, 60, 50)})
    limits = {"warn_classified_percent": 70, "fail_classified_percent": 65}
    assert coverage_verdicts(table, limits).loc["s", "coverage_verdict"] == "FAIL"
    with pytest.raises(ConfigError, match="fail <= warn"):
        coverage_verdicts(table, {"warn_classified_percent": 10, "fail_classified_percent": 20})


def test_qc_and_coverage_are_separate_verdicts():
    """P03 of the demo: QC keeps 98 % of its reads, the database classifies 0.2 % of them: the
    coverage fails, the sample quality does not, and the exclusion says which."""
    qc = pd.DataFrame([qc_row(9800, 98.0, 0.0)], index=["P03"])
    status = sample_status(
        qc=qc,
        classification=classification({"P03": (9800, 20, 11)}),
        qc_thresholds=THRESHOLDS,
    )
    row = status.loc["P03"]
    assert (row["qc_verdict"], row["qc_reason"]) == ("PASS", "")
    assert row["coverage_verdict"] == "FAIL"
    assert row["excluded"] == "yes"
    assert row["exclusion_reason"].startswith("profiling coverage failed: 0.2 % of reads")
    assert "quality" not in row["exclusion_reason"]
    assert "no reads were classified" not in row["exclusion_reason"]


def test_absent_inputs_give_na_verdicts_not_warnings():
    """Tables mode: no QC summary, no classification summary: both verdicts NA ('not
    available'), nobody excluded."""
    status = sample_status(samples=["a", "b"], qc_thresholds=THRESHOLDS)
    assert list(status.columns) == list(STATUS_COLUMNS[1:])
    assert (status["qc_verdict"] == "NA").all() and (status["coverage_verdict"] == "NA").all()
    assert status["qc_reason"].str.startswith("not available").all()
    assert (status["excluded"] == "no").all()
    assert not status["qc_reason"].str.contains("WARN").any()


def test_samples_known_to_one_input_only_are_kept_with_na():
    status = sample_status(
        qc=pd.DataFrame([qc_row(9000, 90.0, 1.0)], index=["a"]),
        classification=classification({"b": (1000, 900, 800)}),
        qc_thresholds=THRESHOLDS,
    )
    assert status.index.tolist() == ["a", "b"]
    assert status.loc["a", "coverage_verdict"] == "NA"
    assert status.loc["b", "qc_verdict"] == "NA"
    assert status.loc["b", "qc_reason"] == "not available: no QC record for this sample"


def test_an_empty_profile_fails_coverage_with_what_is_known():
    """A sample whose reads all fell below the species minimum: the taxa table holds nothing
    for it; the status says so, as coverage, never as 'no reads were classified' under QC."""
    status = sample_status(
        qc=pd.DataFrame([qc_row(9000, 90.0, 1.0), qc_row(9000, 90.0, 1.0)], index=["se", "x"]),
        classification=classification({"se": (2458, 1500, 11), "x": (1000, 900, 800)}),
        empty=["se"],
        qc_thresholds=THRESHOLDS,
    )
    assert status.loc["se", "qc_verdict"] == "PASS"
    assert status.loc["se", "coverage_verdict"] == "FAIL"
    assert status.loc["se", "coverage_reason"] == (
        "no reads in the taxa profile: no taxon reached the profiler's minimum read count "
        "(61.0 % of reads classified)"
    )
    assert status.index[status["excluded"] == "yes"].tolist() == ["se"]


def test_no_reads_to_classify_fails_coverage():
    status = sample_status(
        classification=classification({"z": (0, 0, 0)}), qc_thresholds=THRESHOLDS
    )
    assert status.loc["z", "coverage_verdict"] == "FAIL"
    assert "no reads were left to classify" in status.loc["z", "coverage_reason"]


# --------------------------------------------------------------------------------------------
# The command line and the file contract
# --------------------------------------------------------------------------------------------


def write_inputs(folder: Path) -> dict[str, Path]:
    qc = pd.DataFrame(
        {
            "sample_id": ["ok", "lowcov", "bad", "warn"],
            "layout": "paired",
            "reads_in": [10_000, 10_000, 10_000, 10_000],
            "reads_out": [9_500, 9_800, 500, 9_000],
            "kept_read_percent": [95.0, 98.0, 5.0, 90.0],
            "host_read_percent": [0.5, 0.1, 1.0, 0.2],
        }
    )
    paths = {"qc": folder / "qc_summary.tsv", "cls": folder / "classification_summary.tsv"}
    qc.to_csv(paths["qc"], sep="\t", index=False)
    cls = classification(
        {"ok": (9500, 9000, 8000), "lowcov": (9800, 350, 300), "bad": (500, 450, 400),
         "warn": (9000, 3000, 2500)}
    ).reset_index()  # fmt: skip
    cls.to_csv(paths["cls"], sep="\t", index=False, na_rep="NA")
    taxa = pd.DataFrame(
        {"taxid": ["853", "0"], "name": ["Faecalibacterium prausnitzii", "unclassified"],
         "lineage": ["k__Bacteria;s__Faecalibacterium prausnitzii", ""],
         "ok": [9000, 500], "lowcov": [350, 9450], "bad": [450, 50], "warn": [3000, 6000],
         "extra": [0, 100]}
    )  # fmt: skip
    paths["taxa"] = folder / "species.counts.tsv"
    taxa.to_csv(paths["taxa"], sep="\t", index=False)
    config = folder / "config.yaml"
    config.write_text("report:\n  qc: {min_reads_fail: 1000, min_reads_warn: 5000}\n")
    paths["config"] = config
    return paths


def test_cli_writes_the_status_table_of_the_interface(tmp_path, capsys):
    paths = write_inputs(tmp_path)
    out = tmp_path / "tables" / "sample_status.tsv"
    args = ["sample-status", "--qc", str(paths["qc"]), "--classification", str(paths["cls"]),
            "--taxa", str(paths["taxa"]), "--config", str(paths["config"]),
            "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    text = out.read_text()
    # the interface's columns, written out (not the code's own constant)
    assert text.splitlines()[0].split("\t") == [
        "sample_id", "qc_verdict", "qc_reason", "coverage_verdict", "coverage_reason",
        "classified_percent", "species_percent", "excluded", "exclusion_reason",
    ]  # fmt: skip
    table = pd.read_csv(out, sep="\t", index_col=0, keep_default_na=False)
    assert table.index.tolist() == ["ok", "lowcov", "bad", "warn", "extra"]
    assert table["qc_verdict"].tolist() == ["PASS", "PASS", "FAIL", "PASS", "NA"]
    assert table["coverage_verdict"].tolist() == ["PASS", "FAIL", "PASS", "WARN", "FAIL"]
    assert table["excluded"].tolist() == ["no", "yes", "yes", "no", "yes"]
    assert table.loc["lowcov", "exclusion_reason"] == (
        "profiling coverage failed: 3.6 % of reads classified (350 of 9,800; below 20 %): the "
        "reference database does not cover this sample"
    )
    assert table.loc["bad", "exclusion_reason"].startswith(
        "sample quality failed: 500 clean reads (minimum 1,000)"
    )
    # 'extra' has only the unclassified entry in the taxa table: no reads in the profile
    assert table.loc["extra", "coverage_reason"].startswith("no reads in the taxa profile")
    assert table.loc["ok", "classified_percent"] == "94.74"
    assert table.loc["extra", "classified_percent"] == "NA"
    # read back by the library, the same verdicts
    back = read_status(out)
    assert back.loc["extra", "qc_verdict"] == "NA" and back.loc["ok", "qc_reason"] == ""
    err = capsys.readouterr().err
    assert "sample lowcov is excluded: profiling coverage failed" in err


def test_cli_in_tables_mode_needs_only_the_taxa(tmp_path):
    paths = write_inputs(tmp_path)
    out = tmp_path / "sample_status.tsv"
    assert main(["sample-status", "--taxa", str(paths["taxa"]), "-o", str(out)]) == 0
    table = read_status(out)
    assert (table["qc_verdict"] == "NA").all()
    assert table.loc["ok", "qc_reason"] == "not available: QC was not run"
    # without a classification summary, the taxa table's unclassified row gives the classified
    # share, as the report derives it: lowcov 350 of 9,800 reads in taxa
    assert table["coverage_verdict"].tolist() == ["PASS", "FAIL", "PASS", "WARN", "FAIL"]
    assert table.loc["lowcov", "classified_percent"] == pytest.approx(100 * 350 / 9800, 1e-3)
    assert table["excluded"].tolist() == ["no", "yes", "no", "no", "yes"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("\t9000\t", "\tmany\t", 1), "column reads_classified: not a number"),
        (lambda t: t.replace("lowcov\t", "ok\t", 1), "line 3: duplicated sample ID 'ok'"),
        (lambda t: t.replace("94.73", "194.73", 1), "column classified_percent: 194.7"),
        (lambda t: t.replace("reads_species", "species_reads"), "missing column(s) reads_species"),
    ],
)  # fmt: skip
def test_bad_classification_summary_is_a_one_line_error(tmp_path, capsys, edit, message):
    paths = write_inputs(tmp_path)
    paths["cls"].write_text(edit(paths["cls"].read_text()))
    out = tmp_path / "status.tsv"
    code = main(["sample-status", "--classification", str(paths["cls"]), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"microbiome: error: {paths['cls']}")
    assert message in err[0]
    assert not out.exists() and not list(tmp_path.glob(".status.tsv.*"))


def test_cli_without_any_input_is_a_usage_error(tmp_path, capsys):
    assert main(["sample-status", "-o", str(tmp_path / "s.tsv")]) == 2
    assert "give at least one of --qc, --classification and --taxa" in capsys.readouterr().err


def test_bad_coverage_limits_are_a_config_error(tmp_path, capsys):
    paths = write_inputs(tmp_path)
    paths["config"].write_text(
        "report:\n  coverage: {warn_classified_percent: 10, fail_classified_percent: 30}\n"
    )
    args = ["sample-status", "--taxa", str(paths["taxa"]), "--config", str(paths["config"]),
            "-o", str(tmp_path / "s.tsv")]  # fmt: skip
    assert main(args) == 2
    assert "must satisfy 0 <= fail <= warn <= 100" in capsys.readouterr().err


def test_sample_ids_that_look_like_numbers_stay_as_written(tmp_path):
    """'001' and '1e3' are valid sample IDs: the status table must not read them as numbers,
    or the samples it excludes would be kept under another name."""
    path = tmp_path / "status.tsv"
    rows = [("001", "yes", "low reads"), ("1e3", "no", ""), ("1", "no", ""), ("x", "yes", "")]
    path.write_text(
        "\t".join(STATUS_COLUMNS) + "\n"
        + "".join(f"{s}\tPASS\t\tNA\t\tNA\tNA\t{e}\t{r}\n" for s, e, r in rows)
    )  # fmt: skip
    assert read_status(path).index.tolist() == ["001", "1e3", "1", "x"]
    # an empty reason (a hand edit) is said to be empty, not the generic note twice over
    assert read_exclusions(path) == {"001": "low reads", "x": "no reason given"}


def test_left_out_says_why_once_and_names_the_table_when_nothing_is_left(caplog, monkeypatch):
    # the command line's logging setup stops propagation; caplog listens at the root
    monkeypatch.setattr(logging.getLogger("microbiome"), "propagate", True)
    assert left_out(["a", "b", "c"], {"b": "low reads", "z": "not here"}) == ["b"]
    assert (
        "1 samples excluded by the sample status" in caplog.text and "b (low reads)" in caplog.text
    )
    assert left_out(["a"], None) == [] and left_out(["a"], {}) == []
    with pytest.raises(InputError, match="every sample is excluded by the sample status") as err:
        left_out(["a", "b"], {"a": "x", "b": "y"}, file="clinical.tsv")
    assert str(err.value).startswith("clinical.tsv: ")
