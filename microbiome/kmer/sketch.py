"""FracMinHash sketches of samples and genomes, and their Jaccard and containment matrices.

A FracMinHash sketch (Irber et al. 2022, "Lightweight compositional analysis of metagenomes with
FracMinHash and minimum metagenome covers", bioRxiv 2022.01.11.475838) keeps every canonical
k-mer whose seeded 64-bit hash ``h`` is below ``2**64 / scaled``, about one k-mer in ``scaled``.
Two sketches made with the same ``k``, ``scaled`` and seed estimate, without bias,

- Jaccard ``J(A, B) = |A ∩ B| / |A ∪ B|``, and
- containment ``C(A, B) = |A ∩ B| / |A|`` (the fraction of A's k-mers found in B).

The hash is ``fmix64(kmer ^ seed_mix(seed))`` on the 2-bit packed canonical k-mer (MurmurHash3's
finalizer, a bijection), so sketches are comparable only with each other, not with sourmash's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError
from microbiome.kmer import _kernels
from microbiome.kmer.encoding import check_k, seed_mix
from microbiome.kmer.format import Sketch, read_sketch

log = logging.getLogger(__name__)

DEFAULT_SCALED = 1000
DEFAULT_SEED = 42
#: Hashes gathered before they are merged into the running sorted set.
_MERGE_EVERY = 1 << 22


def max_hash(scaled: int) -> int:
    """The threshold below which a hash is kept: ``floor(2**64 / scaled)`` (all for scaled=1)."""
    if scaled < 1:
        raise ConfigError(f"scaled must be at least 1 (got {scaled})")
    return min(2**64 // int(scaled), 2**64 - 1)


class Sketcher:
    """Builds one FracMinHash sketch from batches of reads (memory ~ distinct k-mers / scaled)."""

    def __init__(self, k: int, scaled: int = DEFAULT_SCALED, seed: int = DEFAULT_SEED) -> None:
        self.k = check_k(k)
        self.scaled = int(scaled)
        self.seed = int(seed)
        self._max = np.uint64(max_hash(self.scaled))
        self._mix = seed_mix(self.seed)
        self.hashes = np.empty(0, dtype=np.uint64)
        self.counts = np.empty(0, dtype=np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self.total_kmers = 0

    def add(self, seq: np.ndarray, offsets: np.ndarray) -> None:
        """Add a batch (``seq`` uint8 ASCII, ``offsets`` int64 n + 1)."""
        n_reads = offsets.shape[0] - 1
        if n_reads <= 0:
            return
        out = np.empty(int(offsets[-1] - offsets[0]), dtype=np.uint64)
        n, seen = _kernels.sketch_hashes(
            seq, offsets, 0, n_reads, _kernels.ENCODE_TABLE, self.k, self._mix, self._max, out
        )
        self.total_kmers += seen
        if n:
            self._pending.append(out[:n].copy())
            self._pending_size += n
            if self._pending_size >= _MERGE_EVERY:
                self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        new, counts = np.unique(np.concatenate(self._pending), return_counts=True)
        self._pending, self._pending_size = [], 0
        keys = np.empty(self.hashes.shape[0] + new.shape[0], dtype=np.uint64)
        vals = np.empty(keys.shape[0], dtype=np.uint64)
        n = _kernels.merge_counts(
            self.hashes, self.counts, new, counts.astype(np.uint64), keys, vals
        )
        self.hashes, self.counts = keys[:n], vals[:n]

    def sketch(self, name: str) -> Sketch:
        """The finished sketch."""
        self._merge()
        return Sketch(
            name=name,
            k=self.k,
            scaled=self.scaled,
            seed=self.seed,
            hashes=self.hashes.copy(),
            abundances=np.minimum(self.counts, 2**32 - 1).astype(np.uint32),
            total_kmers=self.total_kmers,
        )


def sketch_files(
    paths: Iterable[str | os.PathLike],
    *,
    k: int = 31,
    scaled: int = DEFAULT_SCALED,
    seed: int = DEFAULT_SEED,
    name: str | None = None,
) -> Sketch:
    """One sketch of all the reads or sequences in ``paths`` (FASTQ/FASTA, plain or compressed).

    ``name`` defaults to the first file's name without its sequence and compression suffixes.
    """
    from microbiome.io.reads import prefetch, read_batches

    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ConfigError("no input files given")
    sketcher = Sketcher(k, scaled, seed)

    def batches():
        for path in paths:
            log.info("sketching %s", path)
            yield from read_batches(path)

    for batch in prefetch(batches()):
        sketcher.add(batch.seq, batch.offsets)
    return sketcher.sketch(name if name is not None else default_name(paths[0]))


def default_name(path: str | os.PathLike) -> str:
    """``reads/S1_R1.fastq.gz`` -> ``S1_R1``."""
    name = Path(path).name
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        name = name.removesuffix(suffix)
    for suffix in (".fastq", ".fq", ".fasta", ".fa", ".fna", ".ffn", ".bam", ".cram", ".sam"):
        name = name.removesuffix(suffix)
    return name


@dataclass(frozen=True)
class Comparison:
    """Pairwise similarities of sketches (rows and columns in input order).

    Attributes
    ----------
    names : list of str
    jaccard : pandas.DataFrame, shape (n, n), symmetric, 1 on the diagonal
    containment : pandas.DataFrame, shape (n, n); row A, column B holds ``|A ∩ B| / |A|``
    """

    names: list[str]
    jaccard: pd.DataFrame
    containment: pd.DataFrame


def compare(sketches: Sequence[Sketch]) -> Comparison:
    """Jaccard and containment matrices between sketches made with the same k, scaled and seed.

    An empty sketch has Jaccard 0 and containment 0 with every other sketch (and NaN with itself
    only if empty: 0/0 is reported as 0).
    """
    if not sketches:
        raise ConfigError("no sketches to compare")
    first = sketches[0]
    for s in sketches[1:]:
        if (s.k, s.scaled, s.seed) != (first.k, first.scaled, first.seed):
            raise InputError(
                f"sketch {s.name!r} was made with k={s.k}, scaled={s.scaled}, seed={s.seed} but "
                f"{first.name!r} with k={first.k}, scaled={first.scaled}, seed={first.seed}; "
                "only sketches made with the same parameters can be compared"
            )
    n = len(sketches)
    common = np.zeros((n, n), dtype=np.int64)
    sizes = np.array([len(s) for s in sketches], dtype=np.int64)
    for i in range(n):
        common[i, i] = sizes[i]
        for j in range(i + 1, n):
            common[i, j] = common[j, i] = _kernels.count_common(
                sketches[i].hashes, sketches[j].hashes
            )
    union = sizes[:, None] + sizes[None, :] - common
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, common / np.maximum(union, 1), 0.0)
        contain = np.where(sizes[:, None] > 0, common / np.maximum(sizes[:, None], 1), 0.0)
    names = _unique_names([s.name for s in sketches])
    return Comparison(
        names,
        pd.DataFrame(jaccard, index=names, columns=names),
        pd.DataFrame(contain, index=names, columns=names),
    )


def compare_files(paths: Sequence[str | os.PathLike]) -> Comparison:
    """:func:`compare` on sketch files."""
    return compare([read_sketch(p) for p in paths])


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 1
            out.append(name)
    return out
