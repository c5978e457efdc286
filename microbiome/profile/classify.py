"""Read classification against a profiling database with Kraken 2's algorithm.

For each fragment (a single read, or a pair: the minimizers of both mates are pooled) the
minimizers are computed with the database's ``k``, ``w`` and seed and looked up; each hit names
a taxon (the LCA of the reference genomes holding that minimizer). The score of a hit taxon is
the number of hits on its root-to-taxon path, and the call is the taxon of highest score (the
LCA of the taxa tied for it). With a confidence threshold ``c`` (Kraken 2's ``--confidence``),
the call then moves up the tree until the hits inside its clade are at least ``c`` times the
fragment's minimizers; past the root the fragment is unclassified. Fragments with fewer than
``min_hit_groups`` hits (Kraken 2's ``--minimum-hit-groups``, default 2) are unclassified, as
are reads without a valid minimizer (shorter than ``k + w - 1`` valid bases).

One difference from Kraken 2: hits are counted per minimizer (each distinct minimizer of a run
of windows once), not per k-mer position, so the hit list of the per-read output and the
confidence fraction are in minimizers.

Reads stream in batches; each batch is split over the worker threads (the kernels release the
GIL), so memory depends on the batch size, not on the number of reads.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from microbiome.errors import ConfigError
from microbiome.io.atomic import atomic_path
from microbiome.io.reads import (
    AlignmentSummary,
    ReadBatch,
    is_alignment_file,
    is_paired,
    read_batches,
    read_paired_batches,
)
from microbiome.kmer.encoding import batch_minimizers
from microbiome.profile import _kernels
from microbiome.profile.database import DEFAULT_MIN_HIT_GROUPS, Database, load_database
from microbiome.progress import Progress

log = logging.getLogger("microbiome")


#: FASTQ bytes per batch. Smaller than the readers' default: lookups in the database cost far
#: more than parsing, so small batches keep both threads busy and add little to the memory
#: beside the (memory-mapped) database (peak 270 vs 338 MB at 4 MB on the benchmark's database).
CHUNK_BYTES = 1 << 20


@dataclass
class Classification:
    """Counts of a classified sample (no per-read data: the sample may be large).

    Attributes
    ----------
    direct_counts : dict of int to int
        Fragments assigned directly to each taxid; key 0 holds the unclassified fragments.
    total_reads : int
        Fragments classified (a pair counts once).
    unclassified : int
        Fragments without a call (also ``direct_counts[0]``).
    paired : bool
    confidence : float
    minimizers : int
        Minimizers of all fragments.
    hits : int
        Minimizers found in the database.
    seconds : float
        Wall time of the classification.
    """

    direct_counts: dict[int, int]
    total_reads: int
    unclassified: int
    paired: bool = False
    confidence: float = 0.0
    minimizers: int = 0
    hits: int = 0
    seconds: float = 0.0
    database: str = ""

    @property
    def classified(self) -> int:
        """Fragments with a call."""
        return self.total_reads - self.unclassified


@dataclass
class _Result:
    """What a worker returns for a slice of a batch."""

    calls: np.ndarray  # int32 node or -1
    totals: np.ndarray  # int64 minimizers per fragment
    hits: tuple[np.ndarray, ...]  # per mate: int32 node (or -1) per minimizer
    starts: tuple[np.ndarray, ...]  # per mate: int64 fragment starts into hits
    batches: tuple[ReadBatch, ...]


def _mate_hits(db: Database, batch: ReadBatch) -> tuple[np.ndarray, np.ndarray]:
    """(node hit by each minimizer, fragment starts) of one mate's batch."""
    mins = batch_minimizers(batch.seq, batch.offsets, db.k, db.w, db.seed)
    hits = db.lookup(mins.values)
    starts = np.searchsorted(mins.reads, np.arange(len(batch) + 1, dtype=np.int64)).astype(np.int64)
    return hits, starts


def classify_batch(
    db: Database,
    batch1: ReadBatch,
    batch2: ReadBatch | None = None,
    *,
    confidence: float = 0.0,
    min_hit_groups: int = DEFAULT_MIN_HIT_GROUPS,
) -> _Result:
    """Classify one batch of reads (or of pairs: ``batch2`` holds the mates)."""
    hits1, starts1 = _mate_hits(db, batch1)
    if batch2 is not None:
        hits2, starts2 = _mate_hits(db, batch2)
    else:
        hits2 = np.empty(0, dtype=np.int32)
        starts2 = np.zeros(len(batch1) + 1, dtype=np.int64)
    n = len(batch1)
    calls = np.empty(n, dtype=np.int32)
    totals = np.empty(n, dtype=np.int64)
    tax = db.taxonomy
    _kernels.classify_fragments(
        hits1,
        starts1,
        hits2,
        starts2,
        batch2 is not None,
        tax.parents,
        tax.depth,
        float(confidence),
        int(min_hit_groups),
        calls,
        totals,
    )
    if batch2 is None:
        return _Result(calls, totals, (hits1,), (starts1,), (batch1,))
    return _Result(calls, totals, (hits1, hits2), (starts1, starts2), (batch1, batch2))


