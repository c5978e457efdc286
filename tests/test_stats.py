"""Read statistics against a naive twin, across chunkings, formats and threads; seqkit as oracle."""

from __future__ import annotations

import gzip
import itertools
import shutil
import subprocess

import numpy as np
import pytest
from conftest import READS, random_records, write_fastq
from naive import naive_read_stats

from microbiome.stats import ReadStats, file_stats, paired_stats, sample_stats
from microbiome.stats._kernels import BASE_INDEX, accumulate_bases, accumulate_qualities

SCALARS = (
    "reads",
    "bases",
    "min_len",
    "max_len",
    "mean_len",
    "median_len",
    "q1_len",
    "q3_len",
    "n50",
    "gc_percent",
    "n_percent",
    "mean_quality",
    "q20_percent",
    "q30_percent",
)


def check_against_naive(stats: ReadStats, records) -> None:
    expected = naive_read_stats([(s, q) for _, s, q in records])
    summary = stats.summary()
    for key in SCALARS:
        assert summary[key] == pytest.approx(expected[key]), key
    means = np.bincount(expected["read_means"], minlength=94)
    assert stats.read_qual_hist.tolist() == means.tolist()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunk_bytes", [64, 997, 1 << 20])
def test_file_stats_match_naive(tmp_path, seed, chunk_bytes, threads):
    rng = np.random.default_rng(seed)
    records = random_records(rng, 300, min_len=1, max_len=250, alphabet="ACGTNacgtRY")
    path = write_fastq(tmp_path / "reads.fq.gz", records)
    stats = file_stats(path, chunk_bytes=chunk_bytes, threads=threads)
    check_against_naive(stats, records)


def test_edge_cases_single_base_and_all_n(tmp_path):
    records = [("a", "N", "!"), ("b", "NNNN", "~~~~"), ("c", "g", "5")]
    stats = file_stats(write_fastq(tmp_path / "r.fq", records))
    check_against_naive(stats, records)
    assert stats.summary()["gc_percent"] == 100.0
    assert stats.qual_hist[0] == 1 and stats.qual_hist[93] == 4


def test_kernels_match_plain_loops():
    rng = np.random.default_rng(3)
    seq = rng.choice(np.frombuffer(b"ACGTNacgtnRY", np.uint8), size=5000)
    counts = np.zeros(6, np.int64)
    assert accumulate_bases(seq, BASE_INDEX, counts) == -1
    text = seq.tobytes().decode().upper()
    assert counts.tolist() == [text.count(b) for b in "ACGTN"] + [text.count("R") + text.count("Y")]
    assert accumulate_bases(np.frombuffer(b"AC1T", np.uint8), BASE_INDEX, counts) == 2

    qual = rng.integers(33, 127, size=1000).astype(np.uint8)
    offsets = np.array([0, 10, 10, 500, 1000], np.int64)
    hist, read_hist = np.zeros(94, np.int64), np.zeros(94, np.int64)
    assert accumulate_qualities(qual, offsets, hist, read_hist) == -1
    assert hist.tolist() == np.bincount(qual - 33, minlength=94).tolist()
    means = [
        int((qual[a:b] - 33).astype(int).sum()) // (b - a)
        for a, b in itertools.pairwise(offsets)
        if b > a
    ]
    assert read_hist.tolist() == np.bincount(means, minlength=94).tolist()
    bad = qual.copy()
    bad[700] = 20
    assert accumulate_qualities(bad, offsets, hist, read_hist) == 700


def test_fasta_input_has_no_quality_figures(tmp_path):
    path = tmp_path / "r.fa"
    path.write_text(">a desc\nACGT\nNN\n>b\nGGC\n")
    summary = file_stats(path).summary()
    assert summary["reads"] == 2 and summary["bases"] == 9 and summary["max_len"] == 6
    assert summary["mean_quality"] is None and summary["q30_percent"] is None


def test_paired_stats_equal_separate_files(threads):
    r1, r2 = paired_stats(
        READS / "ERR878216_R1.fastq.gz",
        READS / "ERR878216_R2.fastq.gz",
        chunk_bytes=50_000,
        threads=threads,
    )
    assert r1.summary() == file_stats(READS / "ERR878216_R1.fastq.gz").summary()
    assert r2.summary() == file_stats(READS / "ERR878216_R2.fastq.gz").summary()
    assert r1.reads == r2.reads == 10_000


def _bam(path, records, paired):
    pysam = pytest.importorskip("pysam")
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for name, seq, qual in records:
            mates = (1, 2) if paired else (0,)
            for mate in mates:
                a = pysam.AlignedSegment()
                a.query_name = name
                a.query_sequence = seq
                a.query_qualities = pysam.qualitystring_to_array(qual)
                a.flag = 4 | (1 | 8 | (64 if mate == 1 else 128) if mate else 0)
                out.write(a)


def test_unaligned_bam_single_and_interleaved(tmp_path):
    rng = np.random.default_rng(11)
    records = random_records(rng, 120, min_len=20, max_len=120, alphabet="ACGT")
    _bam(tmp_path / "se.bam", records, paired=False)
    single = sample_stats("s", tmp_path / "se.bam")
    assert single["layout"] == "single"
    fastq = file_stats(write_fastq(tmp_path / "se.fq", records)).summary()
    assert single["files"][0]["reads"] == 120
    assert {k: single["files"][0][k] for k in SCALARS} == fastq

    _bam(tmp_path / "pe.bam", records, paired=True)
    paired = sample_stats("p", tmp_path / "pe.bam")
    assert paired["layout"] == "paired" and paired["pairs"] == 120
    assert [f["mate"] for f in paired["files"]] == ["R1", "R2"]
    assert {k: paired["files"][1][k] for k in SCALARS} == fastq


seqkit = shutil.which("seqkit")


@pytest.mark.skipif(seqkit is None, reason="seqkit not installed (Debian package 'seqkit')")
@pytest.mark.parametrize(
    "name", ["ERR878216_R1.fastq.gz", "SRR514303_SE.fastq.gz", "sim04_R2.fastq.gz"]
)
def test_agrees_with_seqkit(name):
    path = READS / name
    out = subprocess.run(
        [seqkit, "stats", "-a", "-T", str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    row = dict(zip(out[0].split("\t"), out[1].split("\t"), strict=True))
    ours = file_stats(path)
    summary = ours.summary()
    assert summary["reads"] == int(row["num_seqs"])
    assert summary["bases"] == int(row["sum_len"])
    assert summary["min_len"] == int(row["min_len"]) and summary["max_len"] == int(row["max_len"])
    assert summary["n50"] == int(row["N50"])
    assert summary["q20_percent"] == pytest.approx(float(row["Q20(%)"]), abs=0.01)
    assert summary["q30_percent"] == pytest.approx(float(row["Q30(%)"]), abs=0.01)
    # seqkit divides G+C by all bases, N included; we divide by A+C+G+T.
    a, c, g, t, n, other = ours.base_counts.tolist()
    assert 100 * (g + c) / (a + c + g + t + n + other) == pytest.approx(
        float(row["GC(%)"]), abs=0.01
    )


def test_gzip_and_plain_give_the_same(tmp_path):
    plain = tmp_path / "r.fq"
    with gzip.open(READS / "SRR514303_SE.fastq.gz", "rb") as f:
        plain.write_bytes(f.read())
    assert file_stats(plain).to_dict() | {"file": ""} == file_stats(
        READS / "SRR514303_SE.fastq.gz"
    ).to_dict() | {"file": ""}
