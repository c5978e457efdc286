"""Counting files end to end: count files against naive counts, the file format, queries."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import READS, random_records, write_fastq
from naive import naive_count, naive_histogram, naive_unpack

from microbiome.errors import ConfigError, InputError
from microbiome.kmer.count import count_kmers
from microbiome.kmer.encoding import string_to_kmer
from microbiome.kmer.format import HEADER_BYTES, CountsFile
from microbiome.kmer.report import dump_lines, histogram, query


def _as_dict(table: CountsFile) -> dict[int, int]:
    return dict(zip(table.kmers.tolist(), table.counts.tolist(), strict=True))


@pytest.mark.parametrize("k", [1, 7, 21, 31])
def test_count_files_match_naive(tmp_path, threads, k):
    rng = np.random.default_rng(k)
    records = random_records(rng, 300, min_len=0 + 1, max_len=180, alphabet="ACGTNacgt")
    a = write_fastq(tmp_path / "a.fastq.gz", records[:200])
    b = write_fastq(tmp_path / "b.fastq", records[200:])
    out = tmp_path / "x.kmers"
    summary = count_kmers([a, b], out, k, threads=threads, chunk_bytes=4096)
    expected = naive_count([s for _, s, _ in records], k)
    table = CountsFile(out)
    assert _as_dict(table) == expected
    assert np.all(np.diff(table.kmers.astype(np.int64)) > 0) or len(table) < 2
    assert summary.distinct_kmers == len(expected) == table.header.distinct_kmers
    assert summary.total_kmers == sum(expected.values()) == table.header.total_kmers
    assert table.k == k and table.header.canonical


def test_min_count_filter(tmp_path, threads):
    rng = np.random.default_rng(2)
    records = random_records(rng, 200, min_len=20, max_len=60, alphabet="ACG")
    path = write_fastq(tmp_path / "r.fq", records)
    summary = count_kmers([path], tmp_path / "m.kmers", 5, threads=threads, min_count=4)
    expected = {km: c for km, c in naive_count([s for _, s, _ in records], 5).items() if c >= 4}
    table = CountsFile(tmp_path / "m.kmers")
    assert _as_dict(table) == expected
    assert summary.written_kmers == len(expected) and table.header.min_count == 4


def test_fasta_input(tmp_path):
    text = ">g1 genome\nACGTACGGTTAGC\nNNACGTTTGA\n>g2\nacgtacgatcga\n"
    (tmp_path / "g.fa").write_text(text)
    count_kmers([tmp_path / "g.fa"], tmp_path / "g.kmers", 4)
    expected = naive_count(["ACGTACGGTTAGCNNACGTTTGA", "acgtacgatcga"], 4)
    assert _as_dict(CountsFile(tmp_path / "g.kmers")) == expected


def test_bundled_reads_histogram_and_queries(tmp_path, threads):
    """The real (ERR878216) reads: counts, histogram and queries agree with a naive count."""
    path = READS / "ERR878216_R1.fastq.gz"
    with gzip.open(path, "rt") as f:
        seqs = [line.strip() for i, line in enumerate(f) if i % 4 == 1][:3000]
    small = write_fastq(tmp_path / "s.fq", [(f"r{i}", s, "I" * len(s)) for i, s in enumerate(seqs)])
    out = tmp_path / "s.kmers"
    count_kmers([small], out, 21, threads=threads)
    expected = naive_count(seqs, 21)
    assert _as_dict(CountsFile(out)) == expected
    c, n = histogram(out)
    assert list(zip(c.tolist(), n.tolist(), strict=True)) == naive_histogram(expected)
    some = list(expected.items())[:5]
    texts = [naive_unpack(km, 21) for km, _ in some]
    rc = [t[::-1].translate(str.maketrans("ACGT", "TGCA")) for t in texts]
    assert query(out, texts) == [c for _, c in some]
    assert query(out, [t.lower() for t in rc]) == [c for _, c in some]
    candidates = ("A" * 21, "C" * 21, "AC" * 10 + "G", "ACG" * 7)
    absent = next(t for t in candidates if string_to_kmer(t) not in expected)
    assert query(out, [absent]) == [0]
    dumped = b"".join(dump_lines(out)).decode()
    assert dumped.count("\n") == len(expected)


def test_empty_result_and_reads_shorter_than_k(tmp_path, threads):
    path = write_fastq(tmp_path / "short.fq", [("a", "ACGT", "IIII"), ("b", "NNNNNNNN", "I" * 8)])
    summary = count_kmers([path], tmp_path / "e.kmers", 5, threads=threads)
    table = CountsFile(tmp_path / "e.kmers")
    assert len(table) == 0 and summary.total_kmers == 0
    assert b"".join(dump_lines(tmp_path / "e.kmers")) == b""
    assert query(tmp_path / "e.kmers", ["ACGTA"]) == [0]
    assert (tmp_path / "e.kmers").stat().st_size == HEADER_BYTES


def test_bad_arguments_and_files(tmp_path):
    path = write_fastq(tmp_path / "r.fq", [("a", "ACGTACGT", "IIIIIIII")])
    with pytest.raises(ConfigError):
        count_kmers([path], tmp_path / "x.kmers", 32)
    with pytest.raises(ConfigError):
        count_kmers([path], tmp_path / "x.kmers", 5, min_count=0)
    with pytest.raises(InputError):
        count_kmers([tmp_path / "missing.fq"], tmp_path / "x.kmers", 5)
    assert not (tmp_path / "x.kmers").exists()  # nothing left under the final name
    assert not list(tmp_path.glob(".x.kmers*"))  # nor a temporary file
    count_kmers([path], tmp_path / "x.kmers", 5)
    with pytest.raises(ConfigError):
        query(tmp_path / "x.kmers", ["ACG"])  # wrong length
    (tmp_path / "bad.kmers").write_bytes(b"not a count file at all" * 4)
    with pytest.raises(InputError, match="bad magic"):
        CountsFile(tmp_path / "bad.kmers")
    data = (tmp_path / "x.kmers").read_bytes()
    (tmp_path / "cut.kmers").write_bytes(data[:-3])
    with pytest.raises(InputError, match="truncated"):
        CountsFile(tmp_path / "cut.kmers")
    future = bytearray(data)
    future[8] = 99
    (tmp_path / "v.kmers").write_bytes(bytes(future))
    with pytest.raises(InputError, match="version 99"):
        CountsFile(tmp_path / "v.kmers")
