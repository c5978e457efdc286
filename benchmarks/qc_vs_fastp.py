"""Time `microbiome qc` against `fastp` on the same simulated read pairs, in one run.

    python benchmarks/qc_vs_fastp.py [--pairs 1000000] [--threads 2] [--runs 2]

Both do 3' quality trimming, adapter trimming, a low-complexity filter and a length filter, and
write gzip FASTQ at compression level 1; microbiome also removes host reads against a minimizer
index of the bundled human sequences (test_data/host). Prints wall time and peak RSS of each and
the ratios (microbiome / fastp). Target: a wall ratio of at most 1.0.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT, WORK, best_of, need, simulate_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--genomes", type=Path, help="folder of reference FASTA files")
    args = parser.parse_args()

    fastp = need("fastp", "fastp")
    microbiome = shutil.which("microbiome") or sys.exit("benchmark: install the package first")
    r1, r2 = simulate_pairs(args.pairs, args.genomes)
    index = WORK / "host.idx"
    subprocess.run(
        [
            microbiome,
            "qc-index",
            *map(str, sorted((ROOT / "test_data" / "host").glob("*.fa.gz"))),
            "-o",
            str(index),
            "-q",
        ],
        check=True,
    )
    t = str(args.threads)
    ours = [
        microbiome,
        "qc",
        "-1",
        str(r1),
        "-2",
        str(r2),
        "--host-index",
        str(index),
        "-t",
        t,
        "-o",
        str(WORK / "qc_microbiome"),
        "-q",
    ]
    peer = [
        fastp,
        "-w",
        t,
        "-i",
        str(r1),
        "-I",
        str(r2),
        "-o",
        str(WORK / "fastp_R1.fq.gz"),
        "-O",
        str(WORK / "fastp_R2.fq.gz"),
        "--cut_tail",
        "--cut_tail_mean_quality",
        "20",
        "--low_complexity_filter",
        "--length_required",
        "50",
        "--compression",
        "1",
        "-j",
        str(WORK / "fastp.json"),
        "-h",
        str(WORK / "fastp.html"),
    ]

    ours_t = best_of(args.runs, ours)
    peer_t = best_of(args.runs, peer)
    print(f"input: {args.pairs:,} simulated pairs of 150 bp, gzip ({r1.name}, {r2.name})")
    print(f"threads: {args.threads}; best of {args.runs} runs")
    print(f"{'tool':<22}{'wall (s)':>10}{'peak RSS (MB)':>16}")
    print(f"{'microbiome qc':<22}{ours_t.wall:>10.2f}{ours_t.max_rss_mb:>16.0f}")
    print(f"{'fastp':<22}{peer_t.wall:>10.2f}{peer_t.max_rss_mb:>16.0f}")
    print(f"ratio wall microbiome/fastp: {ours_t.wall / peer_t.wall:.2f} (target <= 1.00)")
    print(f"ratio peak RSS microbiome/fastp: {ours_t.max_rss_mb / peer_t.max_rss_mb:.2f}")


if __name__ == "__main__":
    main()
