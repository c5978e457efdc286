"""Adapter and quality trimming with cutadapt: the choice of adapters and the trimmer.

Adapters are found from the reads (as Trim Galore does): the first 12 bases of the Illumina
TruSeq and Nextera 3' adapters are counted in the first 200,000 reads of mate 1 and the more
frequent kind wins; with no hit at all TruSeq is used. They may also be named, or given as a
FASTA file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import dnaio
import numpy as np
from cutadapt.adapters import BackAdapter
from cutadapt.qualtrim import quality_trim_index

from microbiome.errors import ConfigError, InputError
from microbiome.io.reads import read_batches

log = logging.getLogger("microbiome")

#: 3' adapters of mate 1 and mate 2 for each library kind.
ADAPTERS = {
    "truseq": ("AGATCGGAAGAGCACACGTCTGAACTCCAGTCA", "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"),
    "nextera": ("CTGTCTCTTATACACATCT", "CTGTCTCTTATACACATCT"),
}
#: Prefix length counted when detecting the adapter kind.
PROBE = 12
DETECT_READS = 200_000


@dataclass(frozen=True)
class AdapterChoice:
    """The adapters trimmed from each mate, and how they were chosen."""

    kind: str  # truseq, nextera, none, file, or the comma-joined custom sequences
    mate1: tuple[str, ...]
    mate2: tuple[str, ...]
    how: str
    probe_counts: dict[str, int]


def detect_adapter_kind(path: str | os.PathLike, n_reads: int = DETECT_READS) -> dict[str, int]:
    """Occurrences of each adapter kind's 12-base prefix in the first ``n_reads`` reads."""
    probes = {kind: seqs[0][:PROBE].encode() for kind, seqs in ADAPTERS.items()}
    counts = dict.fromkeys(probes, 0)
    seen = 0
    for batch in read_batches(path):
        end = min(len(batch), n_reads - seen)
        text = batch.seq[: batch.offsets[end]].tobytes()
        for kind, probe in probes.items():
            counts[kind] += text.count(probe)
        seen += end
        if seen >= n_reads:
            break
    return counts


def _read_adapter_fasta(path: str) -> tuple[str, ...]:
    if not os.path.isfile(path):
        raise ConfigError("adapter FASTA file not found", file=path)
    try:
        with dnaio.open(path, fileformat="fasta") as reader:
            seqs = tuple(record.sequence.upper() for record in reader)
    except (dnaio.exceptions.FileFormatError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read adapter FASTA: {exc}", file=path) from exc
    bad = [s for s in seqs if not s or set(s) - set("ACGTN")]
    if not seqs or bad:
        raise InputError(
            "adapter FASTA must hold at least one sequence of A, C, G, T, N only", file=path
        )
    return seqs


def choose_adapters(setting: str, reads1: str | os.PathLike) -> AdapterChoice:
    """Resolve the ``adapters`` setting: auto, truseq, nextera, none, or a FASTA file path."""
    if setting == "none":
        return AdapterChoice("none", (), (), "disabled in the settings", {})
    if setting in ADAPTERS:
        first, second = ADAPTERS[setting]
        return AdapterChoice(setting, (first,), (second,), "given in the settings", {})
    if setting != "auto":
        seqs = _read_adapter_fasta(setting)
        return AdapterChoice("file", seqs, seqs, f"read from {setting}", {})
    counts = detect_adapter_kind(reads1)
    best = max(counts, key=lambda kind: counts[kind])
    if counts[best] == 0:
        best, how = "truseq", "auto: no adapter found in the first reads, TruSeq assumed"
    else:
        how = f"auto: its prefix occurs {counts[best]} times in the first reads"
    first, second = ADAPTERS[best]
    log.info("adapters: %s (%s)", best, how)
    return AdapterChoice(best, (first,), (second,), how, counts)


class Trimmer:
    """3' quality trimming (BWA algorithm) and adapter removal of one mate, with cutadapt.

    The cutadapt aligner and quality-trimming routine are called directly (not through its
    modifier classes), which halves the per-read cost. ``lengths`` gives the length of each
    read after trimming and updates ``bases_quality``, ``bases_adapter`` (bases removed by each
    step) and ``with_adapter`` (reads in which an adapter was found).
    """

    def __init__(
        self,
        adapters: tuple[str, ...],
        quality_cutoff: int,
        max_error_rate: float,
        min_overlap: int,
    ) -> None:
        self.quality_cutoff = quality_cutoff
        self.adapters = [
            BackAdapter(
                seq, max_errors=max_error_rate, min_overlap=min_overlap, name=f"adapter{i + 1}"
            )
            for i, seq in enumerate(adapters)
        ]
        self.bases_quality = 0
        self.bases_adapter = 0
        self.with_adapter = 0

    def lengths(self, records: list[dnaio.SequenceRecord]) -> np.ndarray:
        """Length of each record after trimming (it is a prefix of the read)."""
        out = np.empty(len(records), dtype=np.int64)
        cutoff = self.quality_cutoff
        adapters = self.adapters
        single = adapters[0] if len(adapters) == 1 else None
        quality_removed = adapter_removed = with_adapter = 0
        for i, record in enumerate(records):
            seq = record.sequence
            length = len(seq)
            if cutoff:
                stop = quality_trim_index(record.qualities, 0, cutoff, 33)[1]
                if stop < length:
                    quality_removed += length - stop
                    length = stop
                    seq = seq[:stop]
            if single is not None:
                match = single.match_to(seq)
            elif adapters:
                matches = [m for m in (a.match_to(seq) for a in adapters) if m is not None]
                match = max(matches, key=lambda m: (m.score, -m.rstart)) if matches else None
            else:
                match = None
            if match is not None:
                with_adapter += 1
                adapter_removed += length - match.rstart
                length = match.rstart
            out[i] = length
        self.bases_quality += quality_removed
        self.bases_adapter += adapter_removed
        self.with_adapter += with_adapter
        return out
