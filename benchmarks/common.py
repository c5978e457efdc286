"""Shared pieces of the benchmark scripts: simulated reads and timing of a command.

Benchmarks are not tests: they run the peer tool on the same input in the same run and print the
ratios. They may read the shared reference genomes when present (``--genomes``), and fall back on
the fragments bundled in test_data/references.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
SHARED_GENOMES = ROOT.parent / "shared" / "data" / "genomes"


def genome_files(genomes: Path | None) -> list[Path]:
    """Reference FASTA files to simulate from: the shared genomes if present, else test_data's."""
    folder = genomes or (
        SHARED_GENOMES if SHARED_GENOMES.is_dir() else ROOT / "test_data" / "references"
    )
    files = sorted(
        p
        for p in folder.iterdir()
        if p.name.endswith((".fna.gz", ".fa.gz", ".fasta.gz", ".fna", ".fa"))
    )
    if not files:
        sys.exit(f"benchmark: no FASTA files in {folder}")
    return files


def need(tool: str, package: str) -> str:
    """Path of ``tool``; installs Debian's ``package`` when it is missing (benchmarks only)."""
    path = shutil.which(tool)
    if path is None and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", package], check=False, stdout=subprocess.DEVNULL
        )
        path = shutil.which(tool)
    if path is None:
        sys.exit(f"benchmark: {tool} not found; install Debian's {package}")
    return path


def simulate_pairs(
    n_pairs: int, genomes: Path | None = None, *, length: int = 150, seed: int = 7
) -> tuple[Path, Path]:
    """``n_pairs`` ART HiSeq 2500 read pairs from the reference genomes, gzip FASTQ, cached."""
    out1 = WORK / f"sim_{n_pairs}_{length}_R1.fastq.gz"
    out2 = WORK / f"sim_{n_pairs}_{length}_R2.fastq.gz"
    if out1.exists() and out2.exists():
        return out1, out2
    art = need("art_illumina", "art-nextgen-simulation-tools")
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tmp = Path(tmp)
        reference = tmp / "refs.fa"
        total = 0
        with open(reference, "w") as out:
            for path in genome_files(genomes):
                opener = gzip.open if path.suffix == ".gz" else open
                with opener(path, "rt") as f:
                    for line in f:
                        out.write(line)
                        if not line.startswith(">"):
                            total += len(line.strip())
        fold = n_pairs * 2 * length / total * 1.02  # a little over, cut to n_pairs below
        prefix = tmp / "sim"
        subprocess.run(
            [
                art,
                "-ss",
                "HS25",
                "-i",
                str(reference),
                "-p",
                "-l",
                str(length),
                "-m",
                "300",
                "-s",
                "30",
                "-f",
                f"{fold:.4f}",
                "-na",
                "-rs",
                str(seed),
                "-o",
                str(prefix),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for src, dst in ((tmp / "sim1.fq", out1), (tmp / "sim2.fq", out2)):
            with (
                open(src, "rb") as f,
                gzip.open(dst.with_suffix(".part"), "wb", compresslevel=1) as g,
            ):
                for i, line in enumerate(f):
                    if i >= 4 * n_pairs:
                        break
                    g.write(line)
            dst.with_suffix(".part").rename(dst)
    return out1, out2


@dataclass
class Timing:
    wall: float
    max_rss_mb: float
    cpu: float = 0.0  # user + system seconds of the child


def timed(command: list[str], *, env: dict | None = None, stdout=subprocess.DEVNULL) -> Timing:
    """Wall time, peak resident memory and CPU time of one run of ``command`` (wait4 on the
    child)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"benchmark: {' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return Timing(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def best_of(runs: int, command: list[str], **kwargs) -> Timing:
    """The fastest of ``runs`` runs (peak memory of that run)."""
    return min((timed(command, **kwargs) for _ in range(runs)), key=lambda t: t.wall)


def fasta_length(path: Path) -> int:
    """Total bases of a FASTA file (plain or gzip)."""
    opener = gzip.open if path.suffix == ".gz" else open
    total = 0
    with opener(path, "rt") as f:
        for line in f:
            if not line.startswith(">"):
                total += len(line.strip())
    return total


def art_pairs(
    reference: Path, n_pairs: int, prefix: Path, *, length: int = 150, seed: int = 7
) -> tuple[Path, Path]:
    """At least ``n_pairs`` ART HiSeq 2500 pairs from one plain FASTA: ``prefix``1.fq, 2.fq.

    The fold coverage is derived from the reference's size; when records shorter than the
    fragments (gene sets) yield too few pairs, the run is repeated with a higher fold. Read names
    are ART's (``<record>-<n>/1``); the caller takes the first ``n_pairs``.
    """
    art = need("art_illumina", "art-nextgen-simulation-tools")
    fold = max(n_pairs * 2 * length / max(fasta_length(reference), 1) * 1.05, 0.01)
    for _ in range(6):
        subprocess.run(
            [art, "-ss", "HS25", "-i", str(reference), "-p", "-l", str(length), "-m", "300",
             "-s", "30", "-f", f"{fold:.5f}", "-na", "-rs", str(seed), "-o", str(prefix)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        fq1, fq2 = Path(f"{prefix}1.fq"), Path(f"{prefix}2.fq")
        with open(fq1, "rb") as f:
            made = sum(1 for _ in f) // 4
        if made >= n_pairs:
            return fq1, fq2
        fold *= 1.3 * n_pairs / max(made, 1)
    sys.exit(f"benchmark: ART made {made} of {n_pairs} pairs from {reference}")
