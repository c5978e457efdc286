"""Reading sequencing reads in batches of numpy arrays, for the numba kernels.

FASTQ (plain or compressed) is cut into chunks of whole records and parsed by a numba kernel,
straight into arrays; FASTA goes through dnaio, unaligned SAM/BAM/CRAM through pysam. Every reader
yields :class:`ReadBatch` objects, so memory depends on the chunk size and never on the size of
the file. Format problems, empty files and unpaired mates raise
:class:`~microbiome.errors.InputError` naming the file and the line (FASTQ) or the record
(FASTA, SAM/BAM/CRAM); a truncated compressed file names its last complete line, an unreadable
one the system's reason. One file may hold both mates (:func:`is_interleaved`): an interleaved
FASTQ/FASTA or a SAM/BAM/CRAM with paired records, read as pairs by
:func:`read_paired_batches`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import re
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dnaio
import numpy as np
from xopen import xopen

from microbiome.errors import InputError
from microbiome.io import _kernels

log = logging.getLogger("microbiome")

#: Bytes of FASTQ text parsed per batch (grown automatically for longer records).
DEFAULT_CHUNK_BYTES = 4 << 20
#: Records per batch for FASTA and SAM/BAM/CRAM input.
DEFAULT_BATCH_RECORDS = 50_000

ALIGNMENT_SUFFIXES = (".bam", ".cram", ".ubam", ".sam")

_FASTQ_ERRORS = {
    _kernels.NO_AT: "header line does not start with '@'",
    _kernels.NO_PLUS: "separator line does not start with '+'",
    _kernels.QUAL_LENGTH: "quality string and sequence differ in length",
    _kernels.TRUNCATED: "file ends in the middle of a record (truncated?)",
    _kernels.PLUS_NAME: "name on the '+' line differs from the header",
}


@dataclass(frozen=True)
class ReadBatch:
    """A batch of reads as flat arrays.

    Attributes
    ----------
    seq : numpy.ndarray, shape (total_bases,), dtype uint8
        The sequences as ASCII codes, concatenated. Read ``i`` is ``seq[offsets[i]:offsets[i+1]]``.
    qual : numpy.ndarray or None, shape (total_bases,), dtype uint8
        The quality strings (Phred+33 ASCII), concatenated; None for FASTA input.
    offsets : numpy.ndarray, shape (n_reads + 1,), dtype int64
    name_data : numpy.ndarray, dtype uint8
        The header lines (without '@' or '>'), concatenated.
    name_offsets : numpy.ndarray, shape (n_reads + 1,), dtype int64
    first_record : int
        0-based index of the batch's first record in its file.
    """

    seq: np.ndarray
    qual: np.ndarray | None
    offsets: np.ndarray
    name_data: np.ndarray
    name_offsets: np.ndarray
    first_record: int

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def name(self, i: int) -> str:
        """Header of read ``i`` of the batch."""
        a, b = self.name_offsets[i], self.name_offsets[i + 1]
        return self.name_data[a:b].tobytes().decode("ascii", "replace")

    def slice(self, start: int, stop: int) -> ReadBatch:
        """Reads ``start:stop`` of the batch, as views."""
        a, b = self.offsets[start], self.offsets[stop]
        na, nb = self.name_offsets[start], self.name_offsets[stop]
        return ReadBatch(
            self.seq[a:b],
            None if self.qual is None else self.qual[a:b],
            self.offsets[start : stop + 1] - a,
            self.name_data[na:nb],
            self.name_offsets[start : stop + 1] - na,
            self.first_record + start,
        )


def is_alignment_file(path: str | os.PathLike) -> bool:
    """True if ``path`` names a SAM/BAM/CRAM file (read through pysam)."""
    return Path(path).name.lower().endswith(ALIGNMENT_SUFFIXES)


def check_readable(path: str | os.PathLike) -> None:
    """Raise InputError saying what is wrong if ``path`` cannot be read as a reads file: not
    found, a dangling symbolic link, a directory, unreadable (the system's reason), or empty."""
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        if os.path.islink(path):
            target = os.readlink(path)
            raise InputError(f"is a dangling symbolic link (to {target})", file=path) from exc
        raise InputError("file not found", file=path) from exc
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", file=path) from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not a reads file", file=path)
    try:  # O_NONBLOCK: a FIFO opens without waiting for a writer
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", file=path) from exc
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise InputError("file is empty", file=path)


