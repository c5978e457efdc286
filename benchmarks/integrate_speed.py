"""`microbiome integrate`'s biomarker models at real scale, against the previous version.

The cohort: KIM_ADENOMAS_2020 (240 stool samples, 499 GTDB genera, 462 metabolites; adenoma or
carcinoma vs control) from ``--cohort`` (the shared data's curated files), its genus table padded
with ``--pad-to`` - 499 rare synthetic genera (each present in 1-5 % of the samples at a few
reads, seeded), the shape of a real shotgun genus table (10,527 genera in issue 17): they cost
the models' preparation in every fold but pass no filter.

Runs the cross-validation, permutations and bootstrap of every feature set and model
(``microbiome.integrate.biomarkers.evaluate``) with the workflow's defaults (5 folds x 10
repeats, 99 permutations, 1000 bootstrap resamples, 200 trees) in this version with
``--threads`` threads and in the version of ``--previous`` (a git revision, loaded from git)
with the same threads (its forests' threads), on the same machine in the same run. Prints each
version's wall time, the ratio, and each model's AUROC in both (which must be identical: the
same seeds give the same splits and models), CI, permutation p and permutations used.

    python benchmarks/integrate_speed.py [--threads 2] [--previous 5bd4d03] [--only-this]
        [--pad-to 10527]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT

from microbiome.integrate import biomarkers as bm

COHORT = ROOT.parent / "shared" / "data" / "multiomics" / "KIM_ADENOMAS_2020"


def cohort(folder: Path, pad_to: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(taxa counts, metabolites, metadata with patient_id and outcome), samples in rows."""
    taxa = pd.read_csv(folder / "genera.counts.tsv.gz", sep="\t", index_col=0)
    mtb = pd.read_csv(folder / "mtb.tsv.gz", sep="\t", index_col=0)
    meta = pd.read_csv(folder / "metadata.tsv.gz", sep="\t", index_col="Sample")
    samples = taxa.index.intersection(mtb.index).intersection(meta.index)
    rng = np.random.default_rng(17)
    extra = max(0, pad_to - taxa.shape[1])
    present = rng.random((len(taxa), extra)) < rng.uniform(0.01, 0.05, extra)
    present[rng.integers(0, len(taxa), extra), np.arange(extra)] = True  # none all-zero
    padding = pd.DataFrame(
        np.where(present, rng.integers(1, 20, present.shape), 0),
        index=taxa.index,
        columns=[f"g__Synthetic{j:05d}" for j in range(extra)],
    )
    taxa = pd.concat([taxa, padding], axis=1).astype("float64")
    meta = meta.loc[samples].rename(columns={"Subject": "patient_id"})
    return taxa.loc[samples], mtb.loc[samples], meta


def previous_module(revision: str):
    """The biomarkers module of ``revision``, imported under another name."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:microbiome/integrate/biomarkers.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "previous_biomarkers.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("previous_biomarkers", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return module


def run(module, taxa, mtb, meta, threads: int) -> tuple[float, pd.DataFrame]:
    settings = replace(module.Settings(), threads=threads)
    outcome = module.binary_outcome(meta, "Study.Group", ["Adenoma", "Carcinoma"])
    sets = {"taxa": taxa, "metabolites": mtb, "combined": pd.concat([taxa, mtb], axis=1)}
    start = time.perf_counter()
    result = module.evaluate(
        sets, list(taxa.columns), list(mtb.columns), outcome, meta["patient_id"], settings
    )
    return time.perf_counter() - start, result.performance.set_index(["feature_set", "model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, default=COHORT)
    parser.add_argument("--pad-to", type=int, default=10_527)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--previous", default="5bd4d03")
    parser.add_argument(
        "--only-this", action="store_true", help="time this version only (the previous takes ~1 h)"
    )
    args = parser.parse_args()
    if not args.cohort.is_dir():
        sys.exit(f"benchmark: no cohort folder {args.cohort}")
    taxa, mtb, meta = cohort(args.cohort, args.pad_to)
    print(f"{len(meta)} samples, {taxa.shape[1]} genera, {mtb.shape[1]} metabolites", flush=True)
    new_time, new = run(bm, taxa, mtb, meta, args.threads)
    print(f"this version: {new_time:.1f} s", flush=True)
    columns = ["auroc_mean", "auroc_ci_low", "auroc_ci_high", "permutation_p", "n_permutations"]
    if args.only_this:
        print(new[columns].round(4).to_string())
        return
    old_time, old = run(previous_module(args.previous), taxa, mtb, meta, args.threads)
    print(f"previous version ({args.previous}): {old_time:.1f} s", flush=True)
    both = new[columns].join(old[columns], suffixes=("", "_previous"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(both.round(4).to_string())
    same = np.array_equal(new["auroc_mean"].to_numpy(), old["auroc_mean"].to_numpy())
    print(f"identical AUROCs: {'yes' if same else 'NO'}")
    print(f"speed-up (previous / this, wall, {args.threads} threads): {old_time / new_time:.1f}x")


if __name__ == "__main__":
    main()
