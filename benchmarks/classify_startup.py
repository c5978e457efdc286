#!/usr/bin/env python3
"""Start-up CPU time and peak memory of ``microbiome classify`` against Kraken 2, by database size.

Issue 15's start-up benchmark. Not a test. For each database size it builds a Kraken 2 database
and ours from the same sequences (the 21 shared genomes that ``profile_vs_kraken2.py`` puts in
its databases; size ``n`` adds ``n - 1`` mutated copies of each, every base substituted with
probability ``--divergence``, same taxid, so the tables grow with new minimizers), then runs both
classifiers in the same run on:

1. a tiny read file (``--tiny`` pairs, default 100): the *start-up*, CPU seconds (user + system
   of the child, from ``wait4``) of a second and later run, after one warm-up (numba's
   compilation cache filled, both databases in the page cache): the fastest and the median of
   ``--runs``;
2. ``--pairs`` ART pairs (default 100,000, plain FASTQ): *peak RSS* (``wait4``'s ``ru_maxrss``),
   the lowest of ``--runs`` (the pages a process touches do not vary; other jobs' memory
   pressure can only take pages away).

Both run with ``--threads`` (default 2), a report and no per-read output (Kraken 2
``--output /dev/null``; it loads its hash table into memory, its default, not
``--memory-mapping``); ours with ``--abundance none`` off (the default estimation runs, it costs
milliseconds). It also times ``python -c pass`` and ``python -c "import numpy, numba"`` and our
start-up's parts in-process, so the floor under our start-up is printed next to it.

Databases and reads are cached in benchmarks/work/startup/ (``--rebuild`` rebuilds).

Usage: python benchmarks/classify_startup.py [--sizes 1,2,4] [--runs 5] [--tiny 100]
       [--pairs 100000] [--threads 2] [--divergence 0.03] [--rebuild]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from common import WORK, need, simulate_pairs, timed
from profile_vs_kraken2 import (
    GENOMES,
    build_kraken2,
    build_ours,
    genome_table,
    log,
    plain_reference,
)

OUT = WORK / "startup"

#: Our start-up, part by part, in one process: CPU seconds after each step.
PARTS = """
import resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
marks = [("interpreter", cpu())]
import numpy
marks.append(("numpy", cpu()))
import numba
marks.append(("numba import", cpu()))
from microbiome.cli.main import build_parser
build_parser()
marks.append(("our modules and parser", cpu()))
from microbiome.profile.classify import classify_reads
from microbiome.profile.database import load_database
marks.append(("kernels' import (numba's target set up, scipy.linalg)", cpu()))
db = load_database(sys.argv[1])
marks.append(("database load (header, digests, small sections)", cpu()))
classify_reads(db, sys.argv[2], sys.argv[3], threads=2)
marks.append(("classify the tiny file (cached kernels, blocks read)", cpu()))
print(f"interpreter\\t{marks[0][1]:.3f}")
print("\\n".join(f"{n}\\t{t - p:.3f}" for (n, t), (_, p) in zip(marks[1:], marks[:-1])))
print(f"total\\t{marks[-1][1]:.3f}")
"""


def mutated_copy(src: Path, dst: Path, copy: int, divergence: float) -> Path:
    """``src`` (plain FASTA, ``>ID|kraken:taxid|N`` headers) with random substitutions at rate
    ``divergence``, IDs suffixed ``_m<copy>`` (seeded by the copy and the file name)."""
    if dst.exists():
        return dst
    seed = copy * 1_000_003 + sum(src.name.encode())
    rng = np.random.default_rng(seed)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(src, "rb") as f, open(f"{dst}.part", "wb") as g:
        for line in f:
            if line.startswith(b">"):
                seqid, rest = line[1:].split(b"|", 1)
                g.write(b">" + seqid + f"_m{copy}|".encode() + rest)
                continue
            seq = np.frombuffer(line.rstrip(b"\n"), dtype=np.uint8).copy()
            hit = rng.random(seq.shape[0]) < divergence
            seq[hit] = bases[rng.integers(0, 4, int(hit.sum()))]
            g.write(seq.tobytes() + b"\n")
    os.replace(f"{dst}.part", dst)
    return dst


def plain_fastq(src: Path, dst: Path, pairs: int) -> Path:
    """The first ``pairs`` records of a gzip FASTQ, as plain FASTQ (cached)."""
    if not dst.exists():
        with gzip.open(src, "rb") as f, open(f"{dst}.part", "wb") as g:
            for i, line in enumerate(f):
                if i >= 4 * pairs:
                    break
                g.write(line)
        os.replace(f"{dst}.part", dst)
    return dst


def cpu_of(command: list[str], runs: int) -> tuple[float, float, float]:
    """(fastest CPU s, median CPU s, median wall s) of ``runs`` runs after one warm-up."""
    timed(command)
    times = [timed(command) for _ in range(runs)]
    cpus = [t.cpu for t in times]
    return min(cpus), statistics.median(cpus), statistics.median(t.wall for t in times)


def commands(
    reads: list[Path], tag: str, ours: dict, k2: dict, folder: Path, threads: int
) -> tuple[list[str], list[str]]:
    """Our and Kraken 2's classification of a pair of files: report only."""
    mine = [shutil.which("microbiome"), "classify", "--db", ours["db"], "-1", str(reads[0]),
            "-2", str(reads[1]), "-t", str(threads), "--report",
            str(folder / f"{tag}.mb.kreport"), "-q"]  # fmt: skip
    theirs = [shutil.which("kraken2"), "--db", k2["db"], "--threads", str(threads), "--paired",
              "--report", str(folder / f"{tag}.k2.kreport"), "--output", os.devnull,
              str(reads[0]), str(reads[1])]  # fmt: skip
    return mine, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4", help="database sizes (copies of the genomes)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tiny", type=int, default=100, help="pairs of the start-up runs")
    parser.add_argument("--pairs", type=int, default=100_000, help="pairs of the memory runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--divergence", type=float, default=0.03)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    microbiome = shutil.which("microbiome") or sys.exit("benchmark: install the package first")
    need("kraken2", "kraken2")
    need("kraken2-build", "kraken2")
    OUT.mkdir(parents=True, exist_ok=True)
    genomes = [g for g in genome_table() if not g["held_out"]]
    base = [plain_reference(g, OUT / "refs") for g in genomes]

    gz1, gz2 = simulate_pairs(args.pairs, GENOMES)
    big = [plain_fastq(gz, OUT / f"reads_{args.pairs}_R{m}.fq", args.pairs)
           for m, gz in ((1, gz1), (2, gz2))]  # fmt: skip
    tiny = [plain_fastq(gz, OUT / f"reads_{args.tiny}_R{m}.fq", args.tiny)
            for m, gz in ((1, gz1), (2, gz2))]  # fmt: skip

    floor = {
        "python -c pass": cpu_of([sys.executable, "-c", "pass"], args.runs)[0],
        "python -c 'import numpy, numba'": cpu_of(
            [sys.executable, "-c", "import numpy, numba"], args.runs
        )[0],
    }

    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = OUT / f"x{size}"
        folder.mkdir(parents=True, exist_ok=True)
        refs = list(base)
        for copy in range(1, size):
            refs += [mutated_copy(r, OUT / "refs" / f"{r.stem}_m{copy}.fa", copy, args.divergence)
                     for r in base]  # fmt: skip
        k2 = build_kraken2(refs, args.threads, args.rebuild, folder)
        ours = build_ours(microbiome, refs, args.threads, args.rebuild, folder)
        log(f"size {size}: databases {ours['size_mb']:.0f} MB (ours), {k2['size_mb']:.0f} MB (K2)")

        mine, theirs = commands(tiny, "tiny", ours, k2, folder, args.threads)
        log(f"size {size}: start-up, {args.runs} runs each")
        row = {"size": size, "ours_mb": ours["size_mb"], "k2_mb": k2["size_mb"]}
        row["ours_cpu"], row["ours_cpu_med"], row["ours_wall"] = cpu_of(mine, args.runs)
        row["k2_cpu"], row["k2_cpu_med"], row["k2_wall"] = cpu_of(theirs, args.runs)
        parts = subprocess.run(
            [sys.executable, "-c", PARTS, ours["db"], str(tiny[0]), str(tiny[1])],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        row["parts"] = [line.split("\t") for line in parts.strip().splitlines()]
        mine, theirs = commands(big, "big", ours, k2, folder, args.threads)
        log(f"size {size}: peak RSS on {args.pairs:,} pairs")
        timed(mine)
        timed(theirs)
        mine_t = [timed(mine) for _ in range(min(args.runs, 3))]
        theirs_t = [timed(theirs) for _ in range(min(args.runs, 3))]
        row["ours_rss"] = min(t.max_rss_mb for t in mine_t)
        row["k2_rss"] = min(t.max_rss_mb for t in theirs_t)
        row["ours_big_cpu"] = min(t.cpu for t in mine_t)
        row["k2_big_cpu"] = min(t.cpu for t in theirs_t)
        rows.append(row)

    print()
    print(f"start-up: {args.tiny} pairs; memory: {args.pairs:,} pairs; {args.threads} threads; "
          f"fastest (median) of {args.runs} runs after a warm-up")  # fmt: skip
    for name, value in floor.items():
        print(f"floor: {name}: {value:.3f} CPU-s")
    print()
    print("| DB (ours / K2) | start-up CPU-s ours | K2 | ratio | peak RSS ours | K2 | ratio "
          f"| CPU-s on {args.pairs:,} pairs ours / K2 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['ours_mb']:.0f} / {r['k2_mb']:.0f} MB "
            f"| {r['ours_cpu']:.2f} ({r['ours_cpu_med']:.2f}) "
            f"| {r['k2_cpu']:.2f} ({r['k2_cpu_med']:.2f}) "
            f"| {r['ours_cpu'] / r['k2_cpu']:.1f}x "
            f"| {r['ours_rss']:.0f} MB | {r['k2_rss']:.0f} MB | {r['ours_rss'] / r['k2_rss']:.2f}x "
            f"| {r['ours_big_cpu']:.1f} / {r['k2_big_cpu']:.1f} |"
        )
    print()
    for r in rows:
        print(f"our start-up by part, {r['ours_mb']:.0f} MB database (CPU-s, one run):")
        for name, seconds in r["parts"]:
            print(f"  {name}: {seconds}")


if __name__ == "__main__":
    main()
