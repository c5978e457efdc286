"""The profiling database: reference minimizers -> lowest common ancestor taxon, in one file.

Building follows Kraken 2's design: every canonical minimizer (length ``l`` = ``k``, window
``w``, the scheme of :func:`microbiome.kmer.encoding.batch_minimizers`) of every reference
sequence is mapped to the lowest common ancestor of the taxa of all sequences that contain it.
The taxonomy is pruned to the reference taxa and their ancestors and stored in the same file.

Where a sequence's taxid comes from, first match wins:

1. ``kraken:taxid|N`` in its FASTA header;
2. ``/db_xref="taxon:N"`` of the source feature of a GenBank record;
3. the ``seqid2taxid`` table, by file-qualified ID (``<file name>:<seqid>``, see
   :func:`qualified_id`), by sequence ID (first word of the header, with or without its
   ``.version``), then by file name (with or without ``.gz`` and the FASTA/GenBank extension);
4. with a GTDB taxonomy, the lineage of an accession that is the sequence ID or starts the file
   name (``GCF_000005845.2_genomic.fna.gz``).

A sequence without a taxid, or whose taxid is not in the taxonomy, is an InputError naming it:
no sequence is dropped silently. So is a sequence ID used twice, within a file or in two files,
unless ``rename_duplicates`` makes IDs in different files unique by their file names.

The build streams: each file's distinct minimizers are spilled to temporary files by hash range
and the table is reduced one range at a time, within ``max_memory`` (:func:`build_database`);
the file is the same, byte for byte, for any ``max_memory``.

A *genome* is the sequences of one file with one taxid. The build summary gives per genome its
sequences, bases, distinct minimizers and the minimizers found in no other genome.

File layout (little-endian): the magic ``MBPROFDB``, a uint32 header length, a JSON header
(format version, parameters, genomes, taxon summary, sections, block size and checksum),
padding to 8 bytes, the payload, then the block digests. The payload holds the sections
``hashes`` (uint64, sorted seeded minimizer hashes), ``nodes`` (int32, taxonomy node of each),
``buckets`` (int64, ``2**b + 1``), ``taxids`` (int64), ``parents`` (int32), ``rank_codes``
(uint16, index into the header's rank list), ``names`` (UTF-8, newline-separated) and the
k-mer distribution for abundance estimation, ``dist_species``, ``dist_taxids`` (int64) and
``dist_fractions`` (float64): row ``i`` says that a fraction ``dist_fractions[i]`` of the
read-length windows of species (or strain) ``dist_species[i]`` is classified at
``dist_taxids[i]`` (0: unclassified). Each section starts on an 8-byte boundary. The block
digests are the XXH64 (uint64) of each ``block_bytes`` (4 KiB) block of the payload, and the
header's ``checksum`` is the blake2b-128 of the digests.

:func:`load_database` memory-maps the arrays, so jobs on one node share the pages, and reads
only what it needs: the header, the digests (checked against ``checksum``) and the small
sections (taxonomy, k-mer distribution), whose blocks it checks. The blocks of the lookup table
(``hashes``, ``nodes``, ``buckets``) are checked as a lookup first reads them, so a corrupt
block is a DatabaseError before any of its bytes reaches a result, and start-up costs no full
read of the file. :meth:`Database.check` checks every block (``microbiome db check``).

Format history: version 1 had no k-mer distribution; version 2 added it and the header key
``kmer_distribution`` (read length, window step, classification settings); version 3 (this one)
replaces the checksum of the whole payload by per-block digests.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microbiome import __version__
from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.io import binfile
from microbiome.io.atomic import atomic_path, make_folder, output_kind
from microbiome.io.reads import read_batches
from microbiome.io.tables import text_lines
from microbiome.kmer.encoding import check_k, minimizer_hashes, seed_mix, sequence_pieces
from microbiome.profile import _kernels
from microbiome.progress import Progress
from microbiome.taxonomy import Taxonomy, _read_gtdb, load_taxonomy

log = logging.getLogger("microbiome")

MAGIC = b"MBPROFDB"
FORMAT_VERSION = 3
#: Bytes per checked block of the payload (a page: a lookup that touches a page checks it).
BLOCK_BYTES = 4096
#: Sections of the lookup table, checked block by block as lookups read them.
_TABLE_SECTIONS = ("hashes", "nodes", "buckets")
#: About this many hashes per bucket of the lookup table.
BUCKET_LOAD = 4
#: Long sequences are cut into pieces of this many bases (overlapping by l + w - 2).
PIECE = 1_000_000
#: The build's memory not counted in its working sets: the interpreter, numpy, numba and the
#: compiled kernels (``--max-memory`` minus this is the working memory).
BASELINE_MEMORY = 256 << 20
#: Spilled minimizers go to one temporary file per value of the top bits of their hash.
SPILL_BITS = 10
#: Working bytes per minimizer: spilling a buffered one (buffer, owners, sort, record), reducing
#: a spilled one (record, sort order, sorted copies) and a genome's while it is deduplicated
#: (concatenation and np.unique's sort; its piece arrays, 8 bytes, count with the file's).
_SPILL_BYTES = 48
_REDUCE_BYTES = 40
_GENOME_BYTES = 16
#: Caps on the spill buffer and on a range of the table reduced at once, in minimizers: beyond
#: them a larger --max-memory brings no speed.
_SPILL_BUFFER_CAP = 2 << 20
_REDUCE_CAP = 4 << 20
#: The least working memory a build accepts.
_MIN_WORKING = 16 << 20
DEFAULT_K = 31
DEFAULT_W = 15
#: Read length of the k-mer distribution (Bracken's -r), and windows every read_length / 10 bases.
DEFAULT_READ_LENGTH = 150
DEFAULT_STEP_FRACTION = 10
#: Kraken 2's default --minimum-hit-groups (the classifier's default too).
DEFAULT_MIN_HIT_GROUPS = 2

_MEMORY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt](?:i?b)?|b)?", re.IGNORECASE)
_RECORD = np.dtype([("hash", "<u8"), ("owner", "<i4")])
_KRAKEN_TAXID = re.compile(r"kraken:taxid\|(\d+)")
_FASTA_SUFFIXES = (".fna", ".fa", ".fasta", ".ffn", ".fas", ".fsa", ".seq")
_GENBANK_SUFFIXES = (".gb", ".gbk", ".gbff", ".genbank")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
_SECTIONS = (
    ("hashes", "<u8"),
    ("nodes", "<i4"),
    ("buckets", "<i8"),
    ("taxids", "<i8"),
    ("parents", "<i4"),
    ("rank_codes", "<u2"),
    ("names", "u1"),
    ("dist_species", "<i8"),
    ("dist_taxids", "<i8"),
    ("dist_fractions", "<f8"),
)


@dataclass(frozen=True)
class Genome:
    """One genome of the database: the sequences of one file with one taxid."""

    name: str
    file: str
    taxid: int
    sequences: int
    length: int
    minimizers: int
    unique_minimizers: int


@dataclass(frozen=True)
class _Blocks:
    """The payload of a database file as checked blocks (see the module docstring)."""

    payload: np.ndarray  # uint64 words of the payload (memory-mapped)
    digests: np.ndarray  # uint64 XXH64 per block
    state: np.ndarray  # uint8 per block: 0 unchecked, 1 good, 2 corrupt
    shift: int  # log2 of the block size
    table_offsets: np.ndarray  # int64 byte offsets of hashes, nodes, buckets in the payload
    sections: tuple[dict, ...]
    table_blocks: tuple[int, int]  # first and last + 1 block of the table
    #: [lookups so far, 1 once every table block is checked]: then lookups go unchecked
    progress: list[int] = field(default_factory=lambda: [0, 0])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def lookups_done(self, n: int, path: str) -> None:
        """Count ``n`` lookups; after twice as many as the table has blocks (a run that has
        read most of them), check the rest at once, so later lookups need no checks (the
        checked lookup costs about 20 % more)."""
        self.progress[0] += n
        if not self.progress[1] and self.progress[0] >= 2 * (
            self.table_blocks[1] - self.table_blocks[0]
        ):
            with self.lock:  # one worker thread checks, the others wait for it
                if not self.progress[1]:
                    self.check(*self.table_blocks, path)
                    self.progress[1] = 1

    def corrupt(self, block: int, path: str) -> DatabaseError:
        """The error for a corrupt block: which bytes and sections, naming the file."""
        start = block << self.shift
        stop = min(start + (1 << self.shift), self.payload.shape[0] * 8)
        names = [
            s["name"]
            for s in self.sections
            if s["offset"] < stop and s["offset"] + s["bytes"] > start
        ] or ["padding"]
        return DatabaseError(
            f"database fails its checksum at payload bytes {start}-{stop} ({', '.join(names)}):"
            " the file is corrupt, rebuild it",
            file=path,
        )

    def check(self, first: int, last: int, path: str) -> None:
        """Check blocks ``first:last``; DatabaseError for the first corrupt one."""
        bad = _kernels.check_blocks(self.payload, first, last, self.shift, self.digests, self.state)
        if bad >= 0:
            raise self.corrupt(bad, path)


@dataclass(frozen=True)
class Database:
    """A loaded profiling database (arrays memory-mapped from its file).

    Attributes
    ----------
    path : str
    k, w, seed : int
        Minimizer length, window and hash seed used at build (and to be used on reads).
    taxonomy : Taxonomy
        The taxonomy pruned to the reference taxa and their ancestors.
    hashes : numpy.ndarray, dtype uint64
        Sorted seeded minimizer hashes.
    nodes : numpy.ndarray, dtype int32
        Taxonomy node (LCA of its genomes) of each hash.
    buckets : numpy.ndarray, dtype int64
        Bucket table over the top ``bucket_bits`` bits of the hashes.
    genomes : tuple of Genome
    header : dict
        The JSON header (parameters, taxon summary, checksum).
    distribution : tuple of numpy.ndarray, optional
        The k-mer distribution's species, taxids and fractions.
    blocks : optional
        The file's block digests, when loaded with ``verify``: lookups check the blocks of
        the table they read.
    """

    path: str
    k: int
    w: int
    seed: int
    taxonomy: Taxonomy
    hashes: np.ndarray
    nodes: np.ndarray
    buckets: np.ndarray
    genomes: tuple[Genome, ...]
    header: dict
    distribution: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    blocks: _Blocks | None = None

    @property
    def shift(self) -> np.uint64:
        """Right shift giving a hash's bucket."""
        return np.uint64(64 - self.header["bucket_bits"])

    def __len__(self) -> int:
        return self.hashes.shape[0]

    def lookup(self, values: np.ndarray) -> np.ndarray:
        """Taxonomy node (int32, -1 if absent) of each minimizer value (uint64)."""
        values = np.ascontiguousarray(values, dtype=np.uint64)
        out = np.empty(values.shape[0], dtype=np.int32)
        mix = seed_mix(self.seed)
        blocks = self.blocks
        if blocks is None or blocks.progress[1]:
            _kernels.lookup(values, mix, self.hashes, self.nodes, self.buckets, self.shift, out)
            return out
        found = _kernels.lookup_verified(
            values, mix, self.hashes, self.nodes, self.buckets, self.shift, out,
            blocks.payload, blocks.table_offsets, blocks.shift, blocks.digests, blocks.state,
        )  # fmt: skip
        if found < 0:
            raise blocks.corrupt(-1 - found, self.path)
        blocks.lookups_done(values.shape[0], self.path)
        return out

    def check(self) -> int:
        """Check every block of the file against its digest (``microbiome db check``); returns
        the number of blocks. DatabaseError naming the first corrupt one. A database loaded
        without ``verify`` has nothing to check against: ConfigError."""
        if self.blocks is None:
            raise ConfigError("database was loaded without verification: nothing to check")
        count = self.blocks.digests.shape[0]
        self.blocks.check(0, count, self.path)
        return count

    def kmer_distribution(self) -> dict[int, dict[int, float]]:
        """``{species_taxid: {assigned_taxid: fraction}}``: where the classifier puts reads of
        ``read_length`` bases of each reference species (or strain); see
        :func:`microbiome.profile.abundance.kmer_distribution`. Empty if no genome is at
        species rank or below."""
        out: dict[int, dict[int, float]] = {}
        if self.distribution is None:
            return out
        species, taxids, fractions = self.distribution
        for s, t, f in zip(species.tolist(), taxids.tolist(), fractions.tolist(), strict=True):
            out.setdefault(int(s), {})[int(t)] = float(f)
        return out

    def genome_sizes(self) -> dict[int, float]:
        """Species taxid -> genome size in bp (the mean over the species' genomes, strains
        included), for cell abundance. Genomes above species rank are left out."""
        sizes: dict[int, list[int]] = {}
        for genome in self.genomes:
            species = self.taxonomy.at_rank(genome.taxid, "species")
            if species is not None:
                sizes.setdefault(species, []).append(genome.length)
        return {t: float(np.mean(v)) for t, v in sizes.items()}


