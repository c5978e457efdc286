"""The QC pipeline of one sample: trim, filter, remove host and duplicates, count everything.

Per read: 3' quality trimming and adapter removal (cutadapt), N trimming at both ends, then the
filters, in this order, each counted: too short, too many N, low complexity, host, duplicate.
A pair is dropped together unless ``keep_singletons`` is set, in which case a mate that passes
its own filters while the other fails is written to the singletons file. Host and duplicate
calls are made on the whole fragment (both mates).

Input is cut into chunks of whole records; with ``threads`` > 1 the chunks are processed by a
pool of worker processes (each also compresses its output, as concatenated gzip members) while
this process reads ahead and writes in order. Output files are written under temporary names
and renamed only when the whole sample is done.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import tempfile
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import dnaio
import numpy as np
from isal import igzip
from xopen import xopen

from microbiome import __version__
from microbiome.errors import ConfigError, InputError
from microbiome.io.atomic import atomic_path
from microbiome.io.reads import (
    AlignmentSummary,
    FastqScratch,
    ReadBatch,
    check_mates,
    check_readable,
    is_alignment_file,
    is_paired,
    parse_fastq_chunk,
    read_batches,
    read_error,
    read_paired_batches,
    stream_break,
)
from microbiome.kmer._kernels import ENCODE_TABLE
from microbiome.qc import _kernels, bowtie2
from microbiome.qc.fastp import run_fastp
from microbiome.qc.host import HostIndex, load_host_index
from microbiome.qc.trim import AdapterChoice, Trimmer, choose_adapters
from microbiome.stats import ReadStats, file_stats, paired_stats

log = logging.getLogger("microbiome")

#: Filters in the order they are applied; a read is counted under the first it fails.
READ_FILTERS = ("too_short", "too_many_n", "low_complexity")
FRAGMENT_FILTERS = ("host", "duplicate")
CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class QCSettings:
    """What QC does. Each field is the key of the same name under ``qc:`` in the config, where
    the schema (microbiome/schemas/config.schema.yaml) describes it, gives its range and its
    default (:meth:`from_mapping`)."""

    engine: str
    adapters: str
    adapter_error_rate: float
    adapter_min_overlap: int
    quality_cutoff: int
    trim_n: bool
    max_n: float
    min_length: int
    complexity_threshold: float
    host_method: str
    host_threshold: float
    dedup: bool
    keep_singletons: bool

    @classmethod
    def from_mapping(cls, values: dict | None = None, *, source: str | None = None) -> QCSettings:
        """Settings from ``values`` (e.g. the config's qc section), defaults from the schema.

        Every key is checked against the schema (ConfigError or ValidationErrors naming
        ``source`` and the key); keys that are not settings (threads, resources, ...) are
        ignored.
        """
        from microbiome.config import stage_settings

        return stage_settings(cls, "qc", values, source=source)


@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs; pickled once per task (it is small)."""

    settings: QCSettings
    adapters: AdapterChoice
    host_index: str | None
    paired: bool
    path1: str
    path2: str
    #: Both mates from one FASTQ, alternating: error lines count records of both mates.
    interleaved: bool = False


@dataclass
class Counts:
    """Reads and bases at each step, for one sample."""

    reads_in: int = 0
    bases_in: int = 0
    quality_trimmed_bases: int = 0
    adapter_trimmed_bases: int = 0
    reads_with_adapter: int = 0
    n_trimmed_bases: int = 0
    removed_reads: dict = field(
        default_factory=lambda: dict.fromkeys(READ_FILTERS + FRAGMENT_FILTERS, 0)
    )
    removed_bases: dict = field(
        default_factory=lambda: dict.fromkeys(READ_FILTERS + FRAGMENT_FILTERS, 0)
    )
    reads_out: int = 0
    bases_out: int = 0
    singleton_reads: int = 0
    singleton_bases: int = 0

    def merge(self, other: Counts) -> None:
        for name, value in vars(other).items():
            if isinstance(value, dict):
                for key, v in value.items():
                    getattr(self, name)[key] += v
            else:
                setattr(self, name, getattr(self, name) + value)


@dataclass
class _ChunkResult:
    counts: Counts
    before: list[ReadStats]
    after: list[ReadStats]
    outputs: list  # bytes per output stream (mate files, singletons), or kept batches for dedup
    hashes: np.ndarray | None = None


# ---------------------------------------------------------------- per-chunk work (in workers)

_STATE: dict = {}


def _state(plan: _Plan) -> tuple[list[Trimmer], HostIndex | None]:
    """Trimmers and host index of this process, built once per plan."""
    key = (plan.adapters, plan.settings, plan.host_index)
    if _STATE.get("key") != key:
        s = plan.settings
        mates = (
            (plan.adapters.mate1, plan.adapters.mate2) if plan.paired else (plan.adapters.mate1,)
        )
        trimmers = [
            Trimmer(adapters, s.quality_cutoff, s.adapter_error_rate, s.adapter_min_overlap)
            for adapters in mates
        ]
        host = load_host_index(plan.host_index) if plan.host_index else None
        _STATE.update(key=key, trimmers=trimmers, host=host)
    return _STATE["trimmers"], _STATE["host"]


def _records(data: bytes) -> list[dnaio.SequenceRecord]:
    return list(dnaio.open(io.BytesIO(data), fileformat="fastq"))


def _trim(batch: ReadBatch, data: bytes, trimmer: Trimmer, settings: QCSettings, counts: Counts):
    """Trimmed copy of the batch, from cutadapt's 3' trimming plus N-end trimming."""
    before = (trimmer.bases_quality, trimmer.bases_adapter, trimmer.with_adapter)
    lengths = trimmer.lengths(_records(data))
    counts.quality_trimmed_bases += trimmer.bases_quality - before[0]
    counts.adapter_trimmed_bases += trimmer.bases_adapter - before[1]
    counts.reads_with_adapter += trimmer.with_adapter - before[2]
    starts = np.empty(len(batch), dtype=np.int64)
    ends = np.empty(len(batch), dtype=np.int64)
    if settings.trim_n:
        counts.n_trimmed_bases += _kernels.trim_n_ends(
            batch.seq, batch.offsets, lengths, starts, ends
        )
    else:
        starts[:] = batch.offsets[:-1]
        ends[:] = starts + lengths
    return _subset(batch, np.ones(len(batch), dtype=np.bool_), starts, ends)


def _subset(batch: ReadBatch, keep: np.ndarray, starts=None, ends=None) -> ReadBatch:
    """The kept reads of a batch (optionally cut to [starts, ends)), packed."""
    if starts is None and keep.all():
        return batch
    if starts is None:
        starts, ends = batch.offsets[:-1], batch.offsets[1:]
    seq = np.empty(int((ends - starts)[keep].sum()), dtype=np.uint8)
    qual = np.empty_like(seq)
    offsets = np.empty(int(keep.sum()) + 1, dtype=np.int64)
    _kernels.gather(batch.seq, batch.qual, starts, ends, keep, seq, qual, offsets)
    names = np.empty(int(np.diff(batch.name_offsets)[keep].sum()), dtype=np.uint8)
    name_offsets = np.empty_like(offsets)
    _kernels.gather_names(batch.name_data, batch.name_offsets, keep, names, name_offsets)
    return ReadBatch(seq, qual, offsets, names, name_offsets, batch.first_record)


def _read_failures(batch: ReadBatch, settings: QCSettings) -> np.ndarray:
    """Index into READ_FILTERS of the first filter each read fails, or -1."""
    n = len(batch)
    lengths = np.diff(batch.offsets)
    fail = np.full(n, -1, dtype=np.int64)
    n_count = np.empty(n, dtype=np.int64)
    _kernels.count_n(batch.seq, batch.offsets, n_count)
    limit = settings.max_n * lengths if settings.max_n < 1 else np.full(n, settings.max_n)
    entropy = np.ones(n, dtype=np.float64)
    if settings.complexity_threshold > 0:
        _kernels.trimer_entropy(batch.seq, batch.offsets, ENCODE_TABLE, entropy)
    for i, failed in enumerate(
        (lengths < settings.min_length, n_count > limit, entropy < settings.complexity_threshold)
    ):
        fail[(fail < 0) & failed] = i
    return fail


def _format(batch: ReadBatch, compress: bool) -> bytes:
    out = np.empty(batch.seq.shape[0] * 2 + batch.name_data.shape[0] + 6 * len(batch), np.uint8)
    keep = np.ones(len(batch), dtype=np.bool_)
    n = _kernels.format_fastq(
        batch.name_data, batch.name_offsets, batch.seq, batch.qual, batch.offsets, keep, out
    )
    data = out[:n].tobytes()
    return _gzip(data) if compress and data else data


def _gzip(data: bytes) -> bytes:
    """One gzip member of ``data`` (level 1, no timestamp: the same input gives the same bytes;
    members written one after another form a valid gzip file)."""
    return igzip.compress(data, compresslevel=1, mtime=0)


def _count_removed(counts: Counts, step: str, batch: ReadBatch, mask: np.ndarray) -> None:
    counts.removed_reads[step] += int(mask.sum())
    counts.removed_bases[step] += int(np.diff(batch.offsets)[mask].sum())


def process_chunk(plan: _Plan, data1: bytes, data2: bytes | None, dedup: bool) -> _ChunkResult:
    """QC of one chunk of records (one or two mates). Runs in a worker process.

    Line numbers in its errors count from the chunk's start; ``_run_chunks`` shifts them.
    """
    s = plan.settings
    trimmers, host = _state(plan)
    datas = (data1, data2) if plan.paired else (data1,)
    paths = (plan.path1, plan.path2) if plan.paired else (plan.path1,)
    scratch = _STATE.setdefault("scratch", (FastqScratch(), FastqScratch()))  # reused per process
    raw = [
        parse_fastq_chunk(d, len(d), path=p, scratch=sc)[0]
        for d, p, sc in zip(datas, paths, scratch, strict=False)
    ]
    if plan.paired:
        if len(raw[0]) != len(raw[1]):
            raise InputError("paired files have different numbers of records", file=plan.path2)
        check_mates(raw[0], raw[1], plan.path1, plan.path2)
    counts = Counts()
    before = []
    for batch, path, mate in zip(raw, paths, ("R1", "R2") if plan.paired else ("SE",), strict=True):
        stats = ReadStats(path, mate=mate, interleaved=plan.interleaved)
        stats.add(batch)
        before.append(stats)
        counts.reads_in += len(batch)
        counts.bases_in += stats.bases
    trimmed = [_trim(b, d, t, s, counts) for b, d, t in zip(raw, datas, trimmers, strict=True)]
    fails = [_read_failures(b, s) for b in trimmed]
    n = len(trimmed[0])
    mate_ok = [f < 0 for f in fails]
    pair_ok = np.logical_and.reduce(mate_ok)
    for batch, fail, ok in zip(trimmed, fails, mate_ok, strict=True):
        # Count each failing read under its own first failure; a mate that passed its own
        # filters but goes because of the other is counted under the other's failure.
        mate_fail = fail.copy()
        if plan.paired and not s.keep_singletons:
            other = fails[1] if fail is fails[0] else fails[0]
            mate_fail[ok & ~pair_ok] = other[ok & ~pair_ok]
        for i, step in enumerate(READ_FILTERS):
            _count_removed(counts, step, batch, mate_fail == i)
    host_call = np.zeros(n, dtype=np.bool_)
    single_host = [np.zeros(n, dtype=np.bool_) for _ in trimmed]
    if host is not None:
        pair_hits = [host.hits(b) for b in trimmed]
        hits = sum(h for h, _ in pair_hits)
        totals = sum(t for _, t in pair_hits)
        with np.errstate(invalid="ignore", divide="ignore"):
            host_call = (totals > 0) & (hits >= s.host_threshold * totals)
        for j, (h, t) in enumerate(pair_hits):
            single_host[j] = (t > 0) & (h >= s.host_threshold * t)
    keep = pair_ok & ~host_call
    for batch in trimmed:
        _count_removed(counts, "host", batch, pair_ok & host_call)
    kept = [_subset(b, keep) for b in trimmed]
    singles = []
    if plan.paired and s.keep_singletons:
        for batch, ok, sh in zip(trimmed, mate_ok, single_host, strict=True):
            lone = ok & ~pair_ok
            _count_removed(counts, "host", batch, lone & sh)
            singles.append(_subset(batch, lone & ~sh))
    result = _ChunkResult(counts, before, [], [])
    if dedup:
        hashes = np.empty(len(kept[0]), dtype=np.uint64)
        second = kept[1] if plan.paired else kept[0]
        _kernels.fragment_hashes(
            kept[0].seq, kept[0].offsets, second.seq, second.offsets, plan.paired, hashes
        )
        result.hashes = hashes
        result.outputs = [kept, singles]
        return result
    _finish(plan, result, kept, singles)
    return result


def _finish(
    plan: _Plan, result: _ChunkResult, kept: list[ReadBatch], singles: list[ReadBatch]
) -> None:
    """Output statistics and formatted (compressed) output of the reads that stay."""
    counts = result.counts
    result.after = []
    for batch, stats in zip(kept, result.before, strict=True):
        after = ReadStats(stats.file, mate=stats.mate)
        after.add(batch)
        result.after.append(after)
        counts.reads_out += len(batch)
        counts.bases_out += after.bases
    outputs = [_format(b, True) for b in kept]
    if singles:
        merged = b"".join(_format(b, False) for b in singles)
        outputs.append(_gzip(merged) if merged else merged)
        for batch in singles:
            counts.singleton_reads += len(batch)
            counts.singleton_bases += int(batch.offsets[-1])
    result.outputs = outputs


# ---------------------------------------------------------------- input chunks (main process)


def _fastq_chunks(
    path1: str, path2: str | None, threads: int
) -> Iterator[tuple[bytes, bytes | None]]:
    """(chunk of mate 1, chunk of mate 2) of whole FASTQ records."""
    open_threads = 1 if threads > 1 else 0
    try:
        with ExitStack() as stack:
            f1 = stack.enter_context(xopen(path1, "rb", threads=open_threads))
            if path2 is None:
                for chunk in dnaio.read_chunks(f1, CHUNK_BYTES):
                    yield bytes(chunk), None
                return
            f2 = stack.enter_context(xopen(path2, "rb", threads=open_threads))
            for chunk1, chunk2 in dnaio.read_paired_chunks(f1, f2, CHUNK_BYTES):
                yield bytes(chunk1), bytes(chunk2)
    except dnaio.exceptions.FileFormatError as exc:
        raise InputError(
            f"{exc.message.rstrip('.')} (paired files must have the same number of records)",
            file=path2 or path1,
        ) from exc
    except (EOFError, OSError, zlib.error) as exc:
        raise _read_error(exc, path1, path2) from exc


def _read_error(exc: BaseException, path1: str, path2: str | None) -> InputError:
    """What went wrong reading one of the mates (the one whose data break off, if one does)."""
    if path2 is not None and (not isinstance(exc, OSError) or exc.errno is None):
        for path in (path1, path2):
            if stream_break(path) is not None:
                return read_error(path, exc)
    return read_error(path1, exc)


def _batch_fastq(batch: ReadBatch) -> bytes:
    return _format(batch, False)


def _converted_chunks(
    path1: str, path2: str | None, paired: bool, alignment: AlignmentSummary | None = None
) -> Iterator[tuple[bytes, bytes | None]]:
    """Chunks of FASTQ text made from a SAM/BAM/CRAM (single-end or interleaved mates) or from
    an interleaved FASTQ (mates split); ``alignment`` is filled in with what the reading of a
    SAM/BAM/CRAM found (records skipped)."""
    if paired:
        for b1, b2 in read_paired_batches(
            path1, path2, chunk_bytes=CHUNK_BYTES, alignment=alignment
        ):
            yield _batch_fastq(b1), _batch_fastq(b2)
    else:
        for batch in read_batches(path1, alignment=alignment):
            yield _batch_fastq(batch), None


# ---------------------------------------------------------------- the sample (main process)


@dataclass
class QCResult:
    """Everything measured on one sample; ``to_dict`` is the statistics JSON."""

    sample_id: str
    layout: str
    settings: QCSettings
    adapters: AdapterChoice
    host: dict | None
    counts: Counts
    before: list[ReadStats]
    after: list[ReadStats]
    outputs: dict[str, str]
    engine: str = "cutadapt"
    #: For SAM/BAM/CRAM input: :meth:`AlignmentSummary.to_dict` (aligned, records skipped).
    alignment: dict | None = None

    def to_dict(self) -> dict:
        c = self.counts
        steps = [{"step": "input", "reads": c.reads_in, "bases": c.bases_in}]
        steps += [
            {"step": "quality_trimming", "reads": 0, "bases": c.quality_trimmed_bases},
            {
                "step": "adapter_trimming",
                "reads": 0,
                "bases": c.adapter_trimmed_bases,
                "reads_with_adapter": c.reads_with_adapter,
            },
            {"step": "n_trimming", "reads": 0, "bases": c.n_trimmed_bases},
        ]
        steps += [
            {"step": step, "reads": c.removed_reads[step], "bases": c.removed_bases[step]}
            for step in READ_FILTERS + FRAGMENT_FILTERS
        ]
        steps.append({"step": "output", "reads": c.reads_out, "bases": c.bases_out})
        if self.settings.keep_singletons and self.layout == "paired":
            steps.append(
                {"step": "singletons", "reads": c.singleton_reads, "bases": c.singleton_bases}
            )
        return {
            "sample_id": self.sample_id,
            "layout": self.layout,
            "microbiome_version": __version__,
            "trimming_engine": self.engine,
            "settings": asdict(self.settings),
            "adapters": asdict(self.adapters),
            "host_index": self.host,
            "steps": steps,
            "kept_read_percent": round(100 * c.reads_out / c.reads_in, 3) if c.reads_in else 0.0,
            "before": [s.to_dict() for s in self.before],
            "after": [s.to_dict() for s in self.after],
            "outputs": self.outputs,
        } | ({"alignment": self.alignment} if self.alignment is not None else {})


def output_names(sample_id: str, paired: bool, keep_singletons: bool) -> dict[str, str]:
    """File names of the cleaned reads in the output folder."""
    if not paired:
        return {"reads": f"{sample_id}.fastq.gz"}
    names = {"R1": f"{sample_id}_R1.fastq.gz", "R2": f"{sample_id}_R2.fastq.gz"}
    if keep_singletons:
        names["singletons"] = f"{sample_id}_singletons.fastq.gz"
    return names


def run_qc(
    sample_id: str,
    reads1: str | os.PathLike,
    reads2: str | os.PathLike | None,
    outdir: str | os.PathLike,
    settings: QCSettings | None = None,
    *,
    host_index: str | os.PathLike | None = None,
    threads: int = 1,
) -> QCResult:
    """QC of one sample into ``outdir``: cleaned reads (gzip FASTQ) and their statistics.

    Returns the QCResult; nothing is left under a final name if anything fails.
    """
    from microbiome.config import check_settings

    settings = settings or QCSettings.from_mapping()
    check_settings(settings, "qc")
    path1 = os.fspath(reads1)
    path2 = os.fspath(reads2) if reads2 is not None else None
    for path in filter(None, (path1, path2)):
        check_readable(path)
    bowtie2_index = None
    host = None
    if host_index is not None and settings.host_method == "bowtie2":
        bowtie2_index = bowtie2.check_index(host_index)
        bowtie2.program("bowtie2")
    elif host_index is not None:
        host = load_host_index(host_index)
    alignment = is_alignment_file(path1)
    if not alignment:
        _require_fastq(path1)
        if path2:
            _require_fastq(path2)
    paired = is_paired(path1, path2)
    if paired and path2 is None and not alignment and settings.engine == "fastp":
        raise ConfigError(
            "qc.engine fastp: interleaved FASTQ is not supported; give the mates as two files, "
            "or use the cutadapt engine",
            file=path1,
        )
    adapters = choose_adapters(settings.adapters, path1)
    outdir = Path(outdir)
    with ExitStack() as stack:
        fastp = None
        raw_stats: list[ReadStats] = []
        if settings.engine == "fastp":
            if alignment:
                raise ConfigError("qc.engine fastp reads FASTQ only; use cutadapt for BAM/CRAM")
            outdir.mkdir(parents=True, exist_ok=True)
            work = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix=".fastp-", dir=outdir))
            )
            raw_stats = _raw_stats(path1, path2, threads)
            path1, path2, fastp = run_fastp(
                path1, path2, work, adapters, settings.quality_cutoff, threads
            )
        final = outdir
        if bowtie2_index is not None:
            outdir.mkdir(parents=True, exist_ok=True)
            final = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix=".bt2-", dir=outdir))
            )
        result = _qc_files(
            sample_id,
            path1,
            path2,
            final,
            settings,
            adapters,
            host,
            alignment,
            paired,
            threads,
            trim=fastp is None,
        )
        if bowtie2_index is not None:
            _bowtie2_host(result, bowtie2_index, outdir, threads)
    if fastp is not None:
        c = result.counts
        c.quality_trimmed_bases = fastp["quality_trimmed_bases"]
        c.adapter_trimmed_bases = fastp["adapter_trimmed_bases"]
        c.reads_with_adapter = fastp["adapter_trimmed_reads"]
        c.bases_in = sum(s.bases for s in raw_stats)
        # Reads fastp dropped although its filters are off were trimmed to nothing: too short.
        dropped = sum(s.reads for s in raw_stats) - c.reads_in
        c.removed_reads["too_short"] += dropped
        c.reads_in += dropped
        result.before = raw_stats
        result.engine = f"fastp {fastp['fastp_version']}"
    log.info(
        "%s: %s of %s reads kept (%.2f %%)",
        sample_id,
        f"{result.counts.reads_out:,}",
        f"{result.counts.reads_in:,}",
        100 * result.counts.reads_out / max(result.counts.reads_in, 1),
    )
    return result