def stream_break(path: str | os.PathLike) -> int | None:
    """Complete lines of a compressed (or plain) file before its data break off, or None if it
    reads to its end. Only for error messages: it decompresses the file again, in small steps,
    so that the place of a truncation or corruption is exact (gzip) or close (other formats)."""
    path = os.fspath(path)
    lines = 0
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if gzipped:  # member by member, so that concatenated gzip files are read to their end
        decompressor = zlib.decompressobj(31)
        with open(path, "rb") as raw:
            while chunk := raw.read(1 << 16):
                while chunk:
                    if decompressor.eof:
                        decompressor = zlib.decompressobj(31)
                    try:
                        lines += decompressor.decompress(chunk).count(b"\n")
                    except zlib.error:
                        return lines
                    chunk = decompressor.unused_data if decompressor.eof else b""
        return None if decompressor.eof else lines
    try:
        with xopen(path, "rb", threads=0) as f:
            while block := f.read(1 << 16):
                lines += block.count(b"\n")
    except (EOFError, OSError, ValueError, zlib.error):
        return lines
    return None


def read_error(path: str, exc: BaseException) -> InputError:
    """The InputError for ``exc``, raised while reading ``path``: the system's reason for an
    I/O error, else where the compressed data break off (see :func:`stream_break`)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if isinstance(exc, IsADirectoryError):
            return InputError("is a directory, not a reads file", file=path)
        return InputError(f"cannot be read: {exc.strerror}", file=path)
    detail = str(exc) or type(exc).__name__
    try:
        lines = stream_break(path)
    except OSError as again:
        return InputError(f"cannot be read: {again.strerror or again}", file=path)
    if lines is None:
        return InputError(f"cannot be read ({detail})", file=path)
    if lines == 0:
        return InputError(
            f"compressed file is truncated or corrupt: its data break off before the end of "
            f"the first line ({detail})",
            file=path,
        )
    return InputError(
        "compressed file is truncated or corrupt: its data break off after this line, the "
        f"last one complete ({detail})",
        file=path,
        line=lines,
    )


class _FastqChunks:
    """Parse a FASTQ file chunk by chunk with the numba kernel."""

    def __init__(self, path: str, chunk_bytes: int, open_threads: int):
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.open_threads = open_threads
        self.records = 0
        self._scratch = FastqScratch()

    def __iter__(self) -> Iterator[ReadBatch]:
        buf = bytearray(self.chunk_bytes)
        start = 0  # bytes of an unfinished record carried over from the previous chunk
        try:
            with xopen(self.path, "rb", threads=self.open_threads) as f:
                while True:
                    got = f.readinto(memoryview(buf)[start:])
                    end = start + got
                    if end == 0:
                        return
                    batch, consumed = parse_fastq_chunk(
                        buf, end, path=self.path, first_record=self.records,
                        scratch=self._scratch, final=got == 0,
                    )  # fmt: skip
                    self.records += len(batch)
                    if len(batch):
                        yield batch
                    if got == 0:
                        return
                    if consumed == 0 and end == len(buf):
                        buf.extend(bytes(len(buf)))  # one record longer than the buffer
                    buf[: end - consumed] = buf[consumed:end]
                    start = end - consumed
        except (EOFError, zlib.error, OSError) as exc:
            raise read_error(self.path, exc) from exc


class FastqScratch:
    """Work arrays of the FASTQ parser, reused from one chunk to the next (no fresh pages)."""

    def __init__(self) -> None:
        self.arrays: tuple[np.ndarray, ...] = ()

    def get(self, n: int) -> tuple[np.ndarray, ...]:
        """Arrays for ``n`` bytes of FASTQ: sequences, qualities (each at most n / 2), names,
        and two offset arrays (a record takes at least 6 bytes)."""
        if not self.arrays or self.arrays[2].shape[0] < n:
            half, records = n // 2 + 1, n // 6 + 2
            self.arrays = (
                np.empty(half, dtype=np.uint8),
                np.empty(half, dtype=np.uint8),
                np.empty(n, dtype=np.uint8),
                np.empty(records, dtype=np.int64),
                np.empty(records, dtype=np.int64),
            )
        return self.arrays


def parse_fastq_chunk(
    buf: bytes | bytearray, n: int, *, path: str, first_record: int = 0,
    scratch: FastqScratch | None = None, final: bool = True,
) -> tuple[ReadBatch, int]:  # fmt: skip
    """Parse the 4-line FASTQ records in ``buf[:n]`` into a ReadBatch.

    Returns the batch and the number of bytes it used. Unless ``final`` (the end of the file),
    an unfinished last record is not an error: it is left over, for the next chunk.
    ``first_record`` (0-based index in the file of the first record) makes error lines exact.
    """
    if final and n and buf[n - 1] != 10:  # the file's last line lacks its newline
        buf = bytes(buf[:n]) + b"\n"
        n += 1
    data = np.frombuffer(buf, dtype=np.uint8, count=n)
    seq, qual, names, offsets, name_offsets = (scratch or FastqScratch()).get(n)
    count, code, bad, line_in_record, consumed = _kernels.parse_fastq(
        data, n, seq, qual, offsets, names, name_offsets
    )
    if code != _kernels.OK and not (code == _kernels.TRUNCATED and not final):
        line = 4 * (first_record + bad) + line_in_record + 1
        raise InputError(_FASTQ_ERRORS[code], file=path, line=line)
    total = int(offsets[count])
    batch = ReadBatch(
        seq[:total].copy(),
        qual[:total].copy(),
        offsets[: count + 1].copy(),
        names[: name_offsets[count]].copy(),
        name_offsets[: count + 1].copy(),
        first_record,
    )
    return batch, min(int(consumed), n)


def records_to_batch(records: list, first_record: int = 0) -> ReadBatch:
    """A ReadBatch of dnaio records."""
    seqs = [r.sequence for r in records]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs)), out=offsets[1:])
    names = [r.name for r in records]
    name_offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, names), dtype=np.int64, count=len(names)), out=name_offsets[1:])
    qual = None
    if records and records[0].qualities is not None:
        qual = np.frombuffer("".join([r.qualities for r in records]).encode("ascii"), np.uint8)
    return ReadBatch(
        np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8),
        qual,
        offsets,
        np.frombuffer("".join(names).encode("ascii"), dtype=np.uint8),
        name_offsets,
        first_record,
    )


@dataclass
class AlignmentSummary:
    """What reading a SAM/BAM/CRAM found: whether it is aligned, and the records skipped.

    Attributes
    ----------
    file : str
    reference_sequences : int
        ``@SQ`` lines of the header.
    records : int
        Records read (all of them, skipped ones included).
    mapped : int
        Primary records mapped to a reference.
    reversed : int
        Primary records on the reverse strand, turned back to the orientation sequenced.
    secondary, supplementary : int
        Records skipped: secondary (flag 0x100) and supplementary (0x800) alignments.
    """

    file: str
    reference_sequences: int = 0
    records: int = 0
    mapped: int = 0
    reversed: int = 0
    secondary: int = 0
    supplementary: int = 0

    @property
    def aligned(self) -> bool:
        """True for an aligned file: it has @SQ lines or mapped records."""
        return bool(self.reference_sequences or self.mapped)

    def to_dict(self) -> dict:
        """JSON-ready counts (the ``alignment`` entry of the stats and QC JSON)."""
        return {
            "aligned": self.aligned,
            "reference_sequences": self.reference_sequences,
            "records": self.records,
            "mapped": self.mapped,
            "reverse_strand_restored": self.reversed,
            "secondary_skipped": self.secondary,
            "supplementary_skipped": self.supplementary,
        }

    def warn(self) -> None:
        """One warning line for an aligned file (nothing for an unaligned one)."""
        if not self.aligned:
            return
        log.warning(
            "warning: %s is an aligned SAM/BAM/CRAM (%d @SQ reference sequences, %d mapped "
            "records), read as unaligned reads: %d secondary and %d supplementary records "
            "skipped, %d reverse-strand reads turned back to the orientation sequenced",
            self.file,
            self.reference_sequences,
            self.mapped,
            self.secondary,
            self.supplementary,
            self.reversed,
        )


def _alignment_records(
    path: str, mate: int | None, summary: AlignmentSummary | None = None
) -> Iterator[dnaio.SequenceRecord]:
    """Records of an unaligned (or aligned) SAM/BAM/CRAM, in the orientation sequenced.

    Secondary and supplementary alignments are skipped; reverse-strand records are turned back.
    ``mate`` (1 or 2) keeps only READ1 or READ2 records of an interleaved file. ``summary``, if
    given, is filled in as the records go by (counts over all records, whatever ``mate``), and
    an aligned file is logged as a warning when the reading ends.
    """
    import pysam

    report = summary is not None and mate != 2  # once per file, also when read in two passes
    summary = summary if summary is not None else AlignmentSummary(path)
    save = pysam.set_verbosity(0)
    try:
        with pysam.AlignmentFile(path, check_sq=False) as bam:
            summary.reference_sequences = len(bam.header.references)
            sort_order = bam.header.to_dict().get("HD", {}).get("SO")
            if mate is not None and sort_order == "coordinate":
                raise InputError(
                    "a coordinate-sorted BAM/CRAM cannot be read as interleaved mates (mates "
                    "are apart); group the mates first: samtools collate, or samtools sort -n",
                    file=path,
                )
            for index, read in enumerate(bam):
                summary.records += 1
                if read.is_secondary or read.is_supplementary:
                    summary.secondary += read.is_secondary
                    summary.supplementary += read.is_supplementary and not read.is_secondary
                    continue
                summary.mapped += not read.is_unmapped
                summary.reversed += read.is_reverse
                if mate == 1 and not read.is_read1 or mate == 2 and not read.is_read2:
                    continue
                # pysam turns reverse-strand records back (IUPAC codes complemented too)
                seq = read.get_forward_sequence()
                if seq is None:
                    raise InputError(
                        f"record {index + 1} ({read.query_name}) has no sequence", file=path
                    )
                qual = (
                    "I" * len(seq)
                    if read.query_qualities is None
                    else pysam.qualities_to_qualitystring(read.get_forward_qualities())
                )
                yield dnaio.SequenceRecord(
                    read.query_name + (f"/{mate}" if mate else ""), seq, qual
                )
    finally:
        pysam.set_verbosity(save)
    if report:
        summary.warn()


def alignment_file_is_paired(path: str | os.PathLike, probe: int = 1000) -> bool:
    """True if the first records of a SAM/BAM/CRAM carry the paired flag (interleaved mates)."""
    import pysam

    path = os.fspath(path)
    check_readable(path)
    save = pysam.set_verbosity(0)
    try:
        with pysam.AlignmentFile(path, check_sq=False) as bam:
            return any(read.is_paired for read in itertools.islice(bam, probe))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read as SAM/BAM/CRAM: {exc}", file=path) from exc
    finally:
        pysam.set_verbosity(save)


#: Decompressed bytes (FASTQ) and records (FASTA) looked at to tell whether a file is interleaved.
INTERLEAVE_PROBE_BYTES = 64 << 10
INTERLEAVE_PROBE_RECORDS = 200

_ILLUMINA_MATE = re.compile(r"([123]):[YN]:")


def _mate_of(batch: ReadBatch, i: int) -> tuple[bytes, int | None]:
    """(read ID, mate number or None) of read ``i`` of ``batch``: the ID as paired
    (:func:`~microbiome.io._kernels.read_id`, a ``/1`` ``/2`` ``/3`` suffix removed) and the
    mate that suffix, or else an Illumina ``1:N:...`` ``2:N:...`` comment, gives."""
    start, stop = int(batch.name_offsets[i]), int(batch.name_offsets[i + 1])
    end, mate, word_end = _kernels.read_id(batch.name_data, start, stop)
    rid = batch.name_data[start:end].tobytes()
    if mate:
        return rid, int(mate)
    comment = batch.name_data[word_end:stop].tobytes().decode("ascii", "replace").lstrip()
    if match := _ILLUMINA_MATE.match(comment):
        return rid, int(match.group(1))
    return rid, None


def is_interleaved(path: str | os.PathLike) -> bool:
    """True if one reads file holds both mates of a paired-end run, mate 1 then mate 2.

    A SAM/BAM/CRAM is interleaved when its records carry the paired flag. A FASTQ/FASTA file is
    when its first records (``INTERLEAVE_PROBE_RECORDS``, within ``INTERLEAVE_PROBE_BYTES``)
    come in pairs of the same read ID and every pair is marked mate 1 then mate 2 (``/1``
    ``/2`` suffixes or Illumina ``1:N:`` ``2:N:`` comments; ``/3`` or ``3:N:`` for mate 2 of a
    run that read an index in between), or, unmarked, when the pairs share
    their names while different pairs have different ones. A read error raises InputError.
    """
    path = os.fspath(path)
    if is_alignment_file(path):
        return alignment_file_is_paired(path)
    batches = read_batches(
        path, chunk_bytes=INTERLEAVE_PROBE_BYTES, batch_records=INTERLEAVE_PROBE_RECORDS
    )
    try:
        batch = next(batches, None)
    finally:
        batches.close()
    if batch is None:
        return False
    n = min(len(batch), INTERLEAVE_PROBE_RECORDS) // 2 * 2
    mates = [_mate_of(batch, i) for i in range(n)]
    pairs = list(zip(mates[0::2], mates[1::2], strict=True))
    if not pairs or any(a[0] != b[0] for a, b in pairs):
        return False
    if all(a[1] == 1 and b[1] in (2, 3) for a, b in pairs):
        return True
    unmarked = all(a[1] is None and b[1] is None for a, b in pairs)
    return unmarked and len({a[0] for a, _ in pairs}) > 1


def is_paired(path1: str | os.PathLike, path2: str | os.PathLike | None = None) -> bool:
    """True for a paired-end sample: two files, or one interleaved file (:func:`is_interleaved`,
    logged, since it is read as pairs)."""
    if path2 is not None:
        return True
    if is_interleaved(path1):
        log.info("%s: interleaved paired-end reads (mates alternate): read as pairs", path1)
        return True
    return False


def _split_records(
    data: np.ndarray, offsets: np.ndarray, odd: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the records of flat ``data`` with ``offsets`` by the per-record mask ``odd``:
    (even records' data, their offsets, odd records' data, their offsets, the per-byte mask,
    to split qualities alike)."""
    lengths = np.diff(offsets)
    mask = np.repeat(odd, lengths)
    parts = []
    for keep in (~odd, odd):
        new = np.zeros(np.count_nonzero(keep) + 1, dtype=np.int64)
        np.cumsum(lengths[keep], out=new[1:])
        parts.append(new)
    return data[~mask], parts[0], data[mask], parts[1], mask


