"""K-mer kernels against their naive twins (tests/naive.py): fixed, random and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from naive import (
    naive_canonical_kmers,
    naive_canonical_string,
    naive_containment,
    naive_count,
    naive_encode,
    naive_fmix64,
    naive_jaccard,
    naive_minimizers,
    naive_pack,
    naive_sketch,
    naive_unpack,
)

from microbiome.errors import ConfigError
from microbiome.kmer import _kernels
from microbiome.kmer.count import KmerCounter
from microbiome.kmer.encoding import (
    batch_canonical_kmers,
    batch_minimizers,
    canonical_kmers,
    encode,
    kmer_to_string,
    pack_reads,
    reverse_complement_kmer,
    string_to_kmer,
)
from microbiome.kmer.format import Sketch
from microbiome.kmer.sketch import Sketcher, compare

EDGE_READS = [
    "",  # empty read
    "A",
    "ACG",  # shorter than most k
    "NNNNNNNNNN",
    "ACGTNNNNACGTACGTAC",  # N run
    "acgtacgtTTGCAnacgt",  # lowercase and a lowercase n
    "ACGTACGTACGTACGTACGTACGTACGTACGTACGT",  # palindromic k-mers (ACGT... is its own RC)
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT",
    "GATTACARYKMGATTACA",  # IUPAC codes are invalid bases
]


def random_reads(rng, n, max_len=120, alphabet="ACGTN", weights=None):
    letters = np.array(list(alphabet))
    return [
        "".join(rng.choice(letters, size=int(rng.integers(0, max_len + 1)), p=weights))
        for _ in range(n)
    ]


def test_encode_matches_naive():
    text = "ACGTacgtNnRYx-\n."
    assert encode(text).tolist() == naive_encode(text)


def test_fmix64_matches_naive():
    rng = np.random.default_rng(1)
    for x in [0, 1, 2**62 - 1, 2**64 - 1, *rng.integers(0, 2**63, 50).tolist()]:
        assert int(_kernels.fmix64(np.uint64(x))) == naive_fmix64(x)


def test_pack_and_strings_roundtrip():
    for k in (1, 2, 15, 31):
        rng = np.random.default_rng(k)
        for _ in range(20):
            s = "".join(rng.choice(list("ACGT"), size=k))
            assert kmer_to_string(string_to_kmer(s, canonical=False), k) == s
            assert string_to_kmer(s) == naive_pack(naive_canonical_string(s))
            fw = naive_pack(s)
            rc = naive_pack(s[::-1].translate(str.maketrans("ACGT", "TGCA")))
            assert reverse_complement_kmer(fw, k) == rc
    assert naive_unpack(string_to_kmer("acgt", canonical=False), 4) == "ACGT"


def test_string_to_kmer_rejects_bad_input():
    with pytest.raises(ConfigError):
        string_to_kmer("ACNT")
    with pytest.raises(ConfigError):
        string_to_kmer("A" * 32)
    with pytest.raises(ConfigError):
        string_to_kmer("")


@pytest.mark.parametrize("k", [1, 2, 3, 5, 11, 16, 21, 31])
def test_canonical_kmers_edge_cases(k):
    for read in EDGE_READS:
        assert canonical_kmers(read, k).tolist() == naive_canonical_kmers(read, k), read


@pytest.mark.parametrize("k", [1, 4, 13, 31])
def test_canonical_kmers_random_batch(k):
    rng = np.random.default_rng(k)
    reads = random_reads(rng, 60, alphabet="ACGTNacgt")
    seq, offsets = pack_reads(reads)
    expected = [x for r in reads for x in naive_canonical_kmers(r, k)]
    assert batch_canonical_kmers(seq, offsets, k).tolist() == expected


def test_palindromes_are_their_own_canonical_form():
    # even-length reverse-complement palindromes: canonical == forward == reverse complement
    for pal in ["AT", "ACGT", "GAATTC", "ACGTACGTACGTACGTACGTACGTACGTAC"[:30]]:
        if pal == pal[::-1].translate(str.maketrans("ACGT", "TGCA")):
            assert canonical_kmers(pal, len(pal)).tolist() == [naive_pack(pal)]


def test_partition_kernels_are_a_radix_partition():
    rng = np.random.default_rng(7)
    reads = random_reads(rng, 80)
    seq, offsets = pack_reads(reads)
    k, rbits = 9, 8
    hist = np.zeros(1 << (2 * k - rbits), dtype=np.int64)
    _kernels.partition_histogram(seq, offsets, 0, len(reads), _kernels.ENCODE_TABLE, k, rbits, hist)
    expected = sorted(x for r in reads for x in naive_canonical_kmers(r, k))
    assert hist.sum() == len(expected)
    starts = np.concatenate([[0], np.cumsum(hist)])
    out = np.zeros(len(expected), dtype=np.uint64)
    cursor = starts[:-1].copy()
    _kernels.partition_scatter(
        seq, offsets, 0, len(reads), _kernels.ENCODE_TABLE, k, rbits, cursor, out
    )
    assert sorted(out.tolist()) == expected
    for p in range(hist.shape[0]):  # every k-mer sits in its partition's range
        assert all(x >> rbits == p for x in out[starts[p] : starts[p + 1]].tolist())


@pytest.mark.parametrize(
    ("k", "count_bits", "initial_slots"),
    [(1, None, 4), (3, 2, 4), (12, 3, 4), (21, None, 8), (31, 2, 4), (31, None, 1024)],
)
def test_counter_matches_naive(k, count_bits, initial_slots, threads):
    """Growth (tiny first tables) and overflow (2-bit inline counters) lose nothing."""
    rng = np.random.default_rng(k)
    reads = random_reads(rng, 150, alphabet="ACGTN", weights=[0.3, 0.2, 0.2, 0.28, 0.02])
    reads += EDGE_READS + ["ACGT" * 30, "A" * 200]  # repeats push counts past the inline field
    counter = KmerCounter(k, threads=threads, count_bits=count_bits, initial_slots=initial_slots)
    for start in range(0, len(reads), 40):  # several batches
        seq, offsets = pack_reads(reads[start : start + 40])
        counter.add(seq, offsets)
    expected = naive_count(reads, k)
    kmers, counts = counter.items()
    assert dict(zip(kmers.tolist(), counts.tolist(), strict=True)) == expected
    assert kmers.tolist() == sorted(expected)
    assert counter.distinct_kmers == len(expected)
    assert counter.total_kmers == sum(expected.values())
    kept = counter.items(min_count=3)
    assert dict(zip(*(a.tolist() for a in kept), strict=True)) == {
        km: c for km, c in expected.items() if c >= 3
    }
    counter.close()


def test_counter_rejects_bad_k():
    for k in (0, 32, -1):
        with pytest.raises(ConfigError):
            KmerCounter(k)


def test_overflow_table_grows():
    ovf = np.zeros(8, dtype=np.uint64)
    filled = 0
    expected = {}
    for r in range(50):
        for _ in range(r % 3 + 1):
            while True:
                filled, ok = _kernels._overflow_add(
                    ovf, np.uint64(r), np.uint64(1), filled, ovf.shape[0] // 4
                )
                if ok:
                    break
                new = np.zeros(2 * ovf.shape[0], dtype=np.uint64)
                filled = _kernels.overflow_rehash(ovf, new)
                ovf = new
            expected[r] = expected.get(r, 0) + 1
    assert {r: int(_kernels.overflow_get(ovf, np.uint64(r))) for r in range(60)} == {
        r: expected.get(r, 0) for r in range(60)
    }


@pytest.mark.parametrize(("low", "bits"), [(0, 64), (12, 52), (20, 3), (5, 11), (0, 0)])
def test_radix_sort_matches_sorted(low, bits):
    rng = np.random.default_rng(bits)
    words = rng.integers(0, 2**63, size=20_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    words[:100] = words[100:200]  # ties
    key = [(w >> low) & ((1 << bits) - 1) for w in words.tolist()]
    expected = [w for _, w in sorted(zip(key, words.tolist(), strict=True), key=lambda t: t[0])]
    _kernels.radix_sort(words, low, bits)
    assert words.tolist() == expected  # stable on ties, like Python's sort


def test_counter_large_partitions_use_radix_sort():
    rng = np.random.default_rng(0)
    reads = ["".join(rng.choice(list("ACGT"), size=150)) for _ in range(1000)]
    counter = KmerCounter(11, partition_bits=2)  # 4 partitions of ~35,000 k-mers each
    counter.add(*pack_reads(reads))
    assert min(counter.filled) >= _kernels.RADIX_MIN
    kmers, counts = counter.items()
    expected = naive_count(reads, 11)
    assert kmers.tolist() == sorted(expected)
    assert counts.tolist() == [expected[x] for x in sorted(expected)]


def test_format_counts_matches_naive():
    kmers = np.array([0, 1, 2**62 - 1, 12345678901], dtype=np.uint64)
    counts = np.array([1, 10, 4294967295, 907], dtype=np.uint32)
    out = np.empty(4 * 43, dtype=np.uint8)
    n = _kernels.format_counts(kmers, counts, 31, _kernels.DECODE_TABLE, out)
    expected = "".join(
        f"{naive_unpack(int(a), 31)}\t{b}\n" for a, b in zip(kmers, counts, strict=True)
    )
    assert out[:n].tobytes().decode() == expected


@pytest.mark.parametrize(("l", "w"), [(1, 1), (3, 4), (5, 1), (11, 8), (15, 10), (31, 5)])
def test_minimizers_match_naive(l, w):  # noqa: E741
    rng = np.random.default_rng(l * 100 + w)
    reads = EDGE_READS + random_reads(rng, 40, alphabet="ACGTN", weights=[0.24] * 4 + [0.04])
    reads += ["A" * 60, "ACACACACACACACACACACACACAC"]  # ties everywhere
    seq, offsets = pack_reads(reads)
    got = batch_minimizers(seq, offsets, l, w, seed=3)
    expected = [(v, p, i) for i, r in enumerate(reads) for v, p in naive_minimizers(r, l, w, 3)]
    assert (
        list(zip(got.values.tolist(), got.positions.tolist(), got.reads.tolist(), strict=True))
        == expected
    )


def test_minimizers_reject_bad_parameters():
    seq, offsets = pack_reads(["ACGT"])
    with pytest.raises(ConfigError):
        batch_minimizers(seq, offsets, 32, 4)
    with pytest.raises(ConfigError):
        batch_minimizers(seq, offsets, 5, 0)


@pytest.mark.parametrize(("k", "scaled", "seed"), [(5, 1, 0), (11, 3, 7), (21, 10, 42), (31, 2, 1)])
def test_sketch_matches_naive(k, scaled, seed):
    rng = np.random.default_rng(k)
    reads = EDGE_READS + random_reads(rng, 50)
    sketcher = Sketcher(k, scaled, seed)
    for start in range(0, len(reads), 15):
        sketcher.add(*pack_reads(reads[start : start + 15]))
    sketch = sketcher.sketch("x")
    expected = naive_sketch(reads, k, scaled, seed)
    assert sketch.hashes.tolist() == sorted(expected)
    assert sketch.abundances.tolist() == [expected[h] for h in sorted(expected)]
    assert sketch.total_kmers == sum(len(naive_canonical_kmers(r, k)) for r in reads)


def test_compare_matches_naive_and_count_common():
    rng = np.random.default_rng(5)
    sets = [set(rng.integers(0, 300, size=n).tolist()) for n in (100, 150, 30)] + [set()]
    sketches = [
        Sketch(
            f"s{i}",
            21,
            10,
            42,
            np.array(sorted(s), dtype=np.uint64),
            np.ones(len(s), dtype=np.uint32),
        )
        for i, s in enumerate(sets)
    ]
    for a in sets:
        for b in sets:
            arr_a = np.array(sorted(a), dtype=np.uint64)
            arr_b = np.array(sorted(b), dtype=np.uint64)
            assert _kernels.count_common(arr_a, arr_b) == len(a & b)
    result = compare(sketches)
    for i, a in enumerate(sets):
        for j, b in enumerate(sets):
            if not a and i == j:
                continue
            assert result.jaccard.iloc[i, j] == pytest.approx(naive_jaccard(a, b))
            assert result.containment.iloc[i, j] == pytest.approx(naive_containment(a, b))
