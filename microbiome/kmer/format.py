"""On-disk formats of the k-mer engine: count files (``.kmers``) and sketches (``.sketch``).

Both are little-endian, start with a 64-byte versioned header and keep their arrays 8-byte
aligned, so they can be memory-mapped (:class:`numpy.memmap`) and shared between processes.

Count file, format version 1::

    offset  size  field
    0       8     magic b"MBKMERS\\0"
    8       4     format version (uint32) = 1
    12      4     k (uint32)
    16      1     canonical flag (uint8, 1 = k-mer and reverse complement counted together)
    17      7     reserved (zero)
    24      8     n, number of k-mers stored (uint64)
    32      8     minimum count applied (uint64)
    40      8     k-mers read from the input, before the filter (uint64)
    48      8     distinct k-mers, before the filter (uint64)
    56      8     reserved (zero)
    64      8n    k-mers, 2-bit packed (A=0 C=1 G=2 T=3, first base highest), ascending (uint64)
    64+8n   4n    their counts, saturated at 2**32 - 1 (uint32)

Sketch file, format version 1::

    0       8     magic b"MBSKETCH"
    8       4     format version (uint32) = 1
    12      4     k (uint32)
    16      8     scaled (uint64): a hash h is kept if h < 2**64 / scaled
    24      8     seed (uint64)
    32      8     n, number of hashes (uint64)
    40      8     k-mers read (uint64)
    48      4     length of the name in bytes (uint32)
    52      12    reserved (zero)
    64      L     name, UTF-8, zero-padded to a multiple of 8 bytes
    ...     8n    hashes, ascending, distinct (uint64)
    ...     4n    how many times each hash was seen, saturated (uint32)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microbiome.errors import InputError
from microbiome.io.atomic import atomic_path

COUNTS_MAGIC = b"MBKMERS\0"
COUNTS_VERSION = 1
SKETCH_MAGIC = b"MBSKETCH"
SKETCH_VERSION = 1
HEADER_BYTES = 64

COUNTS_HEADER = np.dtype(
    [
        ("magic", "S8"),
        ("version", "<u4"),
        ("k", "<u4"),
        ("canonical", "u1"),
        ("reserved1", "V7"),
        ("n", "<u8"),
        ("min_count", "<u8"),
        ("total_kmers", "<u8"),
        ("distinct_kmers", "<u8"),
        ("reserved2", "<u8"),
    ]
)
SKETCH_HEADER = np.dtype(
    [
        ("magic", "S8"),
        ("version", "<u4"),
        ("k", "<u4"),
        ("scaled", "<u8"),
        ("seed", "<u8"),
        ("n", "<u8"),
        ("total_kmers", "<u8"),
        ("name_bytes", "<u4"),
        ("reserved", "V12"),
    ]
)
assert COUNTS_HEADER.itemsize == HEADER_BYTES and SKETCH_HEADER.itemsize == HEADER_BYTES


@dataclass(frozen=True)
class CountsHeader:
    """The header fields of a count file."""

    k: int
    canonical: bool
    n: int
    min_count: int
    total_kmers: int
    distinct_kmers: int

    def pack(self) -> bytes:
        h = np.zeros(1, dtype=COUNTS_HEADER)
        h["magic"] = COUNTS_MAGIC
        h["version"] = COUNTS_VERSION
        h["k"] = self.k
        h["canonical"] = int(self.canonical)
        h["n"] = self.n
        h["min_count"] = self.min_count
        h["total_kmers"] = self.total_kmers
        h["distinct_kmers"] = self.distinct_kmers
        return h.tobytes()

    @property
    def kmers_offset(self) -> int:
        return HEADER_BYTES

    @property
    def counts_offset(self) -> int:
        return HEADER_BYTES + 8 * self.n

    @property
    def file_size(self) -> int:
        return HEADER_BYTES + 12 * self.n


def _read_header(path: str, dtype: np.dtype, magic: bytes, version: int, what: str) -> np.void:
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except FileNotFoundError as exc:
        raise InputError("file not found", file=path) from exc
    except IsADirectoryError as exc:
        raise InputError(f"is a directory, not a {what}", file=path) from exc
    except PermissionError as exc:
        raise InputError("file is not readable (permission denied)", file=path) from exc
    if len(raw) < HEADER_BYTES or raw[:8] != magic:
        raise InputError(f"not a {what} (bad magic number)", file=path)
    header = np.frombuffer(raw, dtype=dtype)[0]
    if int(header["version"]) != version:
        raise InputError(
            f"{what} format version {int(header['version'])} is not supported "
            f"(this version of microbiome reads version {version})",
            file=path,
        )
    return header


class CountsFile:
    """A count file opened read-only; ``kmers`` (uint64) and ``counts`` (uint32) are memory maps.

    Examples
    --------
    >>> table = CountsFile("sample.kmers")            # doctest: +SKIP
    >>> table.lookup(np.array([kmer], np.uint64))     # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        h = _read_header(self.path, COUNTS_HEADER, COUNTS_MAGIC, COUNTS_VERSION, "k-mer count file")
        self.header = CountsHeader(
            k=int(h["k"]),
            canonical=bool(h["canonical"]),
            n=int(h["n"]),
            min_count=int(h["min_count"]),
            total_kmers=int(h["total_kmers"]),
            distinct_kmers=int(h["distinct_kmers"]),
        )
        size = os.path.getsize(self.path)
        if size != self.header.file_size:
            raise InputError(
                f"k-mer count file is {size} bytes but its header announces "
                f"{self.header.file_size} (truncated?)",
                file=self.path,
            )
        n = self.header.n
        if n:
            self.kmers = np.memmap(self.path, np.dtype("<u8"), "r", HEADER_BYTES, (n,))
            self.counts = np.memmap(
                self.path, np.dtype("<u4"), "r", self.header.counts_offset, (n,)
            )
        else:
            self.kmers = np.empty(0, dtype=np.uint64)
            self.counts = np.empty(0, dtype=np.uint32)

    @property
    def k(self) -> int:
        return self.header.k

    def __len__(self) -> int:
        return self.header.n

    def lookup(self, kmers: np.ndarray) -> np.ndarray:
        """Counts of packed (canonical) k-mers by binary search; 0 for absent ones (uint64)."""
        kmers = np.asarray(kmers, dtype=np.uint64)
        out = np.zeros(kmers.shape[0], dtype=np.uint64)
        if self.header.n == 0:
            return out
        idx = np.searchsorted(self.kmers, kmers)
        inside = idx < self.header.n
        hit = np.zeros(kmers.shape[0], dtype=bool)
        hit[inside] = self.kmers[idx[inside]] == kmers[inside]
        out[hit] = self.counts[idx[hit]]
        return out


