"""2-bit encoding, canonical k-mers and minimizers, for single sequences and read batches.

A k-mer (``1 <= k <= 31``) is packed in the low ``2k`` bits of a ``uint64`` with
``A=0, C=1, G=2, T=3``, first base highest, so integer order equals the lexicographic order of
the strings; its canonical form is ``min(forward, reverse_complement)``, which is also the
lexicographically smaller string (the convention of ``jellyfish count -C``). Lowercase bases are
accepted; a k-mer covering any other byte (``N``, IUPAC codes) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microbiome.errors import ConfigError
from microbiome.kmer import _kernels

MAX_K = 31


def check_k(k: int, name: str = "k") -> int:
    """Return ``k`` if ``1 <= k <= 31``, else raise ConfigError."""
    if not isinstance(k, int | np.integer) or not 1 <= int(k) <= MAX_K:
        raise ConfigError(f"{name} must be an integer from 1 to {MAX_K} (got {k!r})")
    return int(k)


def as_bytes_array(seq: str | bytes | np.ndarray) -> np.ndarray:
    """A sequence as a uint8 ASCII array."""
    if isinstance(seq, str):
        seq = seq.encode("ascii")
    if isinstance(seq, bytes | bytearray):
        return np.frombuffer(seq, dtype=np.uint8)
    return np.ascontiguousarray(seq, dtype=np.uint8)


def encode(seq: str | bytes | np.ndarray) -> np.ndarray:
    """2-bit codes of a sequence.

    Returns
    -------
    numpy.ndarray, shape (len(seq),), dtype uint8
        0-3 for A, C, G, T (either case), 4 for any other byte.
    """
    data = as_bytes_array(seq)
    out = np.empty(data.shape[0], dtype=np.uint8)
    _kernels.encode(data, _kernels.ENCODE_TABLE, out)
    return out


def kmer_to_string(kmer: int, k: int) -> str:
    """The uppercase string of a packed k-mer."""
    k = check_k(k)
    kmer = int(kmer)
    return "".join("ACGT"[(kmer >> (2 * (k - 1 - j))) & 3] for j in range(k))


def string_to_kmer(text: str, *, canonical: bool = True) -> int:
    """Pack a k-mer string (1-31 bases of ACGT, either case); canonical by default.

    Raises ConfigError for a bad length or a non-ACGT base.
    """
    check_k(len(text), "k-mer length")
    codes = encode(text)
    if (codes > 3).any():
        raise ConfigError(f"k-mer {text!r} contains a base other than A, C, G, T")
    fw = 0
    rc = 0
    for j, c in enumerate(codes.tolist()):
        fw = (fw << 2) | c
        rc |= (3 - c) << (2 * j)
    return min(fw, rc) if canonical else fw


def reverse_complement_kmer(kmer: int, k: int) -> int:
    """Reverse complement of a packed k-mer."""
    kmer = int(kmer)
    rc = 0
    for _ in range(k):
        rc = (rc << 2) | (3 - (kmer & 3))
        kmer >>= 2
    return rc


def batch_canonical_kmers(seq: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """Canonical k-mers of a batch of reads (``seq`` uint8, ``offsets`` int64 n + 1), in order.

    Returns
    -------
    numpy.ndarray, dtype uint64
    """
    k = check_k(k)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    out = np.empty(max(int(offsets[-1]), 0), dtype=np.uint64)
    n = _kernels.canonical_kmers(
        as_bytes_array(seq), offsets, 0, offsets.shape[0] - 1, _kernels.ENCODE_TABLE, k, out
    )
    return out[:n]


def canonical_kmers(seq: str | bytes | np.ndarray, k: int) -> np.ndarray:
    """Canonical k-mers of one sequence, in order (uint64)."""
    data = as_bytes_array(seq)
    return batch_canonical_kmers(data, np.array([0, data.shape[0]], dtype=np.int64), k)


def seed_mix(seed: int) -> np.uint64:
    """The 64-bit value XOR-ed into k-mers before hashing, derived from a user seed."""
    if not 0 <= int(seed) < 2**64:
        raise ConfigError(f"seed must be from 0 to 2**64 - 1 (got {seed})")
    return np.uint64(_kernels.fmix64(np.uint64(int(seed) ^ 0x9E3779B97F4A7C15)))


def hash_kmers(kmers: np.ndarray, seed: int = 0) -> np.ndarray:
    """The seeded 64-bit hash used by sketches and minimizer order, of each packed k-mer."""
    kmers = np.ascontiguousarray(kmers, dtype=np.uint64)
    out = np.empty_like(kmers)
    _kernels.hash_values(kmers, seed_mix(seed), out)
    return out


def sequence_pieces(seq: np.ndarray, l: int, w: int, piece: int = 1_000_000):  # noqa: E741
    """Overlapping pieces of a long sequence (a chromosome) whose minimizers, together, are those
    of the whole: consecutive pieces overlap by ``l + w - 2`` bases, one window of l-mers."""
    overlap = l + w - 2
    for start in range(0, max(seq.shape[0] - overlap, 1), piece):
        yield seq[start : start + piece + overlap]


def minimizer_hashes(seq: np.ndarray, l: int, w: int, seed: int = 0) -> np.ndarray:  # noqa: E741
    """Sorted distinct seeded hashes of the window minimizers of one sequence."""
    offsets = np.array([0, seq.shape[0]], dtype=np.int64)
    return np.unique(hash_kmers(batch_minimizers(seq, offsets, l, w, seed).values, seed))


@dataclass(frozen=True)
class Minimizers:
    """Minimizers of a batch of reads.

    Attributes
    ----------
    values : numpy.ndarray, dtype uint64
        The canonical l-mer chosen in each run of windows.
    positions : numpy.ndarray, dtype int64
        Its 0-based start in the read.
    reads : numpy.ndarray, dtype int64
        Index of the read in the batch.
    """

    values: np.ndarray
    positions: np.ndarray
    reads: np.ndarray


def batch_minimizers(
    seq: np.ndarray,
    offsets: np.ndarray,
    l: int,  # noqa: E741
    w: int,
    seed: int = 0,
) -> Minimizers:
    """Window minimizers of a batch of reads.

    In every window of ``w`` consecutive valid canonical l-mers of a read, the minimizer is the
    l-mer of smallest seeded hash (the rightmost on ties); it is reported once for the run of
    windows that share it. An l-mer covering a non-ACGT base ends a run of valid l-mers; reads
    (or stretches between N bases) shorter than ``l + w - 1`` give no minimizer.
    """
    l = check_k(l, "minimizer length l")  # noqa: E741
    if not isinstance(w, int | np.integer) or w < 1:
        raise ConfigError(f"window w must be a positive integer (got {w!r})")
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    size = max(int(offsets[-1]), 0)
    values = np.empty(size, dtype=np.uint64)
    positions = np.empty(size, dtype=np.int64)
    reads = np.empty(size, dtype=np.int64)
    n = _kernels.minimizers(
        as_bytes_array(seq),
        offsets,
        0,
        offsets.shape[0] - 1,
        _kernels.ENCODE_TABLE,
        l,
        int(w),
        seed_mix(seed),
        values,
        positions,
        reads,
    )
    return Minimizers(values[:n].copy(), positions[:n].copy(), reads[:n].copy())


def pack_reads(reads: list[str | bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate sequences into (seq uint8, offsets int64), the layout of a ReadBatch."""
    parts = [as_bytes_array(r) for r in reads]
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([p.shape[0] for p in parts], out=offsets[1:])
    seq = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)
    return seq.astype(np.uint8, copy=False), offsets


__all__ = [
    "MAX_K",
    "Minimizers",
    "batch_canonical_kmers",
    "batch_minimizers",
    "canonical_kmers",
    "check_k",
    "encode",
    "hash_kmers",
    "minimizer_hashes",
    "sequence_pieces",
    "kmer_to_string",
    "pack_reads",
    "reverse_complement_kmer",
    "seed_mix",
    "string_to_kmer",
]
