"""Time `microbiome stats` against `seqkit stats -a` on the same simulated read pairs.

    python benchmarks/stats_vs_seqkit.py [--pairs 1000000] [--threads 2] [--runs 3]

Prints wall time and peak RSS of each tool and the ratios (microbiome / seqkit). Target: a wall
ratio of at most 1.0. The first run of microbiome after an install also compiles the numba
kernels into the cache; a warm-up run is made first and reported separately as the cold start.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from common import WORK, best_of, need, simulate_pairs, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--genomes", type=Path, help="folder of reference FASTA files")
    args = parser.parse_args()

    seqkit = need("seqkit", "seqkit")
    microbiome = shutil.which("microbiome") or sys.exit("benchmark: install the package first")
    r1, r2 = simulate_pairs(args.pairs, args.genomes)
    out = WORK / "stats.json"
    ours = [
        microbiome,
        "stats",
        str(r1),
        str(r2),
        "--paired",
        "-t",
        str(args.threads),
        "-o",
        str(out),
        "-q",
    ]
    peer = [seqkit, "stats", "-a", "-j", str(args.threads), str(r1), str(r2)]

    cold = timed(ours)
    ours_t = best_of(args.runs, ours)
    peer_t = best_of(args.runs, peer)
    print(f"input: {args.pairs:,} simulated pairs of 150 bp, gzip ({r1.name}, {r2.name})")
    print(f"threads: {args.threads}; best of {args.runs} runs")
    print(f"{'tool':<22}{'wall (s)':>10}{'peak RSS (MB)':>16}")
    print(f"{'microbiome stats':<22}{ours_t.wall:>10.2f}{ours_t.max_rss_mb:>16.0f}")
    print(f"{'seqkit stats -a':<22}{peer_t.wall:>10.2f}{peer_t.max_rss_mb:>16.0f}")
    print(f"{'microbiome (1st run)':<22}{cold.wall:>10.2f}{cold.max_rss_mb:>16.0f}")
    print(f"ratio wall microbiome/seqkit: {ours_t.wall / peer_t.wall:.2f} (target <= 1.00)")
    print(f"ratio peak RSS microbiome/seqkit: {ours_t.max_rss_mb / peer_t.max_rss_mb:.2f}")


if __name__ == "__main__":
    main()
