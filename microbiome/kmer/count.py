"""Exact canonical k-mer counting: radix-partitioned hash tables filled by numba kernels.

Plan (one batch of reads at a time, so memory follows the number of distinct k-mers):

1. The batch is cut into one slice of reads per thread; each thread histograms its canonical
   k-mers by *partition* (the top ``p = min(10, 2k)`` bits of the k-mer, i.e. its first bases),
   then scatters them into a shared buffer grouped by partition (a radix partition).
2. Every partition has its own open-addressing table, owned by one thread, so the threads
   insert without locks. A slot is one ``uint64``: the k-mer's low bits (the partition bits are
   implicit) and a small inline counter, overflowing into a side table for very frequent
   k-mers. A table that reaches its maximum load grows by 1.5x (rehash) without losing counts.
3. At the end every partition is sorted on its own and written at its place in the count file:
   partitions are ordered by prefix, so the file is globally sorted without a global sort.

The kernels release the GIL; threads are plain Python threads that call them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from microbiome.errors import ConfigError
from microbiome.io.atomic import atomic_path
from microbiome.kmer import _kernels
from microbiome.kmer.encoding import check_k
from microbiome.kmer.format import CountsHeader

log = logging.getLogger(__name__)

#: FASTQ text per batch read from the input.
CHUNK_BYTES = 16 << 20
#: Most partition bits: 2**10 partitions keep each table small (cache friendly) at any size.
MAX_PARTITION_BITS = 10
INITIAL_SLOTS = 1 << 10
INITIAL_OVERFLOW = 1 << 4
MAX_LOAD = 0.9
GROWTH = 1.5


@dataclass(frozen=True)
class CountSummary:
    """What a counting run saw and wrote."""

    k: int
    reads: int
    bases: int
    total_kmers: int
    distinct_kmers: int
    written_kmers: int
    min_count: int


class KmerCounter:
    """Exact counter of canonical k-mers, fed batch by batch.

    Parameters
    ----------
    k
        K-mer length, 1 to 31.
    threads
        Threads used for partitioning, inserting and writing.
    partition_bits, count_bits, initial_slots, max_load
        Table tuning; the defaults are what the benchmark chose. Tests lower ``count_bits`` and
        ``initial_slots`` to exercise the overflow and growth paths.
    """

    def __init__(
        self,
        k: int,
        *,
        threads: int = 1,
        partition_bits: int | None = None,
        count_bits: int | None = None,
        initial_slots: int = INITIAL_SLOTS,
        max_load: float = MAX_LOAD,
    ) -> None:
        self.k = check_k(k)
        if threads < 1:
            raise ConfigError(f"threads must be at least 1 (got {threads})")
        self.threads = int(threads)
        pbits = min(MAX_PARTITION_BITS, 2 * self.k) if partition_bits is None else partition_bits
        if not 0 <= pbits <= 2 * self.k:
            raise ValueError("partition_bits must be from 0 to 2k")
        self.partition_bits = pbits
        self.rbits = 2 * self.k - pbits
        self.cbits = min(32, 64 - self.rbits) if count_bits is None else count_bits
        if not 1 <= self.cbits <= 64 - self.rbits or self.cbits > 32:
            raise ValueError("count_bits must be from 1 to min(32, 64 - remainder bits)")
        if not 0.1 <= max_load <= 0.95:
            raise ValueError("max_load must be from 0.1 to 0.95")
        self.max_load = max_load
        self.n_partitions = 1 << pbits
        slots = max(int(initial_slots), 4)
        if self.rbits < 30:  # a partition never holds more than 2**rbits k-mers
            slots = min(slots, max(4, int((1 << self.rbits) / max_load) + 2))
        P = self.n_partitions
        self.tables: list[np.ndarray | None] = [_zeros(slots) for _ in range(P)]
        self.filled = [0] * P
        self.max_fill = [self._max_fill(slots)] * P
        self.overflow = [np.zeros(2 * INITIAL_OVERFLOW, np.uint64) for _ in range(P)]
        self.overflow_filled = [0] * P
        self.overflow_max = [INITIAL_OVERFLOW // 2] * P
        self.owned = [list(range(t, P, self.threads)) for t in range(self.threads)]
        self.reads = 0
        self.bases = 0
        self.total_kmers = 0
        self._buffer = np.empty(0, dtype=np.uint64)
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    # -- feeding -------------------------------------------------------------------------------

    def _max_fill(self, slots: int) -> int:
        return min(slots - 1, int(slots * self.max_load))

    def _map(self, fn: Callable[[int], object]) -> list:
        if self._pool is None:
            return [fn(0)]
        return list(self._pool.map(fn, range(self.threads)))

    def add(self, seq: np.ndarray, offsets: np.ndarray) -> None:
        """Count the canonical k-mers of one batch (``seq`` uint8 ASCII, ``offsets`` int64 n+1)."""
        if self.tables[0] is None:
            raise RuntimeError("this counter has been written out already")
        n_reads = offsets.shape[0] - 1
        if n_reads <= 0:
            return
        self.reads += n_reads
        self.bases += int(offsets[-1] - offsets[0])
        T = self.threads
        cuts = np.searchsorted(offsets, np.linspace(offsets[0], offsets[-1], T + 1)[1:-1])
        bounds = [0, *[int(c) for c in cuts], n_reads]
        P = self.n_partitions
        hist = np.zeros((T, P), dtype=np.int64)
        table = _kernels.ENCODE_TABLE
        k, rbits = self.k, self.rbits

        def histogram(t: int) -> None:
            _kernels.partition_histogram(
                seq, offsets, bounds[t], bounds[t + 1], table, k, rbits, hist[t]
            )

        self._map(histogram)
        per_partition = hist.sum(axis=0)
        starts = np.zeros(P + 1, dtype=np.int64)
        np.cumsum(per_partition, out=starts[1:])
        total = int(starts[-1])
        if total == 0:
            return
        self.total_kmers += total
        if self._buffer.shape[0] < total:
            self._buffer = np.empty(int(total * 1.25), dtype=np.uint64)
        buffer = self._buffer
        cursors = starts[:-1] + np.cumsum(hist, axis=0) - hist  # where thread t starts in p

        def scatter(t: int) -> None:
            _kernels.partition_scatter(
                seq, offsets, bounds[t], bounds[t + 1], table, k, rbits, cursors[t], buffer
            )

        self._map(scatter)
        nonempty = per_partition > 0
        bounds_p = starts.tolist()

        def insert(t: int) -> None:
            for p in self.owned[t]:
                if nonempty[p]:
                    self._insert(p, buffer, bounds_p[p], bounds_p[p + 1])

        self._map(insert)

    def _insert(self, p: int, buffer: np.ndarray, start: int, end: int) -> None:
        while True:
            start, self.filled[p], self.overflow_filled[p], status = _kernels.table_insert(
                self.tables[p],
                self.filled[p],
                self.max_fill[p],
                buffer,
                start,
                end,
                self.rbits,
                self.cbits,
                self.overflow[p],
                self.overflow_filled[p],
                self.overflow_max[p],
            )
            if status == _kernels.DONE:
                return
            if status == _kernels.TABLE_FULL:
                old = self.tables[p]
                slots = max(int(old.shape[0] * GROWTH), old.shape[0] + 4)
                new = _zeros(slots)
                _kernels.table_rehash(old, new, self.cbits)
                self.tables[p] = new
                self.max_fill[p] = self._max_fill(slots)
            else:
                old = self.overflow[p]
                new = np.zeros(2 * old.shape[0], dtype=np.uint64)
                self.overflow_filled[p] = _kernels.overflow_rehash(old, new)
                self.overflow[p] = new
                self.overflow_max[p] = new.shape[0] // 4

    @property
    def distinct_kmers(self) -> int:
        return sum(self.filled)

    @property
    def table_bytes(self) -> int:
        """Memory held by the tables."""
        return sum(t.nbytes for t in self.tables if t is not None) + sum(
            o.nbytes for o in self.overflow
        )

    # -- results -------------------------------------------------------------------------------

    def _partition_items(self, p: int, min_count: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.filled[p]
        kmers = np.empty(n, dtype=np.uint64)
        counts = np.empty(n, dtype=np.uint32)
        m = _kernels.table_extract(
            self.tables[p], n, self.cbits, self.overflow[p], p, self.rbits, min_count, kmers, counts
        )
        return kmers[:m], counts[:m]

    def items(self, min_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """All k-mers counted at least ``min_count`` times, ascending, and their counts.

        Returns
        -------
        (numpy.ndarray uint64, numpy.ndarray uint32)
        """
        parts = [self._partition_items(p, min_count) for p in range(self.n_partitions)]
        return (
            np.concatenate([a for a, _ in parts]) if parts else np.empty(0, np.uint64),
            np.concatenate([b for _, b in parts]) if parts else np.empty(0, np.uint32),
        )

    def write(self, path: str | os.PathLike, min_count: int = 1) -> CountSummary:
        """Write the count file (atomically) and release the tables partition by partition."""
        if min_count < 1:
            raise ConfigError(f"minimum count must be at least 1 (got {min_count})")
        if self.tables[0] is None:
            raise RuntimeError("this counter has been written out already")
        P = self.n_partitions
        sizes = np.zeros(P, dtype=np.int64)

        def measure(t: int) -> None:
            for p in self.owned[t]:
                if self.filled[p]:
                    sizes[p] = _kernels.count_at_least(
                        self.tables[p], self.cbits, self.overflow[p], min_count
                    )

        self._map(measure)
        starts = np.zeros(P + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])
        n = int(starts[-1])
        distinct = self.distinct_kmers
        header = CountsHeader(
            k=self.k,
            canonical=True,
            n=n,
            min_count=min_count,
            total_kmers=self.total_kmers,
            distinct_kmers=distinct,
        )
        with atomic_path(path, seekable=True) as tmp:  # written at offsets
            fd = os.open(tmp, os.O_WRONLY)
            try:
                os.ftruncate(fd, header.file_size)  # a regular file, whatever the output
                _pwrite(fd, header.pack(), 0)

                def dump(t: int) -> None:
                    for p in self.owned[t]:
                        if sizes[p]:
                            kmers, counts = self._partition_items(p, min_count)
                            _pwrite(fd, kmers, header.kmers_offset + 8 * int(starts[p]))
                            _pwrite(fd, counts, header.counts_offset + 4 * int(starts[p]))
                        self.tables[p] = None  # give the memory back as we go

                self._map(dump)
            finally:
                os.close(fd)
        self.close()
        return CountSummary(
            self.k, self.reads, self.bases, self.total_kmers, distinct, n, min_count
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _zeros(n: int) -> np.ndarray:
    """A zeroed uint64 table. (A separate anonymous mmap per table returned freed memory to
    the system but made counting 60 % slower here: benchmarks/README.md.)"""
    return np.zeros(n, dtype=np.uint64)


def _pwrite(fd: int, data: bytes | np.ndarray, offset: int) -> None:
    view = memoryview(data if isinstance(data, bytes) else np.ascontiguousarray(data)).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _batches(paths: Iterable[str | os.PathLike], chunk_bytes: int) -> Iterator:
    from microbiome.io.reads import read_batches

    for path in paths:
        log.info("counting k-mers of %s", os.fspath(path))
        yield from read_batches(path, chunk_bytes=chunk_bytes)


def count_kmers(
    paths: Iterable[str | os.PathLike],
    output: str | os.PathLike,
    k: int,
    *,
    threads: int = 1,
    min_count: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
) -> CountSummary:
    """Count the canonical k-mers of reads files into a count file.

    Parameters
    ----------
    paths
        FASTQ or FASTA files (plain or compressed), counted together.
    output
        The ``.kmers`` file to write (see :mod:`microbiome.kmer.format`).
    k
        K-mer length, 1 to 31.
    threads
        Worker threads; reading runs in one more background thread.
    min_count
        Only k-mers seen at least this often are written.
    """
    from microbiome.io.reads import prefetch

    k = check_k(k)
    if min_count < 1:
        raise ConfigError(f"minimum count must be at least 1 (got {min_count})")
    paths = list(paths)
    if not paths:
        raise ConfigError("no reads files given")
    counter = KmerCounter(k, threads=threads)
    try:
        for batch in prefetch(_batches(paths, chunk_bytes)):
            counter.add(batch.seq, batch.offsets)
        log.info(
            "%d reads, %d k-mers, %d distinct; tables %.1f MiB",
            counter.reads,
            counter.total_kmers,
            counter.distinct_kmers,
            counter.table_bytes / 2**20,
        )
        return counter.write(output, min_count)
    finally:
        counter.close()
