"""Host removal by alignment with Bowtie 2 (``qc.host_method: bowtie2``), for users who prefer it.

After trimming and the read filters, the cleaned reads are aligned to a Bowtie 2 index of the
host; pairs that align concordantly (and single reads that align) are host, the rest are kept
(``--un-conc-gz`` / ``--un-gz``, as KneadData does). Needs the ``bowtie2`` and
``bowtie2-build`` programs (Debian: bowtie2; conda: they are in envs/microbiome.yaml).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
from pathlib import Path

from microbiome.errors import ConfigError, DatabaseError, InputError
from microbiome.io.atomic import atomic_path

log = logging.getLogger("microbiome")

#: Alignment settings: end-to-end, very sensitive (KneadData's default for host removal).
ALIGN_OPTIONS = ("--very-sensitive", "--no-unal")
INDEX_SUFFIXES = (".1.bt2", ".2.bt2", ".3.bt2", ".4.bt2", ".rev.1.bt2", ".rev.2.bt2")


def program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"qc.host_method is bowtie2 but {name} is not on PATH: install Bowtie 2 (Debian: "
            "apt-get install bowtie2; conda: bioconda::bowtie2) or set qc.host_method: kmer"
        )
    return path


def build_index(
    references: list[str | os.PathLike], prefix: str | os.PathLike, threads: int = 1
) -> None:
    """``bowtie2-build`` of the host FASTA files into ``prefix``.*.bt2 (all or none appear)."""
    prefix = Path(prefix)
    for ref in references:
        if not os.path.isfile(ref):
            raise InputError("host reference not found", file=ref)
    build = program("bowtie2-build")
    tmp_dir = prefix.parent / f".{prefix.name}.building"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    try:
        done = subprocess.run(
            [
                build,
                "--threads",
                str(threads),
                "-q",
                ",".join(map(os.fspath, references)),
                str(tmp_dir / prefix.name),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise InputError(f"bowtie2-build failed: {last}", file=os.fspath(references[0]))
        for suffix in INDEX_SUFFIXES:
            os.replace(tmp_dir / f"{prefix.name}{suffix}", f"{prefix}{suffix}")
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def check_index(prefix: str | os.PathLike) -> str:
    """The index prefix, if all its files exist; DatabaseError naming the first missing one."""
    prefix = os.fspath(prefix)
    for suffix in INDEX_SUFFIXES:
        if not os.path.isfile(prefix + suffix):
            raise DatabaseError(
                "Bowtie 2 host index is incomplete (build it with `microbiome qc-index --bowtie2`)",
                file=prefix + suffix,
            )
    return prefix


def remove_host(index: str, reads: dict[str, str], out: dict[str, Path], threads: int) -> None:
    """Align ``reads`` (keys R1/R2/singletons or reads) and write the unaligned ones to ``out``."""
    bowtie2 = program("bowtie2")
    base = [bowtie2, "-x", index, "-p", str(max(1, threads)), *ALIGN_OPTIONS, "-S", os.devnull]
    jobs = []
    if "R1" in reads:
        tmp = out["R1"].parent / f".{out['R1'].name}.bt2_%.fastq.gz"
        jobs.append(
            (
                [*base, "-1", reads["R1"], "-2", reads["R2"], "--un-conc-gz", str(tmp)],
                {str(tmp).replace("%", "1"): out["R1"], str(tmp).replace("%", "2"): out["R2"]},
            )
        )
    for key in ("singletons", "reads"):
        if key in reads:
            tmp = out[key].parent / f".{out[key].name}.bt2.fastq.gz"
            jobs.append(([*base, "-U", reads[key], "--un-gz", str(tmp)], {str(tmp): out[key]}))
    for command, moves in jobs:
        log.debug("running %s", " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise InputError(f"bowtie2 failed (exit {done.returncode}): {last}", file=index)
        for src, dst in moves.items():
            if not os.path.exists(src):  # bowtie2 writes nothing when every read aligned
                with atomic_path(dst) as t:
                    t.write_bytes(gzip.compress(b""))
            else:
                os.replace(src, dst)