def _split_mates(batch: ReadBatch, first_record: int) -> tuple[ReadBatch, ReadBatch]:
    """(even reads, odd reads) of a batch of an even number of reads, as two new batches."""
    odd = np.zeros(len(batch), dtype=bool)
    odd[1::2] = True
    seq1, offsets1, seq2, offsets2, mask = _split_records(batch.seq, batch.offsets, odd)
    names1, noffsets1, names2, noffsets2, _ = _split_records(
        batch.name_data, batch.name_offsets, odd
    )
    qual1 = qual2 = None
    if batch.qual is not None:
        qual1, qual2 = batch.qual[~mask], batch.qual[mask]
    return (
        ReadBatch(seq1, qual1, offsets1, names1, noffsets1, first_record),
        ReadBatch(seq2, qual2, offsets2, names2, noffsets2, first_record),
    )


def _concat(a: ReadBatch, b: ReadBatch) -> ReadBatch:
    """The reads of ``a`` then ``b`` in one batch."""
    return ReadBatch(
        np.concatenate([a.seq, b.seq]),
        None if a.qual is None or b.qual is None else np.concatenate([a.qual, b.qual]),
        np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]),
        np.concatenate([a.name_data, b.name_data]),
        np.concatenate([a.name_offsets, b.name_offsets[1:] + a.name_offsets[-1]]),
        a.first_record,
    )