def sequences_batch(sequences: list[str | bytes]) -> ReadBatch:
    """A :class:`~microbiome.io.reads.ReadBatch` (no qualities, empty names) of sequences."""
    encoded = [s.encode("ascii") if isinstance(s, str) else bytes(s) for s in sequences]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in encoded], out=offsets[1:])
    seq = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return ReadBatch(
        seq, None, offsets, np.empty(0, dtype=np.uint8), np.zeros_like(offsets), first_record=0
    )


def classify_sequences(
    db: Database,
    sequences: list[str | bytes],
    *,
    threads: int = 1,
    confidence: float = 0.0,
    min_hit_groups: int = DEFAULT_MIN_HIT_GROUPS,
    pool: ThreadPoolExecutor | None = None,
) -> Classification:
    """Classify in-memory sequences as single reads (for example windows of reference genomes).

    This is the ``classify_windows`` callable of
    :func:`microbiome.profile.abundance.kmer_distribution`: the counts of where the classifier
    puts each sequence, with the same algorithm as :func:`classify_reads`.

    Parameters
    ----------
    db : Database
    sequences : list of str or bytes
        DNA sequences (ACGT, any case; other letters break k-mers as in reads).
    threads : int, default 1
        The batch is split into this many parts, classified in parallel.
    confidence, min_hit_groups
        As for :func:`classify_reads`.
    pool : ThreadPoolExecutor, optional
        An executor of ``threads`` workers to reuse over many calls (else one is made per call
        when ``threads > 1``).

    Returns
    -------
    Classification
        Direct counts per taxid (key 0 unclassified); ``total_reads == len(sequences)``.
    """
    if threads < 1:
        raise ConfigError(f"threads must be at least 1 (got {threads})")
    started = time.monotonic()
    counts = np.zeros(len(db.taxonomy) + 1, dtype=np.int64)
    minimizers = hits = 0
    if sequences:
        batch = sequences_batch(sequences)
        parts = list(_split((batch,), threads))
        kwargs = {"confidence": confidence, "min_hit_groups": min_hit_groups}
        if pool is None and threads > 1:
            with ThreadPoolExecutor(max_workers=threads) as own:
                results = list(own.map(lambda p: classify_batch(db, *p, **kwargs), parts))
        elif pool is not None:
            results = list(pool.map(lambda p: classify_batch(db, *p, **kwargs), parts))
        else:
            results = [classify_batch(db, *p, **kwargs) for p in parts]
        for result in results:
            counts += np.bincount(result.calls + 1, minlength=counts.shape[0])
            minimizers += int(result.totals.sum())
            hits += sum(int((h >= 0).sum()) for h in result.hits)
    return _classification(db, counts, False, confidence, minimizers, hits, started)


def _classification(
    db: Database,
    counts: np.ndarray,
    paired: bool,
    confidence: float,
    minimizers: int,
    hits: int,
    started: float,
) -> Classification:
    """A Classification of per-node counts (slot 0: unclassified, slot i + 1: node i)."""
    taxids = db.taxonomy.taxids
    total = int(counts.sum())
    direct = {0: int(counts[0])}
    for node in np.flatnonzero(counts[1:]).tolist():
        direct[int(taxids[node])] = int(counts[node + 1])
    return Classification(
        direct_counts=direct,
        total_reads=total,
        unclassified=direct[0],
        paired=paired,
        confidence=float(confidence),
        minimizers=minimizers,
        hits=hits,
        seconds=round(time.monotonic() - started, 3),
        database=db.path,
    )


def format_reads(result: _Result, taxids: np.ndarray) -> bytes:
    """Kraken-style per-read lines of one batch (``C/U, read ID, taxid, length(s), hit list``),
    formatted by a numba kernel (in the worker threads)."""
    first = result.batches[0]
    paired = len(result.batches) == 2
    second = result.batches[1] if paired else first
    hits2 = result.hits[1] if paired else result.hits[0][:0]
    starts2 = result.starts[1] if paired else result.starts[0]
    size = first.name_data.shape[0] + 24 * (result.hits[0].shape[0] + hits2.shape[0])
    out = np.empty(size + 80 * len(first) + 16, dtype=np.uint8)
    n = _kernels.format_kraken(
        result.calls,
        taxids,
        first.name_data,
        first.name_offsets,
        first.offsets,
        second.offsets,
        paired,
        result.hits[0],
        result.starts[0],
        hits2,
        starts2,
        out,
    )
    return out[:n].tobytes()


