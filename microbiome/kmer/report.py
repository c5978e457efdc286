"""Reading count files back: dump lines, the count histogram, point queries."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from microbiome.errors import ConfigError
from microbiome.kmer import _kernels
from microbiome.kmer.encoding import string_to_kmer
from microbiome.kmer.format import CountsFile

#: K-mers formatted per chunk of dump output.
DUMP_CHUNK = 1 << 18


def dump_lines(path: str | os.PathLike, *, min_count: int = 1) -> Iterator[bytes]:
    """``KMER<TAB>COUNT<LF>`` lines of a count file, sorted by k-mer, in chunks of bytes.

    Streams through the memory-mapped file, so memory does not depend on its size.
    """
    table = CountsFile(path)
    buffer = np.empty(DUMP_CHUNK * (table.k + 12), dtype=np.uint8)
    for start in range(0, len(table), DUMP_CHUNK):
        kmers = np.asarray(table.kmers[start : start + DUMP_CHUNK])
        counts = np.asarray(table.counts[start : start + DUMP_CHUNK])
        if min_count > 1:
            keep = counts >= min_count
            kmers, counts = kmers[keep], counts[keep]
        n = _kernels.format_counts(
            kmers.astype(np.uint64),
            counts.astype(np.uint32),
            table.k,
            _kernels.DECODE_TABLE,
            buffer,
        )
        yield buffer[:n].tobytes()


def histogram(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Distinct counts present in a count file (ascending) and how many k-mers have each.

    Returns
    -------
    (numpy.ndarray int64, numpy.ndarray int64)
    """
    table = CountsFile(path)
    values: dict[int, int] = {}
    step = 1 << 24
    for start in range(0, len(table), step):
        c, n = np.unique(np.asarray(table.counts[start : start + step]), return_counts=True)
        for a, b in zip(c.tolist(), n.tolist(), strict=True):
            values[a] = values.get(a, 0) + b
    keys = np.array(sorted(values), dtype=np.int64)
    return keys, np.array([values[x] for x in keys.tolist()], dtype=np.int64)


def query(path: str | os.PathLike, kmers: Sequence[str]) -> list[int]:
    """Counts of k-mer strings (either strand, either case) in a count file; 0 when absent."""
    table = CountsFile(path)
    packed = []
    for text in kmers:
        if len(text) != table.k:
            raise ConfigError(
                f"k-mer {text!r} has length {len(text)} but {os.fspath(path)} counts {table.k}-mers"
            )
        packed.append(string_to_kmer(text, canonical=table.header.canonical))
    return [int(c) for c in table.lookup(np.array(packed, dtype=np.uint64))]
