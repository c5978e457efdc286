"""Shared fixtures: paths to the bundled data, a threads fixture, and FASTQ writers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "test_data"
READS = TEST_DATA / "reads"


@pytest.fixture(params=[1, 2], ids=["threads1", "threads2"])
def threads(request) -> int:
    """Run a test with one and with two threads, so the parallel path is always tested."""
    return request.param


def fastq_text(records) -> str:
    """FASTQ text of (name, sequence, qualities) records."""
    return "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in records)


def write_fastq(path: Path, records, *, compress: bool | None = None) -> Path:
    """Write records as FASTQ (gzip if the name ends in .gz or compress is True)."""
    text = fastq_text(records)
    if compress or (compress is None and path.suffix == ".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def random_records(rng, n, *, min_len=1, max_len=200, alphabet="ACGTN", prefix="r", mate=None):
    """Random reads with qualities; names like r12/1 when mate is given."""
    records = []
    for i in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        seq = "".join(rng.choice(list(alphabet), size=length))
        qual = "".join(chr(33 + int(q)) for q in rng.integers(0, 42, size=length))
        name = f"{prefix}{i}" + (f"/{mate}" if mate else "")
        records.append((name, seq, qual))
    return records