def _classify_and_format(
    db: Database,
    *batches: ReadBatch,
    confidence: float,
    min_hit_groups: int,
    taxids: np.ndarray | None,
):
    """classify_batch, plus the per-read lines when ``taxids`` is given (else None)."""
    result = classify_batch(db, *batches, confidence=confidence, min_hit_groups=min_hit_groups)
    return result, None if taxids is None else format_reads(result, taxids)


def _split(batches: tuple[ReadBatch, ...], parts: int) -> Iterator[tuple[ReadBatch, ...]]:
    n = len(batches[0])
    step = max(1, -(-n // parts))
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield tuple(b.slice(start, stop) for b in batches)


def classify_reads(
    database: Database | str | os.PathLike,
    reads1: str | os.PathLike,
    reads2: str | os.PathLike | None = None,
    *,
    threads: int = 2,
    confidence: float = 0.0,
    min_hit_groups: int = DEFAULT_MIN_HIT_GROUPS,
    output: str | os.PathLike | None = None,
) -> Classification:
    """Classify the reads of one sample.

    Parameters
    ----------
    database
        A loaded :class:`~microbiome.profile.database.Database` or the path of one.
    reads1, reads2
        FASTQ/FASTA (any compression) or SAM/BAM/CRAM; ``reads2`` the mate file of paired reads.
        Without ``reads2``, an interleaved ``reads1`` is read as pairs (see
        :func:`microbiome.io.reads.is_interleaved`).
    threads
        Worker threads (each batch is split among them).
    confidence
        Kraken 2's confidence threshold, from 0 to 1.
    min_hit_groups
        Fewest minimizer hits for a call.
    output
        Optional per-read output (Kraken style; gzip if the name ends in ``.gz``), written
        atomically as the reads stream.

    Returns
    -------
    Classification
    """
    if not 0.0 <= confidence <= 1.0:
        raise ConfigError(f"confidence must be from 0 to 1 (got {confidence})")
    if threads < 1:
        raise ConfigError(f"threads must be at least 1 (got {threads})")
    if min_hit_groups < 0:
        raise ConfigError(f"minimum hit groups must be 0 or more (got {min_hit_groups})")
    started = time.monotonic()
    db = database if isinstance(database, Database) else load_database(database)
    taxids = db.taxonomy.taxids
    paired = is_paired(reads1, reads2)
    alignment = AlignmentSummary(os.fspath(reads1)) if is_alignment_file(reads1) else None
    if paired:
        source: Iterator[tuple[ReadBatch, ...]] = read_paired_batches(
            reads1, reads2, threads=threads, chunk_bytes=CHUNK_BYTES, alignment=alignment
        )
    else:
        source = (
            (b,)
            for b in read_batches(
                reads1,
                chunk_bytes=CHUNK_BYTES,
                open_threads=1 if threads > 1 else 0,
                alignment=alignment,
            )
        )
    counts = np.zeros(len(taxids) + 1, dtype=np.int64)  # slot 0: unclassified
    minimizers = 0
    hits = 0
    with ExitStack() as stack:
        out = None
        if output is not None:
            from xopen import xopen

            tmp = stack.enter_context(atomic_path(output))
            fmt = "gz" if os.fspath(output).endswith(".gz") else None
            out = stack.enter_context(xopen(tmp, "wb", format=fmt, compresslevel=1))
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=threads))
        progress = stack.enter_context(Progress("classify", unit="pairs" if paired else "reads"))
        pending: deque[Future] = deque()

        def drain(limit: int) -> None:
            nonlocal minimizers, hits
            while len(pending) > limit:
                result, lines = pending.popleft().result()
                counts[:] += np.bincount(result.calls + 1, minlength=counts.shape[0])
                minimizers += int(result.totals.sum())
                hits += sum(int((h >= 0).sum()) for h in result.hits)
                progress.update(len(result.calls))
                if out is not None:
                    out.write(lines)

        for batches in source:
            for part in _split(batches, threads):
                pending.append(
                    pool.submit(
                        _classify_and_format,
                        db,
                        *part,
                        confidence=confidence,
                        min_hit_groups=min_hit_groups,
                        taxids=taxids if out is not None else None,
                    )
                )
            drain(threads)
        drain(0)
    result = _classification(db, counts, paired, confidence, minimizers, hits, started)
    # No time in the info line: a job's log is the same on every run (timings: -v, benchmarks).
    log.info(
        "classified %d of %d %s (%.1f%%)",
        result.classified,
        result.total_reads,
        "pairs" if paired else "reads",
        100 * result.classified / max(result.total_reads, 1),
    )
    log.debug("classification took %.1f s", result.seconds)
    return result


__all__ = [
    "DEFAULT_MIN_HIT_GROUPS",
    "Classification",
    "classify_batch",
    "classify_reads",
    "classify_sequences",
    "sequences_batch",
]
