"""QC kernels against their naive twins on fixed, random and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from naive import (
    naive_fragment_hash,
    naive_host_fraction,
    naive_minimizers,
    naive_trim_n_ends,
    naive_trimer_entropy,
)

from microbiome.kmer._kernels import ENCODE_TABLE
from microbiome.kmer.encoding import pack_reads
from microbiome.qc import _kernels
from microbiome.qc.host import build_host_index, load_host_index

EDGE = [
    "",
    "A",
    "AC",
    "ACG",
    "ACGT",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "ACACACACACACACACACACACACAC",
    "ACGACGACGACGACGACGACGACG",
    "NNNNNNNNNN",
    "ACGTNACGTNACGTN",
    "acgtacgtttgacgatcgatcg",
    "ACGTRYKMACGTACGTAGGCT",
]


def random_reads(seed: int, n: int = 60, alphabet: str = "ACGTN") -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(alphabet), size=int(rng.integers(0, 160)))) for _ in range(n)]


@pytest.mark.parametrize("reads", [EDGE, random_reads(1), random_reads(2, alphabet="ACGTacgtNRY")])
def test_trimer_entropy_matches_naive(reads):
    seq, offsets = pack_reads(reads)
    out = np.empty(len(reads))
    _kernels.trimer_entropy(seq, offsets, ENCODE_TABLE, out)
    assert out == pytest.approx([naive_trimer_entropy(r) for r in reads])


def test_entropy_separates_repeats_from_genomic_sequence():
    rng = np.random.default_rng(0)
    genomic = "".join(rng.choice(list("ACGT"), size=150))
    reads = ["A" * 150, "AC" * 75, "ACG" * 50, genomic]
    seq, offsets = pack_reads(reads)
    out = np.empty(4)
    _kernels.trimer_entropy(seq, offsets, ENCODE_TABLE, out)
    assert out[0] == 0 and out[1] == pytest.approx(1 / 6) and out[2] < 0.3 and out[3] > 0.9


@pytest.mark.parametrize("reads", [EDGE, random_reads(3, alphabet="ACGTNNNNn")])
def test_count_n_and_trim_n_ends_match_naive(reads):
    seq, offsets = pack_reads(reads)
    counts = np.empty(len(reads), np.int64)
    _kernels.count_n(seq, offsets, counts)
    assert counts.tolist() == [r.upper().count("N") for r in reads]
    lengths = np.diff(offsets)
    starts, ends = np.empty_like(lengths), np.empty_like(lengths)
    removed = _kernels.trim_n_ends(seq, offsets, lengths, starts, ends)
    expected = [naive_trim_n_ends(r) for r in reads]
    assert [(a - o, b - o) for a, b, o in zip(starts, ends, offsets[:-1], strict=True)] == expected
    assert removed == sum(len(r) - (b - a) for r, (a, b) in zip(reads, expected, strict=True))


def test_trim_n_ends_respects_the_trimmed_length():
    seq, offsets = pack_reads(["NNACGTNNACNN"])
    starts, ends = np.empty(1, np.int64), np.empty(1, np.int64)
    _kernels.trim_n_ends(seq, offsets, np.array([8]), starts, ends)  # 3' trimmed to NNACGTNN
    assert (starts[0], ends[0]) == (2, 6)


@pytest.mark.parametrize("paired", [False, True])
def test_fragment_hashes_match_naive(paired):
    reads1 = ["ACGT", "", "ACGT", "GGGTTT"] + random_reads(4, 20)
    reads2 = ["TT", "A", "TT", ""] + random_reads(5, 20)
    seq1, off1 = pack_reads(reads1)
    seq2, off2 = pack_reads(reads2)
    out = np.empty(len(reads1), np.uint64)
    _kernels.fragment_hashes(seq1, off1, seq2, off2, paired, out)
    expected = [
        naive_fragment_hash(a, b if paired else None) for a, b in zip(reads1, reads2, strict=True)
    ]
    assert out.tolist() == expected
    assert out[0] == out[2]


def test_format_fastq_and_gather_round_trip():
    reads = ["ACGT", "", "GGCCA"]
    seq, offsets = pack_reads(reads)
    qual = np.full(seq.shape, ord("I"), np.uint8)
    names, name_offsets = pack_reads(["r1 x", "r2", "r3"])
    keep = np.array([True, False, True])
    out = np.empty(100, np.uint8)
    n = _kernels.format_fastq(names, name_offsets, seq, qual, offsets, keep, out)
    assert out[:n].tobytes() == b"@r1 x\nACGT\n+\nIIII\n@r3\nGGCCA\n+\nIIIII\n"
    starts, ends = offsets[:-1] + 1, offsets[1:]
    seq_out, qual_out = np.empty(10, np.uint8), np.empty(10, np.uint8)
    off_out = np.empty(4, np.int64)
    k = _kernels.gather(seq, qual, starts, ends, keep, seq_out, qual_out, off_out)
    assert k == 2 and seq_out[: off_out[k]].tobytes() == b"CGTGCCA"


def test_host_index_hits_match_naive(tmp_path):
    rng = np.random.default_rng(9)
    host = "".join(rng.choice(list("ACGT"), size=3000))
    (tmp_path / "host.fa").write_text(f">h\n{host}\n")
    build_host_index([tmp_path / "host.fa"], tmp_path / "h.idx", l=21, w=5)
    index = load_host_index(tmp_path / "h.idx")
    host_set = {v for v, _ in naive_minimizers(host, 21, 5, 0)}
    assert index.header["n"] == len(host_set)
    reads = [
        host[100:250],
        host[1000:1100] + "".join(rng.choice(list("ACGT"), size=50)),
        "".join(rng.choice(list("ACGT"), size=150)),
        host[5:20],
    ]
    seq, offsets = pack_reads(reads)
    from microbiome.io.reads import ReadBatch

    batch = ReadBatch(seq, None, offsets, np.zeros(0, np.uint8), np.zeros(5, np.int64), 0)
    hits, totals = index.hits(batch)
    expected = [naive_host_fraction(r, host_set, 21, 5, 0) for r in reads]
    assert list(zip(hits.tolist(), totals.tolist(), strict=True)) == expected
    assert hits[0] == totals[0] > 0 and hits[2] == 0 and totals[3] == 0