def _bowtie2_host(result: QCResult, index: str, outdir: Path, threads: int) -> None:
    """Align the cleaned reads to the host, keep what does not align, and recount."""
    final = {key: outdir / Path(path).name for key, path in result.outputs.items()}
    bowtie2.remove_host(index, result.outputs, final, threads)
    c = result.counts
    reads_before, bases_before = c.reads_out + c.singleton_reads, c.bases_out + c.singleton_bases
    after = []
    c.reads_out = c.bases_out = c.singleton_reads = c.singleton_bases = 0
    for key, path in final.items():
        with xopen(path, "rb") as f:
            empty = not f.read(1)  # every read aligned to the host
        stats = ReadStats(str(path)) if empty else file_stats(path)
        if key == "singletons":
            c.singleton_reads, c.singleton_bases = stats.reads, stats.bases
            continue
        stats.mate = {"R1": "R1", "R2": "R2"}.get(key, "SE")
        after.append(stats)
        c.reads_out += stats.reads
        c.bases_out += stats.bases
    c.removed_reads["host"] += reads_before - c.reads_out - c.singleton_reads
    c.removed_bases["host"] += bases_before - c.bases_out - c.singleton_bases
    result.after = after
    result.outputs = {key: str(path) for key, path in final.items()}
    result.host = {"method": "bowtie2", "index": index}