# --- sequence -> taxid -----------------------------------------------------------------------


def _strip_suffixes(name: str) -> str:
    lower = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            name, lower = name[: -len(suffix)], lower[: -len(suffix)]
            break
    for suffix in _FASTA_SUFFIXES + _GENBANK_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_seqid2taxid(path: str | os.PathLike) -> dict[str, int]:
    """Read a sequence-to-taxid table: ``key<TAB>taxid`` lines (Kraken's ``seqid2taxid.map``),
    where the key is a sequence ID or a file name; or a TSV with a header naming a ``taxid``
    column and key columns among ``seqid``, ``accession``, ``file`` (all are used).

    Raises InputError (file, line) for a malformed line, a taxid that is not a positive integer,
    or a key given two different taxids.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("sequence-to-taxid table not found", file=path)

    mapping: dict[str, int] = {}
    first_line: dict[str, int] = {}
    key_columns = [0]
    taxid_column = 1
    for number, line in text_lines(path):
        fields = line.split("\t")
        if number == 1 or not mapping and not first_line:
            lowered = [c.strip().lower() for c in fields]
            if "taxid" in lowered:
                taxid_column = lowered.index("taxid")
                keys = ("seqid", "sequence_id", "accession", "assembly", "file", "filename")
                key_columns = [i for i, c in enumerate(lowered) if c in keys]
                if not key_columns:
                    raise InputError(
                        "header names a 'taxid' column but no key column (seqid, "
                        "accession or file)",
                        file=path,
                        line=number,
                    )
                continue
        if len(fields) <= max(key_columns + [taxid_column]):
            raise InputError(
                "expected a key and a taxid separated by a tab", file=path, line=number
            )
        try:
            taxid = int(fields[taxid_column])
        except ValueError:
            taxid = 0
        if taxid <= 0:
            raise InputError(
                f"taxid {fields[taxid_column]!r} is not a positive integer",
                file=path,
                line=number,
            )
        for column in key_columns:
            key = fields[column].strip()
            if not key:
                continue
            if mapping.get(key, taxid) != taxid:
                raise InputError(
                    f"{key!r} has taxid {taxid} here but {mapping[key]} on line {first_line[key]}",
                    file=path,
                    line=number,
                )
            mapping[key] = taxid
            first_line.setdefault(key, number)
    if not mapping:
        raise InputError("sequence-to-taxid table is empty", file=path)
    return mapping


def qualified_id(file: str, seqid: str) -> str:
    """A sequence ID made unique by its file: ``<file name without extensions>:<seqid>``
    (what ``rename_duplicates`` renames a duplicated ID to, and a seqid2taxid key for it)."""
    return f"{_strip_suffixes(os.path.basename(file))}:{seqid}"


class _TaxidResolver:
    """Finds the taxid of a reference sequence (see the module docstring for the order)."""

    def __init__(self, table: dict[str, int], accessions: dict[str, int]):
        self.table = table
        self.accessions = accessions

    def __call__(self, file: str, header: str, given: int | None = None) -> int | None:
        return self.source(file, header, given)[0]

    def source(self, file: str, header: str, given: int | None = None) -> tuple[int | None, str]:
        """(taxid or None, where it came from: 'header', 'genbank', 'qualified', 'seqid' (the
        table or a GTDB accession by sequence ID), 'file' (by file name) or 'none')."""
        match = _KRAKEN_TAXID.search(header)
        if match:
            return int(match.group(1)), "header"
        if given is not None:
            return given, "genbank"
        seqid = header.split(maxsplit=1)[0] if header.strip() else ""
        base = os.path.basename(file)
        keys = (
            (qualified_id(file, seqid), "qualified"),
            (seqid, "seqid"),
            (seqid.split(".")[0], "seqid"),
            (base, "file"),
            (_strip_suffixes(base), "file"),
        )
        for key, source in keys:
            if key and key in self.table:
                return self.table[key], source
        if self.accessions:
            if seqid in self.accessions:
                return self.accessions[seqid], "seqid"
            match = re.match(r"((?:RS_|GB_)?GC[AF]_\d+\.\d+)", base)
            if match:
                for key in (match.group(1), "RS_" + match.group(1), "GB_" + match.group(1)):
                    if key in self.accessions:
                        return self.accessions[key], "file"
        return None, "none"


class _SequenceIds:
    """Sequence IDs seen so far: a duplicate is an InputError naming both places, or (with
    ``rename``) an ID made unique by its file, recorded in ``renamed``.

    A duplicate within one file cannot be made unique by the file's name and stays an error; so
    does a duplicated ID whose taxid came from the seqid2taxid table (or a GTDB accession) by
    that bare ID (it cannot say which file's sequence it meant).
    """

    def __init__(self, rename: bool):
        self.rename = rename
        self.first: dict[str, tuple[str, int, str]] = {}  # seqid -> (file, record, source)
        self.renamed: list[dict] = []
        self._done: set[tuple[str, str]] = set()

    def add(self, seqid: str, file: str, record: int, source: str) -> str:
        """Register one sequence; returns its (possibly renamed) ID."""
        if seqid not in self.first:
            self.first[seqid] = (file, record, source)
            return seqid
        first_file, first_record, first_source = self.first[seqid]
        where = f"record {first_record} of {first_file}"
        if first_file == file:
            raise InputError(
                f"record {record}: duplicate sequence ID '{seqid}' (also {where}); IDs must be "
                "unique within a file",
                file=file,
            )
        if not self.rename:
            raise InputError(
                f"record {record}: duplicate sequence ID '{seqid}' (also {where}); give every "
                "sequence its own ID, or make them unique by file with --rename-duplicates",
                file=file,
            )
        if "seqid" in (source, first_source):
            raise InputError(
                f"record {record}: sequence ID '{seqid}' is also {where}, and its taxid is "
                "looked up by that ID (sequence-to-taxid table or GTDB accession), which names "
                "both: key the table by file name or by the renamed IDs "
                f"('{qualified_id(file, seqid)}')",
                file=file,
            )
        for f, r in ((first_file, first_record), (file, record)):
            if (f, seqid) not in self._done:
                self._done.add((f, seqid))
                self.renamed.append(
                    {"file": os.path.basename(f), "record": r, "seqid": seqid,
                     "renamed": qualified_id(f, seqid)}
                )  # fmt: skip
        return qualified_id(file, seqid)


# --- reading references ------------------------------------------------------------------------


def _expand(sequences: list[str | os.PathLike]) -> list[str]:
    """Files of the inputs; a folder stands for its FASTA and GenBank files (sorted)."""
    files: list[str] = []
    for item in sequences:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                str(p) for p in path.iterdir() if p.is_file() and _is_sequence_file(p.name)
            )
            if not found:
                raise InputError("folder holds no FASTA or GenBank file", file=path)
            files.extend(found)
        else:
            files.append(os.fspath(path))
    if not files:
        raise ConfigError("no reference sequences given")
    return files


def reference_files(sequences: list[str | os.PathLike]) -> list[str]:
    """The reference files a build reads: files as given, folders as their FASTA and GenBank
    files (sorted). InputError for a folder without any; ConfigError for no input."""
    return _expand(sequences)


def _is_sequence_file(name: str) -> bool:
    """True if a file name has a FASTA or GenBank extension (compressed or not)."""
    lower = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        lower = lower.removesuffix(suffix)
    return lower.endswith(_FASTA_SUFFIXES + _GENBANK_SUFFIXES)


def _is_genbank(path: str) -> bool:
    from xopen import xopen

    if not os.path.isfile(path):
        raise InputError("file not found", file=path)
    try:
        with xopen(path, "rb") as f:
            start = f.read(4096).lstrip()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read file: {exc}", file=path) from exc
    return start.startswith(b"LOCUS")


def _records(path: str) -> Iterator[tuple[str, np.ndarray, int | None]]:
    """(header, sequence as uint8, taxid from the file or None) of every record of a file."""
    if _is_genbank(path):
        from Bio import SeqIO
        from xopen import xopen

        try:
            with xopen(path, "rt") as handle:
                for number, record in enumerate(SeqIO.parse(handle, "genbank"), 1):
                    taxid = None
                    for feature in record.features:
                        if feature.type == "source":
                            for xref in feature.qualifiers.get("db_xref", []):
                                if xref.startswith("taxon:"):
                                    taxid = int(xref[6:])
                            break
                    try:
                        seq = bytes(record.seq)
                    except Exception as exc:  # Biopython: UndefinedSequenceError
                        raise InputError(
                            f"GenBank record {number} ({record.id}) has no sequence", file=path
                        ) from exc
                    header = f"{record.id} {record.description}"
                    yield header, np.frombuffer(seq, dtype=np.uint8), taxid
        except ValueError as exc:
            raise InputError(f"malformed GenBank file: {exc}", file=path) from exc
        return
    for batch in read_batches(path):
        if batch.qual is not None:
            raise InputError("reference sequences must be FASTA or GenBank, not FASTQ", file=path)
        for r in range(len(batch)):
            yield batch.name(r), batch.seq[batch.offsets[r] : batch.offsets[r + 1]], None


def parse_memory(text: str) -> int:
    """Bytes of a memory size: ``4G``, ``500M``, ``1.5GiB``, ``750MB``, ``2000000000``.

    As in GNU ``sort -S``: ``K``, ``M``, ``G``, ``T`` (also ``KiB`` ... ``TiB``) are powers of
    1024, ``KB``, ``MB``, ``GB``, ``TB`` powers of 1000, a bare number is bytes. ConfigError for
    anything else, or a size that is not positive.
    """
    match = _MEMORY.fullmatch(str(text).strip())
    if match is None:
        raise ConfigError(
            f"--max-memory {text!r} is not a memory size: give e.g. 4G, 500M, 1.5GiB or 750MB"
        )
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    if unit in ("", "B"):
        factor = 1
    elif unit.endswith("IB") or len(unit) == 1:  # KiB, K: powers of 1024
        factor = 1024 ** ("KMGT".index(unit[0]) + 1)
    else:  # KB: powers of 1000
        factor = 1000 ** ("KMGT".index(unit[0]) + 1)
    size = int(number * factor)
    if size <= 0:
        raise ConfigError(f"--max-memory {text!r} must be more than 0 bytes")
    return size


def format_memory(size: int) -> str:
    """``size`` bytes as ``12.3 MiB`` / ``1.50 GiB`` (for messages)."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.2f} GiB"
    return f"{size / (1 << 20):.1f} MiB"


def default_max_memory() -> int:
    """Half the memory of the machine, or of the cgroup (a SLURM job's allocation) when that is
    smaller: the ``--max-memory`` of a build that names none."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return max(total // 2, BASELINE_MEMORY + (64 << 20))


class _Spill:
    """Genome minimizers spilled to disk as (hash, genome index) records, into one file per
    value of the top :data:`SPILL_BITS` bits of the hash, so that the table can be reduced one
    range of hashes at a time; buffered in memory up to ``buffer_records`` records."""

    def __init__(self, folder: Path, buffer_records: int):
        self.folder = folder
        self.buffer_records = max(1, buffer_records)
        self.counts = np.zeros(1 << SPILL_BITS, dtype=np.int64)
        self.pending: list[tuple[np.ndarray, int]] = []
        self.pending_size = 0

    def path(self, part: int) -> Path:
        return self.folder / f"{part:04d}.spill"

    def add(self, hashes: np.ndarray, owner: int) -> None:
        """Add one genome's distinct minimizer hashes (uint64), owned by genome ``owner``."""
        if hashes.shape[0] == 0:
            return
        self.pending.append((hashes, owner))
        self.pending_size += hashes.shape[0]
        if self.pending_size >= self.buffer_records:
            self.flush()

    def flush(self) -> None:
        """Append the buffered records to their files."""
        if not self.pending:
            return
        keys = np.concatenate([h for h, _ in self.pending])
        owners = np.repeat(
            np.array([o for _, o in self.pending], dtype=np.int32),
            [h.shape[0] for h, _ in self.pending],
        )
        self.pending, self.pending_size = [], 0
        part = (keys >> np.uint64(64 - SPILL_BITS)).astype(np.uint16)
        order = np.argsort(part, kind="stable")
        counts = np.bincount(part, minlength=1 << SPILL_BITS)
        del part
        records = np.empty(keys.shape[0], dtype=_RECORD)
        records["hash"] = keys[order]
        del keys
        records["owner"] = owners[order]
        del owners, order
        ends = np.cumsum(counts)
        for p in np.flatnonzero(counts).tolist():
            with open(self.path(p), "ab") as f:
                records[ends[p] - counts[p] : ends[p]].tofile(f)
        self.counts += counts

    def ranges(self, limit: int) -> Iterator[np.ndarray]:
        """The records, as arrays of at most about ``limit`` records that each hold every
        record of the hashes they hold, in increasing order of hash: whole partition files
        grouped, or a partition larger than ``limit`` read in as many passes over its file as
        it takes, each keeping one range of hash values."""
        limit = max(1, limit)
        group: list[int] = []
        size = 0
        for p in range(1 << SPILL_BITS):
            count = int(self.counts[p])
            if count == 0:
                continue
            if size + count > limit and group:
                yield self._read(group, size)
                group, size = [], 0
            if count > limit:
                yield from self._split(p, count, limit)
                continue
            group.append(p)
            size += count
        if group:
            yield self._read(group, size)

    def _read(self, parts: list[int], size: int) -> np.ndarray:
        records = np.empty(size, dtype=_RECORD)
        at = 0
        for p in parts:
            part = np.fromfile(self.path(p), dtype=_RECORD)
            if part.shape[0] != self.counts[p]:
                raise OSError(f"spill file {self.path(p)} holds {part.shape[0]} records, not "
                              f"the {self.counts[p]} written")  # fmt: skip
            records[at : at + part.shape[0]] = part
            at += part.shape[0]
            self.path(p).unlink()  # disk: the table grows as the spill shrinks
        return records

    def _split(self, part: int, count: int, limit: int) -> Iterator[np.ndarray]:
        passes = 1 << int(np.ceil(np.log2(-(-count // limit))))
        width = 1 << (64 - SPILL_BITS - int(np.log2(passes)))
        chunk = max(1, limit // 2)
        for j in range(passes):
            low = np.uint64((part << (64 - SPILL_BITS)) + j * width)
            high = np.uint64(low + np.uint64(width - 1))
            kept = []
            with open(self.path(part), "rb") as f:
                while True:
                    block = np.fromfile(f, dtype=_RECORD, count=chunk)
                    if block.shape[0] == 0:
                        break
                    keys = block["hash"]
                    kept.append(block[(keys >= low) & (keys <= high)])
            yield np.concatenate(kept) if kept else np.empty(0, dtype=_RECORD)
        self.path(part).unlink()


def _reduce(records: np.ndarray, genome_nodes: np.ndarray, taxonomy: Taxonomy):
    """(hashes, nodes, owners) of a range of spilled records: one entry per distinct hash, its
    node the LCA of its genomes' nodes, its owner the genome when only one holds it (else -1)."""
    keys = np.ascontiguousarray(records["hash"])
    order = np.argsort(keys)  # runs of equal hashes reduce the same in any order
    keys = keys[order]
    owners = records["owner"][order]
    del order, records
    nodes = genome_nodes[owners]
    n = _kernels.reduce_runs(
        keys, nodes, owners, taxonomy.parents, taxonomy.depth, keys, nodes, owners
    )
    return keys[:n], nodes[:n], owners[:n]


def _release_free_memory() -> None:
    """Give the memory freed by the scan and the reduction back to the system (glibc keeps
    freed small blocks in its arenas: 150 MB on 81 Mbp of references), so that it does not
    stay in the build's resident memory beside the memory-mapped table."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _bucket_table(hashes: np.ndarray, bits: int) -> np.ndarray:
    """``buckets`` (int64, ``2**bits + 1``) of sorted ``hashes``: the first position whose hash
    has top ``bits`` bits ``>= j``; read in chunks, so ``hashes`` may be a memory map."""
    buckets = np.zeros(2**bits + 1, dtype=np.int64)
    shift = np.uint64(64 - bits)
    step = 1 << 24
    for start in range(0, hashes.shape[0], step):
        top = (hashes[start : start + step] >> shift).astype(np.int64)
        first = int(top[0])
        counts = np.bincount(top - first)
        buckets[first + 1 : first + 1 + counts.shape[0]] += counts
    np.cumsum(buckets, out=buckets)
    return buckets


def _file_sections(arrays: dict, files: dict[str, tuple[Path, int]]) -> Iterator[tuple]:
    """(name, dtype, byte size, chunks of bytes) of every payload section, from ``arrays`` or
    the ``files`` (path, byte size) the big sections were written to."""
    for name, dtype in _SECTIONS:
        if name in files:
            path, size = files[name]

            def chunks(path: Path = path) -> Iterator[bytes]:
                with open(path, "rb") as f:
                    while block := f.read(64 << 20):
                        yield block

            yield name, dtype, size, chunks
        else:
            data = np.ascontiguousarray(arrays[name], dtype=dtype)
            yield name, dtype, data.nbytes, lambda data=data: iter([memoryview(data).cast("B")])


def build_database(
    sequences: list[str | os.PathLike],
    taxonomy: Taxonomy | str | os.PathLike,
    seqid2taxid: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    k: int = DEFAULT_K,
    w: int = DEFAULT_W,
    seed: int = 0,
    threads: int = 2,
    read_length: int = DEFAULT_READ_LENGTH,
    step: int | None = None,
    rename_duplicates: bool = False,
    max_memory: int | None = None,
) -> dict:
    """Build a profiling database from reference sequences into the file ``out``.

    The build streams: each reference file's distinct minimizers are spilled to temporary files
    (a hidden folder next to ``out``, removed when the build ends or fails), one per range of
    hash values, which are then reduced one range at a time and appended to the table; so the
    working memory stays within ``max_memory`` whatever the size of the references, and the
    database is the same, byte for byte, whatever ``max_memory`` is.

    Parameters
    ----------
    sequences
        FASTA (plain or compressed) and GenBank files, or folders of them.
    taxonomy
        A Taxonomy, an NCBI taxdump folder or a GTDB taxonomy TSV.
    seqid2taxid
        Table of sequence ID or file name -> taxid (see :func:`read_seqid2taxid`), or None.
    out
        The database file, written atomically.
    k, w
        Minimizer length (1-31) and window (minimizers of ``w`` consecutive k-mers).
    seed
        Seed of the minimizer hash.
    threads
        Threads computing minimizers and classifying windows.
    read_length
        Read length of the k-mer distribution stored for abundance estimation (Bracken's
        ``-r``): the references are cut into windows of this length and classified against the
        new database (confidence 0, Kraken 2's minimum of 2 hit groups).
    step
        Distance between window starts (default ``read_length // 10``; Bracken uses 1, which
        is ten times slower and changes the fractions by well under a percent point).
    rename_duplicates
        A sequence ID in more than one file is an InputError naming both files and records,
        unless this is set: then each is renamed ``<file name>:<ID>`` (:func:`qualified_id`,
        also a seqid2taxid key), logged and listed in the header's ``renamed_sequence_ids``.
    max_memory
        Bytes the build may use (default :func:`default_max_memory`), of which
        :data:`BASELINE_MEMORY` is set aside for the interpreter and libraries. ConfigError if
        it is too small for the minimizers of one reference file. The k-mer distribution
        classifies against the finished table memory-mapped from its file, as classification
        does: it runs at speed when the database fits in memory (page cache) beside that.

    Returns
    -------
    dict
        The header written, with the per-genome and per-taxon summary.
    """
    k = check_k(k, "k")
    if not isinstance(w, int | np.integer) or w < 1:
        raise ConfigError(f"window w must be a positive integer (got {w!r})")
    if threads < 1:
        raise ConfigError(f"threads must be at least 1 (got {threads})")
    if not isinstance(read_length, int | np.integer) or read_length < 1:
        raise ConfigError(f"read length must be a positive integer (got {read_length!r})")
    step = max(1, read_length // DEFAULT_STEP_FRACTION) if step is None else step
    if not isinstance(step, int | np.integer) or step < 1:
        raise ConfigError(f"window step must be a positive integer (got {step!r})")
    max_memory = default_max_memory() if max_memory is None else int(max_memory)
    working = max_memory - BASELINE_MEMORY
    if working < _MIN_WORKING:
        raise ConfigError(
            f"--max-memory {format_memory(max_memory)} is too small: a build needs at least "
            f"{format_memory(BASELINE_MEMORY + _MIN_WORKING)}"
        )
    started = time.monotonic()
    accessions: dict[str, int] = {}
    if isinstance(taxonomy, Taxonomy):
        tax = taxonomy
    elif Path(taxonomy).is_file():
        tax, accessions = _read_gtdb(taxonomy)
    else:
        tax = load_taxonomy(taxonomy)
    table_map = read_seqid2taxid(seqid2taxid) if seqid2taxid is not None else {}
    resolve = _TaxidResolver(table_map, accessions)
    files = _expand(sequences)

    if output_kind(out) == "atomic":
        scratch_parent = make_folder(Path(os.path.realpath(out)).parent, name=out)
    else:
        scratch_parent = None  # stdout or a device: the system's temporary folder
    scratch = Path(
        tempfile.mkdtemp(prefix=f".{os.path.basename(os.fspath(out))}.build.", dir=scratch_parent)
    )
    try:
        with _terminate_raises():
            return _build(
                files, tax, resolve, out, scratch, k=k, w=w, seed=seed, threads=threads,
                read_length=read_length, step=step, rename_duplicates=rename_duplicates,
                max_memory=max_memory, started=started,
            )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _terminate_raises() -> Iterator[None]:
    """Make SIGTERM (a cancelled job: SLURM's scancel, Snakemake stopping) raise SystemExit(143)
    in the main thread while building, so that the temporary files and the half-written database
    are removed as on any error; nothing changes where SIGTERM already has a handler."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def terminate(signum: int, frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _build(
    files: list[str],
    tax: Taxonomy,
    resolve: _TaxidResolver,
    out: str | os.PathLike,
    scratch: Path,
    *,
    k: int,
    w: int,
    seed: int,
    threads: int,
    read_length: int,
    step: int,
    rename_duplicates: bool,
    max_memory: int,
    started: float,
) -> dict:
    """:func:`build_database` with its temporary folder ``scratch``."""
    working = max_memory - BASELINE_MEMORY
    buffer_records = min(working // 4 // _SPILL_BYTES, _SPILL_BUFFER_CAP)
    spill = _Spill(scratch, buffer_records)
    genomes: list[dict] = []
    genome_paths: list[str] = []
    progress = Progress("db build: minimizers", total=len(files), unit="reference files")
    total_bases = 0
    ids = _SequenceIds(rename_duplicates)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for file in files:
            groups: dict[int, dict] = {}
            parts: dict[int, list] = {}
            file_bases = 0
            for record, (header, seq, given) in enumerate(_records(file), 1):
                seqid = header.split(maxsplit=1)[0] if header.strip() else "(no name)"
                taxid, source = resolve.source(file, header, given)
                seqid = ids.add(seqid, file, record, source)
                if taxid is None:
                    raise InputError(
                        f"sequence '{seqid}' has no taxid (no kraken:taxid|N in its header, no "
                        "GenBank taxon, and neither its ID nor its file name is in the "
                        "sequence-to-taxid table)",
                        file=file,
                    )
                if taxid not in tax:
                    raise InputError(
                        f"sequence '{seqid}' has taxid {taxid}, which is not in the taxonomy",
                        file=file,
                    )
                group = groups.setdefault(
                    taxid, {"first": seqid, "taxid": taxid, "sequences": 0, "length": 0}
                )
                group["sequences"] += 1
                group["length"] += int(seq.shape[0])
                total_bases += int(seq.shape[0])
                file_bases += int(seq.shape[0])
                parts.setdefault(taxid, []).extend(
                    pool.submit(minimizer_hashes, piece, k, w, seed)
                    for piece in sequence_pieces(seq, k, w, PIECE)
                )
            base = os.path.basename(file)
            done = {taxid: [f.result() for f in futures] for taxid, futures in parts.items()}
            sizes = [sum(a.shape[0] for a in arrays) for arrays in done.values()]
            need = (
                file_bases
                + 8 * sum(sizes)
                + _GENOME_BYTES * max(sizes, default=0)
                + _SPILL_BYTES * buffer_records
            )
            if need > working:
                raise ConfigError(
                    f"--max-memory {format_memory(max_memory)} is too small for the "
                    f"{file_bases:,} bases and {sum(sizes):,} minimizers of this file: give "
                    f"at least {format_memory(need + BASELINE_MEMORY)}, or split the file by "
                    "genome",
                    file=file,
                )
            for taxid, group in groups.items():
                arrays = done.pop(taxid)
                hashes = np.unique(np.concatenate(arrays)) if arrays else np.empty(0, np.uint64)
                del arrays
                name = base if len(groups) == 1 else f"{base}:{group['first']}"
                genomes.append(
                    {
                        "name": name,
                        "file": base,
                        "taxid": taxid,
                        "sequences": group["sequences"],
                        "length": group["length"],
                        "minimizers": int(hashes.shape[0]),
                    }
                )
                genome_paths.append(file)
                spill.add(hashes, len(genomes) - 1)
            if not groups:
                raise InputError("file holds no sequence", file=file)
            del parts, done, hashes, seq  # the file's sequences and piece arrays
            progress.update()
    progress.close()
    spill.flush()
    if ids.renamed:
        log.info(
            "renamed %d sequence IDs that occur in more than one file: %s",
            len(ids.renamed),
            ", ".join(f"{r['seqid']} in {r['file']} -> {r['renamed']}" for r in ids.renamed),
        )
    if int(spill.counts.sum()) == 0:
        raise InputError(
            f"no reference sequence has {k + w - 1} or more valid bases", file=", ".join(files)
        )

    # Prune the taxonomy to the reference taxa and their ancestors; renumber the nodes.
    pruned = tax.subset(g["taxid"] for g in genomes)
    renumber = np.full(len(tax), -1, dtype=np.int32)
    renumber[[tax.node(t) for t in pruned.taxids.tolist()]] = np.arange(len(pruned), dtype=np.int32)

    # Reduce the spilled minimizers one range of hashes at a time, appending to the table files.
    genome_nodes = np.array([tax.node(g["taxid"]) for g in genomes], dtype=np.int32)
    unique = np.zeros(len(genomes), dtype=np.int64)
    assigned = np.zeros(len(pruned), dtype=np.int64)
    hashes_path, nodes_path = scratch / "hashes", scratch / "nodes"
    limit = min(working // _REDUCE_BYTES, _REDUCE_CAP)
    ranges = 0
    reducing = Progress("db build: table", total=int(spill.counts.sum()), unit="minimizers")
    with reducing, open(hashes_path, "wb") as hashes_file, open(nodes_path, "wb") as nodes_file:
        for records in spill.ranges(limit):
            done = records.shape[0]
            keys, nodes, owners = _reduce(records, genome_nodes, tax)
            del records
            nodes = renumber[nodes]
            keys.tofile(hashes_file)
            nodes.tofile(nodes_file)
            unique += np.bincount(owners[owners >= 0], minlength=len(genomes))
            assigned += np.bincount(nodes, minlength=len(pruned))
            ranges += 1
            reducing.update(done)
            del keys, nodes, owners
    size = os.path.getsize(hashes_path) // 8
    log.debug("table of %d minimizers reduced in %d range(s) of hashes", size, ranges)
    for genome, count in zip(genomes, unique.tolist(), strict=True):
        genome["unique_minimizers"] = int(count)
    _release_free_memory()
    hashes = np.memmap(hashes_path, dtype=np.uint64, mode="r", shape=(size,))
    nodes = np.memmap(nodes_path, dtype=np.int32, mode="r", shape=(size,))

    taxa = []
    by_taxid: dict[int, dict] = {}
    for g in genomes:
        entry = by_taxid.setdefault(g["taxid"], {"genomes": 0, "sequences": 0, "length": 0})
        entry["genomes"] += 1
        entry["sequences"] += g["sequences"]
        entry["length"] += g["length"]
    for i in np.flatnonzero(assigned).tolist() + [pruned.node(t) for t in by_taxid]:
        taxid = int(pruned.taxids[i])
        if any(t["taxid"] == taxid for t in taxa):
            continue
        entry = by_taxid.get(taxid, {"genomes": 0, "sequences": 0, "length": 0})
        taxa.append(
            {
                "taxid": taxid,
                "name": pruned.names[i],
                "rank": pruned.ranks[i],
                **entry,
                "minimizers_assigned": int(assigned[i]),
            }
        )
    taxa.sort(key=lambda t: (-t["minimizers_assigned"], t["taxid"]))

    bits = max(1, int(np.ceil(np.log2(max(size / BUCKET_LOAD, 2)))))
    buckets = _bucket_table(hashes, bits)
    rank_list = sorted(set(pruned.ranks))
    rank_index = {r: i for i, r in enumerate(rank_list)}
    rank_codes = np.array([rank_index[r] for r in pruned.ranks], dtype=np.uint16)
    names = "\n".join(n.replace("\n", " ") for n in pruned.names).encode("utf-8")
    table_bytes = size * 12 + buckets.nbytes
    if table_bytes + BASELINE_MEMORY > max_memory:
        log.warning(
            "the table (%s) and the build's %s baseline exceed --max-memory %s: the k-mer "
            "distribution classifies against the table memory-mapped from disk, slowly",
            format_memory(table_bytes),
            format_memory(BASELINE_MEMORY),
            format_memory(max_memory),
        )

    # The k-mer distribution needs the finished table: classify windows of the references
    # against it (memory-mapped), then store the result in the same file. One file (rather than
    # a sidecar next to it) keeps database and distribution from ever getting out of step, puts
    # both under one checksum, and leaves the workflow one output to track; the price is a
    # rebuild for another read length, which Bracken pays too.
    dist_started = time.monotonic()
    in_memory = Database(
        os.fspath(out),
        k,
        w,
        seed,
        pruned,
        hashes,
        nodes,
        buckets,
        tuple(Genome(**g) for g in genomes),
        {"bucket_bits": bits},
    )
    holders: dict[int, list[str]] = {}
    for g, path in zip(genomes, genome_paths, strict=True):
        if pruned.at_rank(g["taxid"], "species") is not None:
            files_of = holders.setdefault(g["taxid"], [])
            if path not in files_of:
                files_of.append(path)
    distribution = _build_distribution(in_memory, holders, resolve, read_length, step, threads)
    del in_memory
    dist_species, dist_taxids, dist_fractions = _distribution_arrays(distribution)
    dist_seconds = time.monotonic() - dist_started
    arrays = {
        "buckets": buckets,
        "taxids": pruned.taxids,
        "parents": pruned.parents,
        "rank_codes": rank_codes,
        "names": np.frombuffer(names, dtype=np.uint8),
        "dist_species": dist_species,
        "dist_taxids": dist_taxids,
        "dist_fractions": dist_fractions,
    }
    big = {"hashes": (hashes_path, size * 8), "nodes": (nodes_path, size * 4)}
    sections = []
    offset = 0
    for name, dtype, nbytes, _ in _file_sections(arrays, big):
        pad = (-nbytes) % 8
        sections.append({"name": name, "dtype": dtype, "offset": offset, "bytes": nbytes})
        offset += nbytes + pad
    header = {
        "format_version": FORMAT_VERSION,
        "microbiome_version": __version__,
        "k": k,
        "w": w,
        "seed": seed,
        "minimizers": int(size),
        "bucket_bits": bits,
        "taxa": len(pruned),
        "ranks": rank_list,
        "payload_bytes": offset,
        "block_bytes": BLOCK_BYTES,
        "blocks": -(-offset // BLOCK_BYTES),
        "checksum": "0" * 32,  # of the block digests, once they are written
        "sections": sections,
        "sources": [os.path.basename(f) for f in files],
        "bases": total_bases,
        "genomes": genomes,
        "renamed_sequence_ids": ids.renamed,
        "taxon_summary": taxa,
        "kmer_distribution": {
            "read_length": read_length,
            "step": step,
            "confidence": 0.0,
            "min_hit_groups": DEFAULT_MIN_HIT_GROUPS,
            "species": len(distribution),
        },
    }
    with atomic_path(out, seekable=True) as tmp, open(tmp, "w+b") as f:
        start = binfile.header_bytes(MAGIC, header)
        f.write(start)
        for _, _, nbytes, chunks in _file_sections(arrays, big):
            for block in chunks():
                f.write(block)
            f.write(b"\0" * ((-nbytes) % 8))
        f.flush()
        words = np.memmap(tmp, dtype="<u8", mode="r", offset=len(start), shape=(offset // 8,))
        digests = _block_digests(words, header["blocks"])
        del words
        f.write(digests.tobytes())
        header["checksum"] = hashlib.blake2b(digests.tobytes(), digest_size=16).hexdigest()
        f.seek(0)
        f.write(binfile.header_bytes(MAGIC, header))  # same length: the checksum's is fixed
    del hashes, nodes
    # Times go to -v only, so that the same references give the same database, byte for byte,
    # and the log is the same on every run.
    log.info(
        "database %s: %d genomes, %d taxa, %d minimizers, %.1f Mbp, %d bytes, k-mer "
        "distribution of %d species for %d bp reads",
        os.fspath(out),
        len(genomes),
        len(pruned),
        size,
        total_bases / 1e6,
        os.path.getsize(out),
        len(distribution),
        read_length,
    )
    log.debug(
        "database build took %.1f s (k-mer distribution %.1f s)",
        time.monotonic() - started,
        dist_seconds,
    )
    return header


class _ReferenceSequences(Mapping):
    """Taxid -> its reference sequences (bytes), read from disk only when asked for, so the
    k-mer distribution holds one species' sequences in memory at a time."""

    def __init__(self, holders: dict[int, list[str]], resolve: _TaxidResolver, progress: Progress):
        self.holders = holders
        self.resolve = resolve
        self.progress = progress

    def __getitem__(self, taxid: int) -> Iterator[bytes]:
        files = self.holders[taxid]  # KeyError for others, as a mapping should

        def sequences() -> Iterator[bytes]:
            for file in files:
                for header, seq, given in _records(file):
                    if self.resolve(file, header, given) == taxid:
                        yield seq.tobytes()

        return sequences()

    def __iter__(self) -> Iterator[int]:
        for taxid in self.holders:
            yield taxid
            self.progress.update()  # the species' windows are classified when asked for the next

    def __len__(self) -> int:
        return len(self.holders)


def _build_distribution(
    db: Database,
    holders: dict[int, list[str]],
    resolve: _TaxidResolver,
    read_length: int,
    step: int,
    threads: int,
) -> dict[int, dict[int, float]]:
    """Bracken's k-mer distribution of every species-level taxid of the references.

    ``holders`` maps each genome taxid at species rank or below to the files holding it.
    """
    from microbiome.profile.abundance import kmer_distribution
    from microbiome.profile.classify import classify_sequences

    if not holders:
        log.warning("no reference genome is at species rank or below: no k-mer distribution")
        return {}
    progress = Progress("db build: k-mer distribution", total=len(holders), unit="species")
    with progress, ThreadPoolExecutor(max_workers=threads) as pool:
        return kmer_distribution(
            _ReferenceSequences(holders, resolve, progress),
            lambda windows: classify_sequences(db, windows, threads=threads, pool=pool),
            read_length=read_length,
            step=step,
        )


def _block_digests(words: np.ndarray, count: int) -> np.ndarray:
    """XXH64 (uint64) of each BLOCK_BYTES block of the payload ``words`` (uint64)."""
    digests = np.empty(count, dtype="<u8")
    _kernels.block_digests(words, BLOCK_BYTES.bit_length() - 1, digests)
    return digests


def _distribution_arrays(
    distribution: dict[int, dict[int, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [(s, t, f) for s in sorted(distribution) for t, f in sorted(distribution[s].items())]
    species = np.array([r[0] for r in rows], dtype=np.int64)
    taxids = np.array([r[1] for r in rows], dtype=np.int64)
    fractions = np.array([r[2] for r in rows], dtype=np.float64)
    return species, taxids, fractions


def read_header(path: str | os.PathLike) -> tuple[dict, int]:
    """(JSON header, payload offset) of a database file; DatabaseError if it is not one."""
    return binfile.read_header(
        path, MAGIC, what="profiling database", build="microbiome db build", version=FORMAT_VERSION
    )


def load_database(path: str | os.PathLike, *, verify: bool = True) -> Database:
    """Memory-map a profiling database.

    Reads the header, and with ``verify`` the block digests (checked against the header's
    checksum) and the small sections (their blocks checked); the blocks of the lookup table are
    checked as lookups first read them (see the module docstring), and :meth:`Database.check`
    checks them all.

    Raises DatabaseError if the file is missing, not a database, of another format version,
    truncated or padded, or (with ``verify``) if its digests or a block read fail their checks.
    """
    path = os.fspath(path)
    header, offset = read_header(path)
    size = os.path.getsize(path)
    payload_bytes = header["payload_bytes"]
    block_bytes = header["block_bytes"]
    count = header["blocks"]
    expected = offset + payload_bytes + 8 * count
    if size != expected:
        raise DatabaseError(
            f"database is truncated or padded ({size} bytes, expected {expected})", file=path
        )
    if (
        block_bytes < 8
        or block_bytes & (block_bytes - 1)
        or count != -(-payload_bytes // block_bytes)
    ):
        raise DatabaseError(
            f"database header is corrupt (block size {block_bytes}, {count} blocks)", file=path
        )
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(size - offset,))
    arrays = {}
    for section in header["sections"]:
        start = section["offset"]
        arrays[section["name"]] = raw[start : start + section["bytes"]].view(section["dtype"])
    blocks = None
    if verify:
        digests = raw[payload_bytes:].view("<u8")
        if hashlib.blake2b(digests, digest_size=16).hexdigest() != header["checksum"]:
            raise DatabaseError(
                "database fails its checksum (block digests; corrupt file): rebuild it", file=path
            )
        table = {s["name"]: s for s in header["sections"] if s["name"] in _TABLE_SECTIONS}
        table_start = min(s["offset"] for s in table.values()) // block_bytes
        table_stop = -(-max(s["offset"] + s["bytes"] for s in table.values()) // block_bytes)
        blocks = _Blocks(
            raw[:payload_bytes].view("<u8"),
            digests,
            np.zeros(count, dtype=np.uint8),
            block_bytes.bit_length() - 1,
            np.array([table[name]["offset"] for name in _TABLE_SECTIONS], dtype=np.int64),
            tuple(header["sections"]),
            (table_start, table_stop),
        )
        for section in header["sections"]:
            if section["name"] not in _TABLE_SECTIONS:
                first = section["offset"] // block_bytes
                last = -(-(section["offset"] + section["bytes"]) // block_bytes)
                blocks.check(first, last, path)
    ranks = header["ranks"]
    names = arrays["names"].tobytes().decode("utf-8").split("\n")
    taxonomy = Taxonomy(
        np.array(arrays["taxids"], dtype=np.int64),
        np.array(arrays["parents"], dtype=np.int32),
        tuple(ranks[c] for c in arrays["rank_codes"].tolist()),
        tuple(names),
    )
    genomes = tuple(Genome(**g) for g in header["genomes"])
    distribution = (arrays["dist_species"], arrays["dist_taxids"], arrays["dist_fractions"])
    return Database(
        path,
        header["k"],
        header["w"],
        header["seed"],
        taxonomy,
        arrays["hashes"],
        arrays["nodes"],
        arrays["buckets"],
        genomes,
        header,
        distribution,
        blocks,
    )


def summary_table(header: dict) -> str:
    """The build summary as TSV text: one line per genome, then one per taxon."""
    lines = ["# genomes", "genome\tfile\ttaxid\tsequences\tbases\tminimizers\tunique_minimizers"]
    for g in header["genomes"]:
        lines.append(
            f"{g['name']}\t{g['file']}\t{g['taxid']}\t{g['sequences']}\t{g['length']}\t"
            f"{g['minimizers']}\t{g['unique_minimizers']}"
        )
    lines += ["# taxa", "taxid\trank\tname\tgenomes\tsequences\tbases\tminimizers_assigned"]
    for t in header["taxon_summary"]:
        lines.append(
            f"{t['taxid']}\t{t['rank']}\t{t['name']}\t{t['genomes']}\t"
            f"{t['sequences']}\t{t['length']}\t{t['minimizers_assigned']}"
        )
    if header.get("renamed_sequence_ids"):
        lines += ["# renamed sequence IDs", "file\trecord\tseqid\trenamed"]
        for r in header["renamed_sequence_ids"]:
            lines.append(f"{r['file']}\t{r['record']}\t{r['seqid']}\t{r['renamed']}")
    return "\n".join(lines) + "\n"


__all__ = [
    "DEFAULT_K",
    "DEFAULT_READ_LENGTH",
    "DEFAULT_W",
    "FORMAT_VERSION",
    "Database",
    "Genome",
    "build_database",
    "load_database",
    "read_header",
    "read_seqid2taxid",
    "reference_files",
    "summary_table",
]
