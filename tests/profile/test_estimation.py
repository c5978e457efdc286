"""Abundance estimation wired into the database and `microbiome classify`: the k-mer distribution
stored at build time, estimates against the simulated truth, and reads stopped above species
pushed down to species."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import READS, TEST_DATA

from microbiome.cli.main import main
from microbiome.profile.abundance import kmer_distribution
from microbiome.profile.classify import classify_reads, classify_sequences
from microbiome.profile.database import FORMAT_VERSION, build_database, load_database
from microbiome.profile.merge import read_rank_table
from microbiome.profile.writers import read_kraken_report

REFERENCES = TEST_DATA / "references"
TAXDUMP = TEST_DATA / "taxonomy"
SAMPLES = ("sim01", "sim02", "sim03", "sim04")


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("estimation") / "refs.mbdb"
    build_database([REFERENCES], TAXDUMP, REFERENCES / "genomes.tsv", out, threads=2)
    return out


def reference(name: str) -> str:
    with gzip.open(REFERENCES / f"{name}.fna.gz", "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">"))


def test_distribution_is_stored_under_the_checksum(db_path):
    db = load_database(db_path)
    assert db.header["format_version"] == FORMAT_VERSION == 3
    meta = db.header["kmer_distribution"]
    assert (meta["read_length"], meta["step"], meta["species"]) == (150, 15, 13)
    dist = db.kmer_distribution()
    assert set(dist) == {g.taxid for g in db.genomes}
    for row in dist.values():
        assert sum(row.values()) == pytest.approx(1.0)
    # The stored distribution is what classifying the windows gives.
    coli = {562: [reference("escherichia_coli")]}
    again = kmer_distribution(coli, lambda w: classify_sequences(db, w), read_length=150, step=15)
    assert again[562] == pytest.approx(dist[562])
    sizes = db.genome_sizes()
    assert sizes[562] == 150000 and sizes[817] == 79920


def test_classify_sequences_matches_classify_reads(tmp_path, db_path, threads):
    db = load_database(db_path)
    rng = np.random.default_rng(3)
    genome = reference("klebsiella_pneumoniae") + reference("escherichia_coli")
    starts = rng.integers(0, len(genome) - 150, size=500)
    windows = [genome[s : s + int(rng.integers(20, 150))] for s in starts] + ["N" * 60, ""]
    fasta = tmp_path / "w.fa"
    fasta.write_text("".join(f">w{i}\n{w}\n" for i, w in enumerate(windows)))
    expected = classify_reads(db, fasta, threads=threads)
    got = classify_sequences(db, windows, threads=threads)
    assert got.direct_counts == expected.direct_counts
    assert got.total_reads == len(windows) == expected.total_reads


def truth_fractions(sample: str, db) -> dict[int, float]:
    """True read fractions over the species of the database (human reads left out)."""
    truth = pd.read_csv(TEST_DATA / "truth" / f"{sample}.profile.tsv", sep="\t")
    truth = truth[truth["taxid"].isin({g.taxid for g in db.genomes})]
    return dict(zip(truth["taxid"], truth["n_pairs"] / truth["n_pairs"].sum(), strict=True))


def species_abundance(path) -> dict[int, float]:
    table = read_rank_table(path).taxa  # the unclassified rows left out
    species = table[table["rank"] == "species"]
    column = "abundance" if "abundance" in species else "fraction"
    return dict(zip(species["taxid"], species[column], strict=True))


def l1(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(abs(a.get(t, 0.0) - b.get(t, 0.0)) for t in set(a) | set(b))


# Measured: L1 = 0.0000 for every sample and both methods (the simulated reads come from the
# reference pieces themselves, and no two pieces share 31-mers); 0.02 leaves room for a change of
# the minimizer scheme without hiding a real regression (a lost species costs >= 0.06).
@pytest.mark.parametrize("method", ["bracken", "em"])
@pytest.mark.parametrize("sample", SAMPLES)
def test_estimated_species_fractions_are_close_to_the_truth(tmp_path, db_path, sample, method):
    out = tmp_path / f"{sample}.tsv"
    code = main(
        [
            "classify",
            "--db",
            str(db_path),
            "-1",
            str(READS / f"{sample}_R1.fastq.gz"),
            "-2",
            str(READS / f"{sample}_R2.fastq.gz"),
            "--report",
            str(tmp_path / "r.kreport"),
            "--tsv",
            str(out),
            "--cami",
            str(tmp_path / "c.cami"),
            "--abundance",
            method,
            "-q",
        ]
    )
    assert code == 0
    table = read_rank_table(out)
    assert table.metadata["method"] == method and table.metadata["abundance"] == "read"
    distance = l1(species_abundance(out), truth_fractions(sample, load_database(db_path)))
    assert distance < 0.02, f"{sample} {method}: L1 {distance:.4f}"


def test_cell_abundance_and_no_estimation(tmp_path, db_path):
    reads = [str(READS / "sim01_R1.fastq.gz"), str(READS / "sim01_R2.fastq.gz")]
    common = ["classify", "--db", str(db_path), "-1", reads[0], "-2", reads[1], "-q"]
    cell, none = tmp_path / "cell.tsv", tmp_path / "none.tsv"
    report = str(tmp_path / "r.kreport")
    assert main([*common, "--report", report, "--tsv", str(cell), "--abundance-type", "cell"]) == 0
    assert main([*common, "--report", report, "--tsv", str(none), "--abundance", "none"]) == 0
    assert read_rank_table(cell).metadata["abundance"] == "cell"
    assert read_rank_table(none).metadata["method"] == "classification"
    # B. fragilis has a 79,920 bp reference, the others about 150 kb: per genome copy, it has
    # about 1.9 times the share of its reads.
    got_cell, got_none = species_abundance(cell), species_abundance(none)
    assert got_cell[817] / got_cell[562] == pytest.approx(
        got_none[817] / got_none[562] * 150000 / 79920, rel=1e-6
    )


def test_reads_stopped_at_genus_are_redistributed(tmp_path, threads):
    """Two Enterococcus references that share 30 kb: reads from it stop at the genus."""
    faecalis, faecium = reference("enterococcus_faecalis"), reference("enterococcus_faecium")
    faecium += faecalis[:30000]
    fasta = tmp_path / "refs.fa"
    fasta.write_text(
        f">faecalis kraken:taxid|1351\n{faecalis}\n>faecium kraken:taxid|1352\n{faecium}\n"
    )
    db_file = tmp_path / "entero.mbdb"
    assert main(["db", "build", "--sequences", str(fasta), "--taxonomy", str(TAXDUMP),
                 "-t", str(threads), "-o", str(db_file), "-q"]) == 0  # fmt: skip
    rng = np.random.default_rng(7)
    truth = {1351: 400, 1352: 600}
    reads = []
    for taxid, genome in ((1351, faecalis), (1352, faecium)):
        for s in rng.integers(0, len(genome) - 150, size=truth[taxid]):
            reads.append(genome[s : s + 150])
    rng.shuffle(reads)
    sample = tmp_path / "reads.fa"
    sample.write_text("".join(f">r{i}\n{r}\n" for i, r in enumerate(reads)))
    out = {}
    for method in ("none", "bracken", "em"):
        out[method] = tmp_path / f"{method}.tsv"
        assert main(["classify", "--db", str(db_file), "-1", str(sample), "--abundance", method,
                     "--report", str(tmp_path / "r.kreport"), "--tsv", str(out[method]),
                     "-t", str(threads), "-q"]) == 0  # fmt: skip
    report = read_kraken_report(tmp_path / "r.kreport").set_index("taxid")
    at_genus = int(report.loc[1350, "direct_reads"])
    assert at_genus > 50  # about 20 % of faecalis' reads and 17 % of faecium's
    reads_none = read_rank_table(out["none"]).taxa.query("rank == 'species'")
    assert reads_none["reads"].sum() == 1000 - at_genus
    for method in ("bracken", "em"):
        table = read_rank_table(out[method])
        species = table.taxa.query("rank == 'species'").set_index("taxid")
        assert float(table.metadata["undistributed_reads"]) == 0
        assert species["reads"].sum() == pytest.approx(1000)
        for taxid, n in truth.items():
            assert species.loc[taxid, "reads"] == pytest.approx(n, rel=0.05), method
            assert species.loc[taxid, "abundance"] == pytest.approx(n / 1000, abs=0.03)


def test_old_database_format_asks_for_a_rebuild(tmp_path, db_path, capsys):
    import json
    import struct

    from microbiome.profile.database import MAGIC

    data = db_path.read_bytes()
    (size,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + size])
    header["format_version"] = 1
    text = json.dumps(header).encode()
    text += b" " * ((-(len(MAGIC) + 4 + len(text))) % 8)
    old = tmp_path / "old.mbdb"
    old.write_bytes(MAGIC + struct.pack("<I", len(text)) + text + data[len(MAGIC) + 4 + size :])
    assert main(["classify", "--db", str(old), "-1", str(READS / "sim01_R1.fastq.gz"),
                 "--report", str(tmp_path / "r")]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "format version 1 is not supported (expected 3): rebuild it" in err
    assert not (tmp_path / "r").exists()