def _raw_stats(path1: str, path2: str | None, threads: int) -> list[ReadStats]:
    """Statistics of the untrimmed reads (the fastp engine sees them before our pipeline)."""
    if path2 is None:
        return [file_stats(path1, threads=threads)]
    return list(paired_stats(path1, path2, threads=threads))


def _qc_files(
    sample_id: str,
    path1: str,
    path2: str | None,
    outdir: Path,
    settings: QCSettings,
    adapters: AdapterChoice,
    host: HostIndex | None,
    alignment: bool,
    paired: bool,
    threads: int,
    *,
    trim: bool,
) -> QCResult:
    """Run the chunked pipeline over the files; ``trim`` False skips the 3' trimming."""
    work_settings = settings if trim else replace(settings, quality_cutoff=0)
    work_adapters = adapters if trim else AdapterChoice("none", (), (), "trimmed by fastp", {})
    interleaved = paired and path2 is None
    plan = _Plan(
        work_settings,
        work_adapters,
        host.path if host else None,
        paired,
        path1,
        path2 or path1,
        interleaved and not alignment,
    )
    names = output_names(sample_id, paired, settings.keep_singletons)
    summary = AlignmentSummary(path1) if alignment else None
    chunks = (
        _converted_chunks(path1, path2, paired, summary)
        if alignment or interleaved
        else _fastq_chunks(path1, path2, threads)
    )

    total = Counts()
    before: list[ReadStats] = []
    after: list[ReadStats] = []
    seen: set[int] = set()
    with ExitStack() as stack:
        temps = {
            key: stack.enter_context(atomic_path(outdir / name)) for key, name in names.items()
        }
        files = {key: stack.enter_context(open(tmp, "wb")) for key, tmp in temps.items()}
        streams = list(files.values())
        for result in _run_chunks(plan, chunks, threads):
            if settings.dedup:
                _dedup(plan, result, seen)
            total.merge(result.counts)
            _accumulate(before, result.before)
            _accumulate(after, result.after)
            for stream, data in zip(streams, result.outputs, strict=True):
                stream.write(data)
        for f in files.values():
            if f.tell() == 0:  # no read kept: still a valid (empty) gzip file
                f.write(_gzip(b""))
            f.close()
        if total.reads_in == 0:
            raise InputError("file contains no reads", file=path1)
    for stats, key in zip(after, names, strict=False):
        stats.file = str(outdir / names[key])
    return QCResult(
        sample_id,
        "paired" if paired else "single",
        settings,
        adapters,
        host.header if host else None,
        total,
        before,
        after,
        {k: str(outdir / v) for k, v in names.items()},
        alignment=summary.to_dict() if summary is not None else None,
    )


