"""Numba kernels for read statistics. Arrays in, arrays out; no Python objects.

Every kernel has a slow twin in ``tests/naive.py``.
"""

from __future__ import annotations

import numba
import numpy as np

#: Index of each ASCII code in the base-count array: A C G T N other.
BASE_INDEX = np.full(256, 5, dtype=np.int64)
for _i, _b in enumerate("ACGTN"):
    BASE_INDEX[ord(_b)] = _i
    BASE_INDEX[ord(_b.lower())] = _i

#: Phred+33 scores 0..93 (ASCII 33..126).
N_QUAL = 94


@numba.njit(cache=True, nogil=True)
def accumulate_bases(seq, base_index, base_counts):
    """Add the composition of ``seq`` (uint8 ASCII) to ``base_counts`` (int64[6]: ACGTN, other).

    Returns the position of the first byte that is not a letter, or -1.
    """
    bad = -1
    for i in range(seq.shape[0]):
        c = seq[i]
        base_counts[base_index[c]] += 1
        if bad < 0 and not (65 <= c <= 90 or 97 <= c <= 122):
            bad = i
    return bad


@numba.njit(cache=True, nogil=True)
def accumulate_qualities(qual, offsets, qual_hist, read_qual_hist):
    """Add per-base and per-read-mean Phred scores of one batch to the histograms.

    ``qual`` is uint8 ASCII (Phred+33), ``offsets`` int64[n + 1]; ``qual_hist`` and
    ``read_qual_hist`` are int64[94] indexed by Phred score (a read's mean is truncated to an
    integer bin). Returns the position of the first quality byte outside '!'..'~', or -1.
    """
    bad = -1
    for r in range(offsets.shape[0] - 1):
        start = offsets[r]
        end = offsets[r + 1]
        total = 0
        for i in range(start, end):
            q = np.int64(qual[i]) - 33
            if q < 0 or q > 93:
                if bad < 0:
                    bad = i
                q = 0 if q < 0 else 93
            qual_hist[q] += 1
            total += q
        if end > start:
            read_qual_hist[total // (end - start)] += 1
    return bad
