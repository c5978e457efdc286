"""The numba formatter of per-read output against its naive twin."""

from __future__ import annotations

import numpy as np
import pytest
from naive import naive_kraken_lines

from microbiome.io.reads import ReadBatch
from microbiome.profile.classify import _Result, format_reads


def batch(names: list[str], lengths: list[int]) -> ReadBatch:
    data = "".join(names).encode()
    name_offsets = np.concatenate(([0], np.cumsum([len(n) for n in names]))).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    return ReadBatch(
        np.zeros(offsets[-1], np.uint8),
        None,
        offsets,
        np.frombuffer(data, np.uint8),
        name_offsets,
        0,
    )


@pytest.mark.parametrize("paired", [False, True])
def test_format_matches_naive(paired):
    rng = np.random.default_rng(4)
    n = 60
    taxids = np.array([1, 2, 562, 1351, 9606, 123456789], dtype=np.int64)
    names = [f"r{i}/1 extra" if i % 3 else f"read{i}" for i in range(n)] + ["/1", ""]
    n = len(names)
    calls = rng.integers(-1, len(taxids), size=n).astype(np.int32)
    mates = 2 if paired else 1
    hits, starts, lengths, batches = [], [], [], []
    for _ in range(mates):
        counts = rng.integers(0, 12, size=n)
        starts.append(np.concatenate(([0], np.cumsum(counts))).astype(np.int64))
        hits.append(rng.integers(-1, len(taxids), size=int(counts.sum())).astype(np.int32))
        lengths.append(rng.integers(0, 300, size=n).tolist())
        batches.append(batch(names, lengths[-1]))
    result = _Result(calls, np.zeros(n, np.int64), tuple(hits), tuple(starts), tuple(batches))
    expected = naive_kraken_lines(
        calls.tolist(),
        taxids,
        names,
        lengths,
        [h.tolist() for h in hits],
        [s.tolist() for s in starts],
    )
    assert format_reads(result, taxids).decode() == expected