@dataclass(frozen=True)
class Sketch:
    """A FracMinHash sketch.

    Attributes
    ----------
    name : str
    k : int
    scaled : int
        A hash is kept when it is below ``2**64 / scaled`` (about one k-mer in ``scaled``).
    seed : int
    hashes : numpy.ndarray, dtype uint64, ascending and distinct
    abundances : numpy.ndarray, dtype uint32, same length
    total_kmers : int
        k-mers read when the sketch was made.
    """

    name: str
    k: int
    scaled: int
    seed: int
    hashes: np.ndarray
    abundances: np.ndarray
    total_kmers: int = 0

    def __len__(self) -> int:
        return self.hashes.shape[0]


def write_sketch(path: str | os.PathLike, sketch: Sketch) -> None:
    """Write a sketch file (atomically)."""
    name = sketch.name.encode("utf-8")
    h = np.zeros(1, dtype=SKETCH_HEADER)
    h["magic"] = SKETCH_MAGIC
    h["version"] = SKETCH_VERSION
    h["k"] = sketch.k
    h["scaled"] = sketch.scaled
    h["seed"] = sketch.seed
    h["n"] = len(sketch)
    h["total_kmers"] = sketch.total_kmers
    h["name_bytes"] = len(name)
    padded = name + b"\0" * (-len(name) % 8)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(h.tobytes())
        f.write(padded)
        f.write(np.ascontiguousarray(sketch.hashes, dtype="<u8").tobytes())
        f.write(np.ascontiguousarray(sketch.abundances, dtype="<u4").tobytes())


def read_sketch(path: str | os.PathLike) -> Sketch:
    """Read a sketch file."""
    path = os.fspath(path)
    h = _read_header(path, SKETCH_HEADER, SKETCH_MAGIC, SKETCH_VERSION, "sketch file")
    n = int(h["n"])
    name_bytes = int(h["name_bytes"])
    start = HEADER_BYTES + name_bytes + (-name_bytes % 8)
    expected = start + 12 * n
    size = os.path.getsize(path)
    if size != expected:
        raise InputError(
            f"sketch file is {size} bytes but its header announces {expected} (truncated?)",
            file=path,
        )
    data = Path(path).read_bytes()
    name = data[HEADER_BYTES : HEADER_BYTES + name_bytes].decode("utf-8", "replace")
    hashes = np.frombuffer(data, dtype="<u8", count=n, offset=start).astype(np.uint64)
    abund = np.frombuffer(data, dtype="<u4", count=n, offset=start + 8 * n).astype(np.uint32)
    return Sketch(
        name=name,
        k=int(h["k"]),
        scaled=int(h["scaled"]),
        seed=int(h["seed"]),
        hashes=hashes,
        abundances=abund,
        total_kmers=int(h["total_kmers"]),
    )