def _require_fastq(path: str) -> None:
    try:
        with xopen(path, "rb", threads=0) as f:  # one byte: no decompression thread
            first = f.read(1)
    except (EOFError, OSError, zlib.error) as exc:
        raise read_error(path, exc) from exc
    if first != b"@":
        what = "FASTA has no qualities to trim on" if first == b">" else "not a FASTQ file"
        raise InputError(f"QC needs FASTQ (or unaligned BAM/CRAM) reads: {what}", file=path, line=1)


def _accumulate(total: list[ReadStats], part: list[ReadStats]) -> None:
    if not total:
        total.extend(ReadStats(s.file, mate=s.mate) for s in part)
    for t, p in zip(total, part, strict=True):
        t.merge(p)


def _dedup(plan: _Plan, result: _ChunkResult, seen: set[int]) -> None:
    """Drop fragments whose sequence(s) appeared before (in this or an earlier chunk)."""
    kept, singles = result.outputs
    keep = np.ones(len(result.hashes), dtype=np.bool_)
    for i, h in enumerate(result.hashes.tolist()):
        if h in seen:
            keep[i] = False
        else:
            seen.add(h)
    for batch in kept:
        _count_removed(result.counts, "duplicate", batch, ~keep)
    _finish(plan, result, [_subset(b, keep) for b in kept], singles)


def _run_chunks(plan: _Plan, chunks, threads: int) -> Iterator[_ChunkResult]:
    """Process chunks in order, in this process or in a pool of ``threads`` workers."""
    dedup = plan.settings.dedup
    records = 0  # records of one mate in the chunks done, to turn chunk lines into file lines
    mates = 2 if plan.paired else 1
    lines_per_record = 8 if plan.interleaved else 4  # a pair is 8 lines of an interleaved file

    def shifted(get):
        nonlocal records
        try:
            result = get()
        except InputError as exc:
            if exc.line is not None:
                exc.line += lines_per_record * records
            raise
        records += result.counts.reads_in // mates
        return result

    if threads <= 1:
        for data1, data2 in chunks:
            yield shifted(lambda d1=data1, d2=data2: process_chunk(plan, d1, d2, dedup))
        return
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with context.Pool(threads) as pool:
        pending: deque = deque()
        for data1, data2 in chunks:
            pending.append(pool.apply_async(process_chunk, (plan, data1, data2, dedup)))
            if len(pending) >= 2 * threads:
                yield shifted(pending.popleft().get)
        while pending:
            yield shifted(pending.popleft().get)