def _deinterleave(batches: Iterator[ReadBatch], path: str) -> Iterator[tuple[ReadBatch, ReadBatch]]:
    """(mate 1, mate 2) batches of an interleaved stream: even and odd records; a batch's
    ``first_record`` is then the index of its first pair."""
    carry: ReadBatch | None = None
    for batch in batches:
        if carry is not None:
            batch, carry = _concat(carry, batch), None
        n = len(batch)
        if n % 2:
            carry, batch = batch.slice(n - 1, n), batch.slice(0, n - 1)
        if len(batch) == 0:
            continue
        yield _split_mates(batch, batch.first_record // 2)
    if carry is not None:
        raise InputError(
            f"interleaved paired-end reads end with a read without its mate: record "
            f"{carry.first_record + 1} ({carry.name(0)}) is the last (an odd number of records)",
            file=path,
        )


def _record_batches(
    path: str, batch_records: int, mate: int | None, alignment: AlignmentSummary | None = None
) -> Iterator[ReadBatch]:
    """FASTA through dnaio, SAM/BAM/CRAM through pysam, batched."""
    first = 0
    try:
        with contextlib.ExitStack() as stack:  # closed also when the reader stops early
            if is_alignment_file(path):
                records = _alignment_records(path, mate, alignment)
            else:
                records = iter(stack.enter_context(dnaio.open(path)))
            while batch := list(itertools.islice(records, batch_records)):
                yield records_to_batch(batch, first)
                first += len(batch)
    except dnaio.exceptions.FileFormatError as exc:
        line = exc.line + 1 if exc.line is not None else None
        raise InputError(exc.message, file=path, line=line) from exc
    except (EOFError, zlib.error) as exc:
        raise read_error(path, exc) from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not is_alignment_file(path):
            raise read_error(path, exc) from exc
        raise InputError(f"cannot read reads: {exc}", file=path) from exc


def _sniff(path: str) -> str:
    """'fastq', 'fasta' or 'alignment', from the name and the first byte."""
    if is_alignment_file(path):
        return "alignment"
    try:
        with xopen(path, "rb", threads=0) as f:  # one byte: no decompression thread
            first = f.read(1)
    except (EOFError, zlib.error, OSError) as exc:
        raise read_error(path, exc) from exc
    if first == b"@":
        return "fastq"
    if first in (b">", b"#"):
        return "fasta"
    if not first:
        raise InputError("file contains no reads", file=path)
    raise InputError(
        f"not a FASTQ, FASTA, SAM, BAM or CRAM file (starts with {first!r}, not '@' or '>')",
        file=path,
        line=1,
    )


def read_batches(
    path: str | os.PathLike,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    batch_records: int = DEFAULT_BATCH_RECORDS,
    open_threads: int = 0,
    mate: int | None = None,
    alignment: AlignmentSummary | None = None,
) -> Iterator[ReadBatch]:
    """Yield the reads of one file in batches.

    Parameters
    ----------
    path
        FASTQ or FASTA (plain, gzip, bzip2, xz, zstd), or SAM/BAM/CRAM.
    chunk_bytes
        FASTQ text per batch.
    batch_records
        Records per batch for FASTA and SAM/BAM/CRAM.
    open_threads
        Extra threads for decompression (dnaio/xopen).
    mate
        For an interleaved SAM/BAM/CRAM: 1 or 2 keeps only that mate.
    alignment
        For a SAM/BAM/CRAM: filled in with what the reading found (aligned or not, records
        skipped); an aligned file is also logged as a warning when its reading ends.
    """
    path = os.fspath(path)
    check_readable(path)
    kind = _sniff(path)
    if kind == "fastq":
        batches: Iterator[ReadBatch] = iter(_FastqChunks(path, chunk_bytes, open_threads))
    else:
        batches = _record_batches(path, batch_records, mate, alignment)
    empty = True
    for batch in batches:
        if len(batch):
            empty = False
            yield batch
    if empty:
        raise InputError("file contains no reads", file=path)


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run ``iterator`` in a background thread, ``depth`` items ahead; re-raise its errors here.

    The parsing kernels release the GIL, so reading the next batch overlaps with processing the
    current one.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put((item, None))
            items.put((done, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            items.put((done, exc))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = items.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def _rebatch(
    left: Iterator[ReadBatch], right: Iterator[ReadBatch], path1: str, path2: str
) -> Iterator[tuple[ReadBatch, ReadBatch]]:
    """Cut two batch streams into pairs of batches with the same number of records."""
    pend1: ReadBatch | None = None
    pend2: ReadBatch | None = None
    while True:
        if pend1 is None or len(pend1) == 0:
            pend1 = next(left, None)
        if pend2 is None or len(pend2) == 0:
            pend2 = next(right, None)
        if pend1 is None or pend2 is None:
            if pend1 is not None or pend2 is not None:
                short, longer, count = (
                    (path1, path2, pend2.first_record)
                    if pend1 is None
                    else (path2, path1, pend1.first_record)
                )
                raise InputError(
                    f"has {count} records but its mate file {longer} has more "
                    "(paired files must have the same number of records)",
                    file=short,
                )
            return
        n = min(len(pend1), len(pend2))
        yield pend1.slice(0, n), pend2.slice(0, n)
        pend1 = pend1.slice(n, len(pend1))
        pend2 = pend2.slice(n, len(pend2))


def read_paired_batches(
    path1: str | os.PathLike,
    path2: str | os.PathLike | None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int = 1,
    each: tuple[Callable[[ReadBatch], object], Callable[[ReadBatch], object]] | None = None,
    alignment: AlignmentSummary | None = None,
) -> Iterator[tuple[ReadBatch, ReadBatch]]:
    """Yield matching batches of the two mates of a paired-end sample.

    ``path2`` None means an interleaved file in ``path1`` (:func:`is_interleaved`): a
    SAM/BAM/CRAM whose READ1 and READ2 records are read apart, or a FASTQ/FASTA whose records
    alternate, mate 1 then mate 2. Record counts must agree and
    every pair of read IDs must match (``/1`` ``/2`` suffixes and Illumina ``1:N:0`` comments are
    understood); the first mismatch raises an InputError naming the line and both reads.
    With ``threads`` > 1 both files are read and parsed in background threads; ``each`` gives a
    function per mate called on every batch of that mate as it is read (in those threads).
    ``alignment`` is filled in for a SAM/BAM/CRAM in ``path1`` (see :func:`read_batches`).
    """
    path1 = os.fspath(path1)
    path2 = os.fspath(path2) if path2 is not None else None
    opts = {"chunk_bytes": chunk_bytes, "open_threads": 1 if threads > 1 else 0}
    if path2 is None and not is_alignment_file(path1):
        yield from _interleaved_batches(path1, opts, threads, each)
        return
    if path2 is None:
        left = read_batches(path1, mate=1, alignment=alignment, **opts)
        right = read_batches(path1, mate=2, **opts)
    else:
        left = read_batches(path1, alignment=alignment, **opts)
        right = read_batches(path2, **opts)
    if each is not None:
        left, right = _tap(left, each[0]), _tap(right, each[1])
    if threads > 1:
        left, right = prefetch(left), prefetch(right)
    label2 = path2 if path2 is not None else path1
    for b1, b2 in _rebatch(left, right, path1, label2):
        check_mates(b1, b2, path1, label2, interleaved=path2 is None)
        yield b1, b2


def _interleaved_batches(
    path: str,
    opts: dict,
    threads: int,
    each: tuple[Callable[[ReadBatch], object], Callable[[ReadBatch], object]] | None,
) -> Iterator[tuple[ReadBatch, ReadBatch]]:
    """Pairs of batches of an interleaved FASTQ/FASTA, checked to pair; read, split and passed
    to ``each`` in a background thread when ``threads`` > 1."""

    def pairs() -> Iterator[tuple[ReadBatch, ReadBatch]]:
        for b1, b2 in _deinterleave(read_batches(path, **opts), path):
            if each is not None:
                each[0](b1)
                each[1](b2)
            yield b1, b2

    for b1, b2 in prefetch(pairs()) if threads > 1 else pairs():
        check_mates(b1, b2, path, path, interleaved=True)
        yield b1, b2


def _tap(batches: Iterator[ReadBatch], function: Callable[[ReadBatch], object]):
    for batch in batches:
        function(batch)
        yield batch


def check_mates(
    b1: ReadBatch, b2: ReadBatch, path1: str, path2: str, *, interleaved: bool = False
) -> None:
    """Raise InputError at the first pair of reads whose IDs differ (:func:`_kernels.read_id`).

    ``interleaved``: both mates come from the one file ``path1``, and record ``i`` of ``b1``
    and ``b2`` is pair ``i`` (``first_record`` counts pairs): for a FASTQ/FASTA, whose mates
    alternate, the error names mate 2's record (``2 i + 2``) and line in the file; for a
    SAM/BAM/CRAM (mates read apart, secondary records skipped) it names the pair. A FASTQ
    error names the line of mate 2's header.
    """
    bad = _kernels.first_unpaired(b1.name_data, b1.name_offsets, b2.name_data, b2.name_offsets)
    if bad < 0:
        return
    index = b2.first_record + bad  # 0-based: the pair, or the record of a mate file
    alignment = is_alignment_file(path2)
    record = 2 * index + 1 if interleaved and not alignment else index  # 0-based, in path2
    where = {"line": 4 * record + 1} if b2.qual is not None and not alignment else {}
    pair = f"read '{b2.name(bad)}' does not pair with read '{b1.name(bad)}'"
    if not interleaved:
        what = f"at the same position of {path1} (mates must be in the same order, record"
    elif alignment:
        what = "(interleaved reads hold mate 1 and mate 2 of each pair; pair"
    else:
        what = "before it (interleaved reads hold mate 1 then mate 2 of each pair; record"
    raise InputError(f"{pair} {what} {record + 1})", file=path2, **where)
