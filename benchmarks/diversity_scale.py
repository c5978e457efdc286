"""`microbiome diversity` at real scale: its defaults on a cohort-sized table of deep samples.

The table: ``--samples`` samples x ``--taxa`` genera at ``--reads`` reads each, each sample
``--present`` genera with log-normal abundances (the shape of a shotgun genus table: 96 x 10,527
at ~36 M reads in issue 17), and a metadata sheet with the workflow's default test variables
(diagnosis, sex, treatment, bmi). Seeded: the same table every run.

Prints the wall time of the whole `microbiome diversity` run with the workflow's default
settings, and the time of the rarefaction curves' draws against scikit-bio's
``subsample_counts`` (the previous version's draws) on the first ``--old-samples`` samples.

    python benchmarks/diversity_scale.py [--samples 96] [--taxa 10527] [--reads 36000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import WORK, timed


def write_inputs(args: argparse.Namespace) -> tuple[str, str]:
    rng = np.random.default_rng(11)
    counts = np.zeros((args.samples, args.taxa), dtype=np.int64)
    for i in range(args.samples):
        present = rng.choice(args.taxa, args.present, replace=False)
        weights = rng.lognormal(0.0, 2.5, args.present)
        counts[i, present] = rng.multinomial(args.reads, weights / weights.sum())
    ids = [f"S{i:03d}" for i in range(args.samples)]
    folder = WORK / "diversity_scale"
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "genus.counts.tsv"
    frame = pd.DataFrame(counts.T, columns=ids)
    frame.insert(0, "taxon", [f"g__Genus{j:05d}" for j in range(args.taxa)])
    frame.to_csv(table, sep="\t", index=False)
    meta = pd.DataFrame(
        {
            "sample_id": ids,
            "diagnosis": rng.choice(["Control", "Adenoma", "Carcinoma"], args.samples),
            "sex": rng.choice(["female", "male"], args.samples),
            "treatment": rng.choice(["A", "B"], args.samples),
            "bmi": rng.normal(26, 4, args.samples).round(1),
        }
    )
    metadata = folder / "clinical.tsv"
    meta.to_csv(metadata, sep="\t", index=False)
    return str(table), str(metadata)


def curve_draws(counts: np.ndarray, depths: np.ndarray, repeats: int, old: bool) -> float:
    """Seconds to draw every curve subsample of ``counts`` (samples x taxa)."""
    from skbio.stats import subsample_counts

    from microbiome.diversity.alpha import subsample

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for row in counts:
        for depth in depths[depths < row.sum()]:
            for _ in range(repeats):
                if old:
                    subsample_counts(row, int(depth), seed=rng)
                else:
                    subsample(row, int(depth), rng, 1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--taxa", type=int, default=10_527)
    parser.add_argument("--present", type=int, default=1_500)
    parser.add_argument("--reads", type=int, default=36_000_000)
    parser.add_argument("--old-samples", type=int, default=2)
    args = parser.parse_args()
    table, metadata = write_inputs(args)
    types = (
        '{"diagnosis": {"type": "categorical"}, "sex": {"type": "categorical"},'
        ' "treatment": {"type": "categorical"}, "bmi": {"type": "continuous"}}'
    )
    out = WORK / "diversity_scale" / "out"
    # The workflow's defaults (config/config.yaml, workflow/rules/diversity.smk).
    command = [
        str(Path(sys.executable).parent / "microbiome"), "diversity", "--table", table,
        "--metadata", metadata, "--variable-types", types,
        "--variables", "diagnosis,sex,treatment,bmi", "--metrics", "braycurtis,jaccard,aitchison",
        "--rarefaction-depth", "1000", "--rarefaction-repeats", "10", "--rarefaction-steps", "20",
        "--permutations", "999", "--seed", "42", "-o", str(out),
    ]  # fmt: skip
    run = timed(command)
    print(
        f"microbiome diversity, {args.samples} samples x {args.taxa:,} taxa at"
        f" {args.reads:,} reads: wall {run.wall:.1f} s, peak RSS {run.max_rss_mb:,.0f} MB"
        " (target: under 60 s on 2 cores)"
    )
    frame = pd.read_csv(table, sep="\t", index_col=0)
    counts = frame.to_numpy().T[: args.old_samples]
    depths = np.unique(np.geomspace(1, args.reads, 20).astype(np.int64))
    new = curve_draws(counts, depths, 10, old=False)
    old = curve_draws(counts, depths, 10, old=True)
    print(
        f"rarefaction-curve draws of {args.old_samples} samples (20 depths x 10 repeats):"
        f" {new:.2f} s, scikit-bio's subsample_counts {old:.1f} s: ratio {new / old:.4f}"
    )


if __name__ == "__main__":
    main()
