"""Host-read removal by k-mer matching: a minimizer index of the host reference.

The index holds the seeded 64-bit hashes of the distinct canonical minimizers (length ``l``,
window ``w``) of the host sequences, sorted, with a bucket table over their top bits so that a
lookup reads one cache line or two (a binary search over a human-sized index would take ~30
cache misses). It is one memory-mapped file, shared by every job on a node. A read or a pair is
host when the fraction of its minimizers found in the index reaches a threshold. With ``w = 11``
the index keeps about one l-mer in six: about 3.5 GB for the human genome.

File layout: the magic ``MBHOSTIX``, a uint32 header length, a JSON header (format version,
``l``, ``w``, seed, number of hashes ``n``, bucket bits ``b``, source files and bases), padding
to 8 bytes, then ``n`` sorted uint64 hashes, then ``2**b + 1`` int64 bucket starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microbiome import __version__
from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.io import binfile
from microbiome.io.atomic import atomic_path
from microbiome.io.reads import ReadBatch, read_batches
from microbiome.kmer.encoding import (
    batch_minimizers,
    check_k,
    minimizer_hashes,
    seed_mix,
    sequence_pieces,
)
from microbiome.qc import _kernels

MAGIC = b"MBHOSTIX"
FORMAT_VERSION = 1
#: About this many hashes per bucket.
BUCKET_LOAD = 4
#: Long host sequences are cut into pieces of this many bases (overlapping by l + w - 2).
PIECE = 4_000_000


@dataclass(frozen=True)
class HostIndex:
    """A loaded host index: its parameters and the memory-mapped sorted minimizers."""

    path: str
    l: int  # noqa: E741
    w: int
    seed: int
    hashes: np.ndarray
    buckets: np.ndarray
    header: dict

    @property
    def shift(self) -> int:
        return 64 - self.header["bucket_bits"]

    def hits(self, batch: ReadBatch) -> tuple[np.ndarray, np.ndarray]:
        """(minimizers found in the host, minimizers in all) for each read of the batch."""
        n = len(batch)
        hits = np.zeros(n, dtype=np.int64)
        totals = np.zeros(n, dtype=np.int64)
        if n:
            mins = batch_minimizers(batch.seq, batch.offsets, self.l, self.w, self.seed)
            _kernels.index_hits(
                mins.values,
                mins.reads,
                seed_mix(self.seed),
                self.hashes,
                self.buckets,
                np.uint64(self.shift),
                hits,
                totals,
            )
        return hits, totals


def build_host_index(
    references: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    l: int = 31,  # noqa: E741
    w: int = 11,
    seed: int = 0,
) -> dict:
    """Build the index of the host FASTA files into ``out``; return its header."""
    l = check_k(l, "host minimizer length l")  # noqa: E741
    if w < 1:
        raise ConfigError(f"host minimizer window w must be at least 1 (got {w})")
    parts = []
    bases = 0
    for ref in references:
        ref = os.fspath(ref)
        for batch in read_batches(ref):
            if batch.qual is not None:
                raise InputError("host reference must be FASTA, not FASTQ", file=ref)
            for r in range(len(batch)):
                seq = batch.seq[batch.offsets[r] : batch.offsets[r + 1]]
                bases += seq.shape[0]
                for piece in sequence_pieces(seq, l, w, PIECE):
                    parts.append(minimizer_hashes(piece, l, w, seed))
    hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
    if hashes.shape[0] == 0:
        raise InputError(
            f"host reference has no sequence of at least {l + w - 1} valid bases",
            file=", ".join(map(os.fspath, references)),
        )
    bits = max(1, int(np.ceil(np.log2(max(hashes.shape[0] / BUCKET_LOAD, 2)))))
    buckets = np.searchsorted(
        hashes >> np.uint64(64 - bits), np.arange(2**bits + 1, dtype=np.uint64)
    )
    header = {
        "format_version": FORMAT_VERSION,
        "l": l,
        "w": w,
        "seed": seed,
        "n": int(hashes.shape[0]),
        "bucket_bits": bits,
        "bases": bases,
        "sources": [Path(r).name for r in references],
        "microbiome_version": __version__,
    }
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        f.write(binfile.header_bytes(MAGIC, header))
        f.write(hashes.astype("<u8").tobytes())
        f.write(buckets.astype("<i8").tobytes())
    return header


def load_host_index(path: str | os.PathLike) -> HostIndex:
    """Memory-map a host index; DatabaseError if it is missing, truncated or of another version."""
    path = os.fspath(path)
    header, offset = binfile.read_header(
        path, MAGIC, what="host index", build="microbiome qc-index", version=FORMAT_VERSION
    )
    expected = offset + 8 * header["n"] + 8 * (2 ** header["bucket_bits"] + 1)
    if os.path.getsize(path) != expected:
        raise DatabaseError(
            f"host index is truncated or padded ({os.path.getsize(path)} bytes, expected "
            f"{expected})",
            file=path,
        )
    hashes = np.memmap(path, dtype="<u8", mode="r", offset=offset, shape=(header["n"],))
    buckets = np.memmap(
        path,
        dtype="<i8",
        mode="r",
        offset=offset + 8 * header["n"],
        shape=(2 ** header["bucket_bits"] + 1,),
    )
    return HostIndex(path, header["l"], header["w"], header["seed"], hashes, buckets, header)
