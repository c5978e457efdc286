"""The Kraken 2 backend: a report becomes a classification and a taxonomy; a real kraken2 run on a
tiny database built from test_data/references feeds the same rank tables and merged tables."""

from __future__ import annotations

import gzip
import subprocess

import pandas as pd
import pytest
from conftest import KRAKEN2, READS, TEST_DATA, kraken2_database

from microbiome.cli.main import main
from microbiome.profile.merge import merge_profiles, read_rank_table
from microbiome.profile.writers import (
    classification_from_kraken_report,
    read_kraken_report,
    write_kraken_report,
)

REFERENCES = TEST_DATA / "references"
needs_kraken2 = pytest.mark.skipif(
    not KRAKEN2, reason="kraken2 is not installed (Debian: apt-get install kraken2)"
)


@pytest.mark.parametrize(
    "path",
    sorted((TEST_DATA / "profiler_outputs").glob("kraken2__*")),
    ids=lambda p: p.name.split("__")[1][:20],
)
def test_report_round_trip(path, tmp_path):
    """Read a real Kraken 2 report into a classification + taxonomy and write it back."""
    classification, taxonomy = classification_from_kraken_report(path)
    original = read_kraken_report(path)
    assert classification.total_reads == original["direct_reads"].sum()
    assert classification.unclassified == int(original.iloc[0]["direct_reads"])
    out = tmp_path / "again.kreport"
    write_kraken_report(out, classification, taxonomy)
    with gzip.open(path, "rt") as f:
        assert out.read_text() == f.read()


def test_classify_import_carries_the_classified_fraction(tmp_path):
    """profiler: kraken2: the report's unclassified line reaches the rank table, the merged
    tables and classification_summary.tsv (a real report: 99.98 % unclassified)."""
    path = sorted((TEST_DATA / "profiler_outputs").glob("kraken2__*"))[0]
    report = read_kraken_report(path)
    unclassified = int(report.loc[report["taxid"] == 0, "clade_reads"].sum())
    total = int(report["direct_reads"].sum())
    species = int(report.loc[report["rank_code"] == "S", "clade_reads"].sum())
    tsv = tmp_path / "S1.tsv"
    args = ["classify-import", "--kraken-report", str(path), "-s", "S1", "--tsv", str(tsv)]
    assert main([*args, "--cami", str(tmp_path / "S1.cami")]) == 0
    table = read_rank_table(tsv)
    assert table.metadata["unclassified_reads"] == str(unclassified)
    assert float(table.metadata["classified_species_reads"]) == species
    written = merge_profiles([tsv], tmp_path / "tables", ranks=["species"])
    summary = pd.read_csv(written["summary"], sep="\t").iloc[0]
    assert summary["reads_total"] == total and summary["reads_species"] == species
    assert summary["classified_percent"] == pytest.approx(
        100 * (total - unclassified) / total, rel=1e-5
    )
    relative = pd.read_csv(written["species.relative"], sep="\t").set_index("taxid")
    assert relative.loc[0, "S1"] == pytest.approx(1 - species / total)  # no species for the rest
    assert relative["S1"].sum() == pytest.approx(1.0)
    cami = (tmp_path / "S1.cami").read_text()
    assert "# unclassified: 99.98" in cami


def test_bad_reports_name_the_file(tmp_path, capsys):
    skipped = tmp_path / "skipped.kreport"
    skipped.write_text(
        " 50.00\t1\t1\tU\t0\tunclassified\n 50.00\t1\t0\tR\t1\troot\n"
        " 50.00\t1\t1\tS\t562\t      Escherichia coli\n"
    )
    wrong = tmp_path / "wrong.kreport"
    wrong.write_text(
        " 50.00\t1\t1\tU\t0\tunclassified\n 50.00\t5\t0\tR\t1\troot\n"
        " 50.00\t1\t1\tD\t2\t  Bacteria\n"
    )
    for path, message in (
        (skipped, "taxid 562 (Escherichia coli) is indented 3 levels below the root"),
        (wrong, "taxid 1 (root) has 5 reads in its clade but its own and its children's add up"),
    ):
        out = tmp_path / "out.tsv"
        assert main(["classify-import", "--kraken-report", str(path), "--tsv", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"microbiome: error: {path}" in err and message in err
        assert not out.exists()


@pytest.fixture(scope="module")
def kraken2_db(tmp_path_factory):
    return kraken2_database(tmp_path_factory.mktemp("kraken2") / "db")


@needs_kraken2
def test_kraken2_reports_feed_the_same_tables(kraken2_db, tmp_path):
    tables = []
    for sample in ("sim01", "sim04"):
        report = tmp_path / f"{sample}.kreport"
        subprocess.run(
            ["kraken2", "--db", str(kraken2_db), "--threads", "2", "--paired",
             "--gzip-compressed", "--report", str(report), "--output", "-",
             str(READS / f"{sample}_R1.fastq.gz"), str(READS / f"{sample}_R2.fastq.gz")],
            check=True, capture_output=True,
        )  # fmt: skip
        tsv = tmp_path / f"{sample}.tsv"
        args = ["classify-import", "--kraken-report", str(report), "-s", sample]
        assert main([*args, "--tsv", str(tsv), "--cami", str(tmp_path / f"{sample}.cami")]) == 0
        table = read_rank_table(tsv)
        assert table.sample_id == sample and table.metadata["method"] == "classification"
        species = table.taxa.query("rank == 'species'")
        got = dict(zip(species["taxid"], species["fraction"], strict=True))
        truth = pd.read_csv(TEST_DATA / "truth" / f"{sample}.profile.tsv", sep="\t")
        truth = truth[truth["taxid"] != 9606]
        expected = dict(zip(truth["taxid"], truth["n_pairs"] / truth["n_pairs"].sum(), strict=True))
        distance = sum(abs(got.get(t, 0) - expected.get(t, 0)) for t in set(got) | set(expected))
        assert distance < 0.02, f"{sample}: L1 {distance:.4f}"  # measured 0.0000
        tables.append(tsv)
    written = merge_profiles(tables, tmp_path / "tables")
    merged = pd.read_csv(written["species.relative"], sep="\t")
    assert list(merged.columns[3:]) == ["sim01", "sim04"]
