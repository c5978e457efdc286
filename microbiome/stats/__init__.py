"""Per-sample read statistics: counts, lengths, composition and qualities, streamed in batches.

Figures follow ``seqkit stats -a`` where both report the same thing (N50, Q20/Q30 percentages
of bases); length quartiles are those of the read-length distribution (median of each half).
GC percent is (G + C) / (A + C + G + T), so Ns and other codes do not dilute it; the N rate is the
fraction of all bases that are N.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from microbiome import __version__
from microbiome.errors import InputError
from microbiome.io.reads import (
    DEFAULT_CHUNK_BYTES,
    AlignmentSummary,
    ReadBatch,
    is_alignment_file,
    is_paired,
    prefetch,
    read_batches,
    read_paired_batches,
)
from microbiome.stats._kernels import (
    BASE_INDEX,
    N_QUAL,
    accumulate_bases,
    accumulate_qualities,
)

#: Scalar columns of the merged table, in order.
SUMMARY_COLUMNS = (
    "reads",
    "bases",
    "min_len",
    "mean_len",
    "max_len",
    "q1_len",
    "median_len",
    "q3_len",
    "n50",
    "gc_percent",
    "n_percent",
    "mean_quality",
    "q20_percent",
    "q30_percent",
)


@dataclass
class ReadStats:
    """Statistics of one stream of reads (a file, or one mate of an interleaved file)."""

    file: str
    mate: str = "SE"
    reads: int = 0
    base_counts: np.ndarray = field(default_factory=lambda: np.zeros(6, dtype=np.int64))
    length_counts: Counter = field(default_factory=Counter)
    qual_hist: np.ndarray = field(default_factory=lambda: np.zeros(N_QUAL, dtype=np.int64))
    read_qual_hist: np.ndarray = field(default_factory=lambda: np.zeros(N_QUAL, dtype=np.int64))
    has_qualities: bool = True
    #: For a SAM/BAM/CRAM (first mate): :meth:`AlignmentSummary.to_dict` of its reading.
    alignment: dict | None = None
    #: One mate of an interleaved FASTQ/FASTA: record ``i`` of a batch is record ``2 i`` (R1)
    #: or ``2 i + 1`` (R2) of the file, for the lines of error messages.
    interleaved: bool = False

    def add(self, batch: ReadBatch) -> None:
        """Add one batch; raises InputError on a non-letter base or an out-of-range quality."""
        bad = accumulate_bases(batch.seq, BASE_INDEX, self.base_counts)
        if bad >= 0:
            read = int(np.searchsorted(batch.offsets, bad, side="right")) - 1
            self._bad(
                batch, read, 2, f"sequence contains an invalid character {chr(batch.seq[bad])!r}"
            )
        lengths = np.diff(batch.offsets)
        if len(lengths) and lengths.max() <= 1 << 20:  # short reads: a histogram is cheapest
            counts = np.bincount(lengths)
            values = np.flatnonzero(counts)
            counts = counts[values]
        else:
            values, counts = np.unique(lengths, return_counts=True)
        self.length_counts.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))
        if batch.qual is None:
            self.has_qualities = False
        else:
            bad = accumulate_qualities(
                batch.qual, batch.offsets, self.qual_hist, self.read_qual_hist
            )
            if bad >= 0:
                read = int(np.searchsorted(batch.offsets, bad, side="right")) - 1
                self._bad(
                    batch,
                    read,
                    4,
                    f"quality character {chr(batch.qual[bad])!r} is outside the Phred+33 range "
                    "'!'..'~'",
                )
        self.reads += len(batch)

    def merge(self, other: ReadStats) -> None:
        """Add the counts of ``other`` (statistics of more reads of the same stream)."""
        self.reads += other.reads
        self.base_counts += other.base_counts
        self.length_counts.update(other.length_counts)
        self.qual_hist += other.qual_hist
        self.read_qual_hist += other.read_qual_hist
        self.has_qualities = self.has_qualities and other.has_qualities

    def _bad(self, batch: ReadBatch, read: int, line_in_record: int, message: str) -> None:
        index = batch.first_record + read
        if self.interleaved:
            index = 2 * index + (self.mate == "R2")
        if batch.qual is not None and not is_alignment_file(self.file):
            raise InputError(message, file=self.file, line=4 * index + line_in_record)
        raise InputError(f"record {index + 1} ({batch.name(read)}): {message}", file=self.file)

    @property
    def bases(self) -> int:
        return int(self.base_counts.sum())

    def summary(self) -> dict:
        """The scalar figures (SUMMARY_COLUMNS) as plain Python numbers."""
        lengths = np.array(sorted(self.length_counts), dtype=np.int64)
        counts = np.array([self.length_counts[v] for v in lengths], dtype=np.int64)
        bases = self.bases
        a, c, g, t, n, _ = (int(x) for x in self.base_counts)
        acgt = a + c + g + t
        phred = np.arange(N_QUAL)
        out = {
            "reads": self.reads,
            "bases": bases,
            "min_len": int(lengths[0]) if self.reads else 0,
            "mean_len": round(bases / self.reads, 2) if self.reads else 0.0,
            "max_len": int(lengths[-1]) if self.reads else 0,
            "q1_len": _quartile(lengths, counts, 1),
            "median_len": _quartile(lengths, counts, 2),
            "q3_len": _quartile(lengths, counts, 3),
            "n50": _n50(lengths, counts),
            "gc_percent": round(100 * (g + c) / acgt, 2) if acgt else 0.0,
            "n_percent": round(100 * n / bases, 4) if bases else 0.0,
            "mean_quality": None,
            "q20_percent": None,
            "q30_percent": None,
        }
        if self.has_qualities and bases:
            out["mean_quality"] = round(float(phred @ self.qual_hist) / bases, 2)
            out["q20_percent"] = round(100 * float(self.qual_hist[20:].sum()) / bases, 2)
            out["q30_percent"] = round(100 * float(self.qual_hist[30:].sum()) / bases, 2)
        return out

    def to_dict(self) -> dict:
        """Summary plus histograms, JSON-ready."""
        out = {"mate": self.mate, "file": self.file, **self.summary()}
        out["base_composition"] = dict(
            zip(("A", "C", "G", "T", "N", "other"), self.base_counts.tolist(), strict=True)
        )
        out["length_histogram"] = {str(k): v for k, v in sorted(self.length_counts.items())}
        if self.has_qualities:
            out["quality_histogram"] = _trim_hist(self.qual_hist)
            out["read_mean_quality_histogram"] = _trim_hist(self.read_qual_hist)
        if self.alignment is not None:
            out["alignment"] = self.alignment
        return out


def _trim_hist(hist: np.ndarray) -> dict:
    """Phred score -> count, for the scores that occur."""
    return {str(q): int(v) for q, v in enumerate(hist) if v}


def _quartile(lengths: np.ndarray, counts: np.ndarray, which: int) -> float:
    """Quartile of the length distribution given as (value, count) pairs.

    Median of the whole for Q2, and of the lower and upper halves for Q1 and Q3 (the middle value
    excluded when the count is odd), averaging the two middle values of an even count.
    """
    n = int(counts.sum())
    if n == 0:
        return 0.0
    cum = np.cumsum(counts)

    def at(k: int) -> int:  # k-th smallest value, 0-based
        return int(lengths[np.searchsorted(cum, k, side="right")])

    def median(lo: int, hi: int) -> float:  # median of the k-th values lo..hi-1
        m = hi - lo
        if m <= 0:
            return 0.0
        mid = lo + m // 2
        return float(at(mid)) if m % 2 else (at(mid - 1) + at(mid)) / 2

    if which == 2:
        return median(0, n)
    if n == 1:
        return float(at(0))
    half = n // 2
    if which == 1:
        return median(0, half)
    return median(n - half, n)


def _n50(lengths: np.ndarray, counts: np.ndarray) -> int:
    """Smallest length L such that reads of length >= L hold at least half of all bases."""
    if counts.sum() == 0:
        return 0
    bases = lengths * counts
    cum = np.cumsum(bases[::-1])
    return int(lengths[::-1][np.searchsorted(cum, cum[-1] / 2)])


def file_stats(
    path: str | os.PathLike, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES, threads: int = 1
) -> ReadStats:
    """Statistics of every read of one file (FASTQ/FASTA/SAM/BAM/CRAM).

    Secondary and supplementary records of a SAM/BAM/CRAM are skipped and counted (the
    ``alignment`` entry); an aligned file is logged as a warning.
    """
    stats = ReadStats(os.fspath(path))
    alignment = AlignmentSummary(stats.file) if is_alignment_file(path) else None
    batches = read_batches(
        path, chunk_bytes=chunk_bytes, open_threads=1 if threads > 1 else 0, alignment=alignment
    )
    for batch in prefetch(batches) if threads > 1 else batches:
        stats.add(batch)
    stats.alignment = alignment.to_dict() if alignment is not None else None
    return stats


def paired_stats(
    path1: str | os.PathLike,
    path2: str | os.PathLike | None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int = 1,
) -> tuple[ReadStats, ReadStats]:
    """Statistics of both mates, checking that the files pair record by record.

    ``path2`` None means an interleaved file in ``path1``. With ``threads`` > 1 each
    file is decompressed, parsed and counted in a background thread of its own.
    """
    alignment = AlignmentSummary(os.fspath(path1)) if is_alignment_file(path1) else None
    interleaved = path2 is None and alignment is None
    r1 = ReadStats(os.fspath(path1), mate="R1", interleaved=interleaved)
    r2 = ReadStats(os.fspath(path2 if path2 is not None else path1), "R2", interleaved=interleaved)
    for _ in read_paired_batches(
        path1,
        path2,
        chunk_bytes=chunk_bytes,
        threads=threads,
        each=(r1.add, r2.add),
        alignment=alignment,
    ):
        pass  # counted as read, in the reading threads; this loop checks that mates pair
    r1.alignment = alignment.to_dict() if alignment is not None else None
    return r1, r2


def sample_stats(
    sample_id: str,
    fastq_1: str | os.PathLike,
    fastq_2: str | os.PathLike | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int = 1,
) -> dict:
    """Statistics of one sample, JSON-ready: layout, one entry per mate (R1/R2, or SE).

    A paired sample has ``fastq_2``, or is an interleaved file in ``fastq_1`` (a SAM/BAM/CRAM
    with paired records, or a FASTQ/FASTA whose mates alternate: see
    :func:`microbiome.io.reads.is_interleaved`).
    """
    paired = is_paired(fastq_1, fastq_2)
    if paired:
        mates = paired_stats(fastq_1, fastq_2, chunk_bytes=chunk_bytes, threads=threads)
    else:
        mates = (file_stats(fastq_1, chunk_bytes=chunk_bytes, threads=threads),)
    return {
        "sample_id": sample_id,
        "layout": "paired" if paired else "single",
        "pairs" if paired else "reads": mates[0].reads,
        "microbiome_version": __version__,
        "files": [m.to_dict() for m in mates],
    }


def merge_tables(samples: Iterable[dict]) -> list[dict]:
    """Rows of the merged table: one per sample and mate, with the scalar figures."""
    rows = []
    for sample in samples:
        for entry in sample["files"]:
            rows.append(
                {
                    "sample_id": sample["sample_id"],
                    "layout": sample["layout"],
                    "mate": entry["mate"],
                    "file": entry["file"],
                    **{k: entry[k] for k in SUMMARY_COLUMNS},
                }
            )
    return rows


def summary_columns() -> Sequence[str]:
    return ("sample_id", "layout", "mate", "file", *SUMMARY_COLUMNS)
