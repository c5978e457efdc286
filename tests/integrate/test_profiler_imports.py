"""Importing other profilers' outputs, checked against the files' own numbers."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from conftest import TEST_DATA

from microbiome.cli.main import main
from microbiome.errors import ConfigError, InputError
from microbiome.io.feature_table import read_feature_table
from microbiome.io.profiler_imports import detect_profiler, import_profiles
from microbiome.profile.writers import read_kraken_report

OUT = TEST_DATA / "profiler_outputs"
KRAKEN = sorted(OUT.glob("kraken2__*.report.txt.gz"))
BRACKEN = sorted(OUT.glob("bracken__*_S.tsv.gz"))
METAPHLAN = sorted(OUT.glob("metaphlan__*.txt.gz"))
MOTUS = sorted(OUT.glob("motus__*.out"))


def test_formats_are_detected():
    for files, kind in (
        (KRAKEN, "kraken2"),
        (BRACKEN, "bracken"),
        (METAPHLAN, "metaphlan"),
        (MOTUS, "motus"),
    ):
        assert files
        assert {detect_profiler(f) for f in files} == {kind}
    with pytest.raises(InputError, match="not a profiler output"):
        detect_profiler(TEST_DATA / "metadata" / "clinical.tsv")


@pytest.mark.parametrize("rank", ["species", "genus"])
def test_kraken2_reports_give_clade_reads(rank):
    table = import_profiles(KRAKEN, rank=rank)
    code = {"species": "S", "genus": "G"}[rank]
    assert not table.relative
    for path, sample in zip(KRAKEN, table.data.index, strict=True):
        report = read_kraken_report(path)
        rows = report[report["rank_code"] == code]
        expected = dict(
            zip(rows["taxid"].astype(str), rows["clade_reads"].astype(float), strict=True)
        )
        got = table.data.loc[sample]
        assert {k: v for k, v in got.items() if v > 0} == expected
    human = table.features.loc["9606" if rank == "species" else "9605", "lineage"]
    assert human.endswith("s__Homo sapiens" if rank == "species" else "g__Homo")


def test_bracken_tables_give_new_estimated_reads():
    table = import_profiles(BRACKEN, rank="species")
    for path, sample in zip(BRACKEN, table.data.index, strict=True):
        source = pd.read_csv(path, sep="\t", dtype={"taxonomy_id": str})
        assert (
            table.data.loc[sample, source["taxonomy_id"]].tolist()
            == source["new_est_reads"].astype(float).tolist()
        )
    with pytest.raises(ConfigError, match="at rank species"):
        import_profiles(BRACKEN, rank="genus")


def test_metaphlan_profiles_at_a_rank():
    table = import_profiles(METAPHLAN, rank="genus")
    assert table.relative
    with gzip.open(METAPHLAN[0], "rt") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    genera = {r[1].split("|")[-1]: float(r[2]) for r in rows if r[0].split("|")[-1][:3] == "g__"}
    sample = table.data.index[0]
    assert {k: v for k, v in table.data.loc[sample].items() if v > 0} == genera
    assert table.features.loc["2335", "lineage"].startswith("k__Bacteria;p__Thermotogae;")


def test_motus_and_a_round_trip_through_our_table_format(tmp_path):
    out = tmp_path / "motus.tsv"
    assert (
        main(
            [
                "import-profiles",
                str(MOTUS[0]),
                "--rank",
                "species",
                "--sample-ids",
                "S1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    table = read_feature_table(out)
    source = pd.read_csv(MOTUS[0], sep="\t", comment=None, skiprows=2)
    nonzero = source[source.iloc[:, 2] > 0]
    assert table.samples == ["S1"]
    assert table.data.loc["S1"].sum() == pytest.approx(nonzero.iloc[:, 2].sum())
    assert len(table.data.columns) == len(nonzero)


def test_mixed_formats_and_repeated_samples_are_errors(tmp_path):
    with pytest.raises(InputError, match="different formats"):
        import_profiles([KRAKEN[0], BRACKEN[0]])
    with pytest.raises(InputError, match="also the sample of"):
        import_profiles([KRAKEN[0], KRAKEN[1]], sample_ids=["x", "x"])
    assert (
        main(
            [
                "import-profiles",
                str(KRAKEN[0]),
                "--rank",
                "order",
                "--format",
                "motus",
                "-o",
                str(tmp_path / "x.tsv"),
            ]
        )
        == 2
    )


def test_kraken2_reports_give_the_classified_fraction(tmp_path):
    """The reports' unclassified line gives classification_summary.tsv and the table's
    unclassified row; formats that do not say give NA."""
    out, summary, mqc = tmp_path / "t.tsv", tmp_path / "summary.tsv", tmp_path / "c_mqc.tsv"
    args = ["import-profiles", *map(str, KRAKEN), "-o", str(out), "--summary", str(summary)]
    assert main([*args, "--multiqc", str(mqc)]) == 0
    got = pd.read_csv(summary, sep="\t")
    assert list(got.columns) == [
        "sample_id", "reads_total", "reads_classified", "classified_percent",
        "reads_species", "species_percent",
    ]  # fmt: skip
    for path, row in zip(KRAKEN, got.itertuples(), strict=True):
        report = read_kraken_report(path)
        unclassified = int(report.loc[report["taxid"] == 0, "clade_reads"].sum())
        classified = int(report.loc[report["taxid"] == 1, "clade_reads"].sum())
        species = int(report.loc[report["rank_code"] == "S", "clade_reads"].sum())
        assert (row.reads_total, row.reads_classified) == (unclassified + classified, classified)
        assert row.classified_percent == pytest.approx(
            100 * classified / (unclassified + classified), abs=1e-3
        )
        assert row.reads_species == species
    assert got["classified_percent"].max() < 1  # these real reports: 99.98 % unclassified
    assert "% classified" in mqc.read_text()
    table = read_feature_table(out)
    assert "0" not in table.data.columns
    assert table.unclassified.tolist() == (got["reads_total"] - got["reads_classified"]).tolist()
    # a Bracken table does not say how many reads went unclassified
    assert main(["import-profiles", *map(str, BRACKEN), "--summary", str(summary)]) == 0
    bracken = pd.read_csv(summary, sep="\t")
    assert len(bracken) == len(BRACKEN) and bracken.iloc[:, 1:].isna().all().all()
