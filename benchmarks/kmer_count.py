#!/usr/bin/env python3
"""Time ``microbiome kmer count`` against Jellyfish and KMC on simulated gut-microbiome reads.

Simulates read pairs (ART, HiSeq 2500 profile, 2 x 150 bp, insert 300 +- 30) from the reference
genomes, then runs, in the same session and on the same uncompressed FASTQ files:

    microbiome kmer count -k 31 -t 2 -o mb.kmers R1 R2
    jellyfish count -C -m 31 -t 2 -s 100M -o jf.jf R1 R2
    kmc -k31 -t2 @files out tmp                  (KMC defaults: drops singletons, counters <= 255)
    kmc -k31 -t2 -ci1 -cs4294967295 @files ...   (KMC writing what microbiome and jellyfish write)

and prints wall time and peak resident memory of each, and microbiome's ratios to the others.
Also measures numba's cold start (empty compilation cache) on a small input. Not a test.

Usage: python benchmarks/kmer_count.py [--pairs 1000000] [--genomes DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GENOMES = "/work/shared/data/genomes"
PEERS = {"jellyfish": "jellyfish", "kmc": "kmc", "art_illumina": "art-nextgen-simulation-tools"}

# Runs ``microbiome kmer ...``, registering the subcommand if the main parser lacks it.
MICROBIOME = """
import sys
from microbiome.cli import kmer, main
if kmer not in main.SUBCOMMANDS:
    main.SUBCOMMANDS = (*main.SUBCOMMANDS, kmer)
sys.exit(main.main(["kmer", *sys.argv[1:]]))
"""


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in PEERS.items() if shutil.which(tool) is None]
    if missing:
        print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True)


def measure(command: list[str], env: dict | None = None, log: Path | None = None) -> tuple:
    """(wall seconds, peak RSS in MiB) of one command, from wait4's resource usage."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if log:
        out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"failed ({status}): {' '.join(command)}" + (f"; see {log}" if log else "")
        )
    return wall, usage.ru_maxrss / 1024


def simulate(genomes: str, pairs: int, work: Path) -> tuple[Path, Path]:
    r1, r2 = work / "sim_R1.fq", work / "sim_R2.fq"
    if r1.exists() and r2.exists():
        return r1, r2
    files = sorted(
        glob.glob(os.path.join(genomes, "*.fna.gz")) + glob.glob(os.path.join(genomes, "*.fa*"))
    )
    if not files:
        raise SystemExit(f"no genomes (*.fna.gz, *.fa*) in {genomes}")
    ref = work / "ref.fa"
    length = 0
    with open(ref, "w") as out:
        for path in files:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                for line in f:
                    out.write(line)
                    if not line.startswith(">"):
                        length += len(line.strip())
    coverage = pairs * 300 / length
    print(f"simulating {pairs:,} pairs from {len(files)} genomes ({length:,} bp, {coverage:.3f}x)")
    subprocess.run(
        ["art_illumina", "-ss", "HS25", "-i", str(ref), "-p", "-l", "150", "-f", f"{coverage:.4f}",
         "-m", "300", "-s", "30", "-rs", "42", "-na", "-q", "-o", str(work / "sim_R")],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return r1, r2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--genomes", default=DEFAULT_GENOMES)
    parser.add_argument("--workdir", help="keep simulated reads and outputs here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    ensure_tools()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kmer_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    r1, r2 = simulate(args.genomes, args.pairs, work)
    t = str(args.threads)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ours = [sys.executable, "-c", MICROBIOME]

    # numba cold start: an empty cache forces compilation of every kernel used by count
    small = ROOT / "test_data" / "reads" / "sim01_R1.fastq.gz"
    quick = [*ours, "count", "-k", "31", "-t", t, "-o", str(work / "s.kmers"), str(small)]
    with tempfile.TemporaryDirectory() as cache:
        cold = measure(quick, env=dict(env, NUMBA_CACHE_DIR=cache))
    warm = measure(quick, env)

    (work / "files.lst").write_text(f"{r1}\n{r2}\n")
    kmc_tmp = work / "kmc_tmp"
    kmc_tmp.mkdir(exist_ok=True)
    lst = f"@{work / 'files.lst'}"
    runs = {
        "microbiome": [*ours, "count", "-k", "31", "-t", t, "-o", str(work / "mb.kmers"),
                       str(r1), str(r2)],
        "jellyfish": ["jellyfish", "count", "-C", "-m", "31", "-t", t, "-s", "100M",
                      "-o", str(work / "jf.jf"), str(r1), str(r2)],
        "kmc": ["kmc", "-k31", f"-t{t}", "-hp", lst, str(work / "kmc"), str(kmc_tmp)],
        "kmc -ci1": ["kmc", "-k31", f"-t{t}", "-ci1", "-cs4294967295", "-hp", lst,
                     str(work / "kmc1"), str(kmc_tmp)],
    }  # fmt: skip
    results = {}
    for name, command in runs.items():
        results[name] = measure(
            command, env if name == "microbiome" else None, work / f"{name}.log"
        )
        print(f"{name:12s} wall {results[name][0]:7.2f} s   peak RSS {results[name][1]:8.1f} MiB")
    size = (r1.stat().st_size + r2.stat().st_size) / 2**20
    print(f"\ninput: {r1.name} + {r2.name}, {size:.0f} MiB of FASTQ, k = 31, {t} threads")
    print(f"numba cold start (empty cache, {small.name}): {cold[0]:.2f} s; warm: {warm[0]:.2f} s")
    mb_wall, mb_rss = results["microbiome"]
    targets = {"jellyfish": (0.5, 1.5), "kmc": (1.0, None), "kmc -ci1": (1.0, None)}
    print(f"\n{'ratio microbiome / peer':24s}    wall  target  peak RSS  target")
    for peer, (wall_target, rss_target) in targets.items():
        wall_ratio = mb_wall / results[peer][0]
        rss_ratio = mb_rss / results[peer][1]
        rss_t = f"<= {rss_target}" if rss_target else "-"
        wall_t = f"<= {wall_target}"
        print(f"{peer:24s} {wall_ratio:7.2f} {wall_t:>7s} {rss_ratio:9.2f} {rss_t:>7s}")
    print(f"\nreads and outputs kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
