"""Rarefaction curves: capped depths, and switched off (no table, no figure)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from microbiome.cli.main import main
from microbiome.diversity.alpha import curve_max_depth, rarefaction_curves
from microbiome.diversity.run import DiversityOptions, figures, run_diversity
from microbiome.io.feature_table import read_feature_table


def _deep_and_shallow(n=20, taxa=30) -> pd.DataFrame:
    """Samples of depths 1,000 .. 20,000 and one 20-fold deeper outlier."""
    rng = np.random.default_rng(4)
    depths = [1000 * (i + 1) for i in range(n - 1)] + [400_000]
    rows = [rng.multinomial(d, rng.dirichlet(np.ones(taxa))) for d in depths]
    return pd.DataFrame(
        np.array(rows, dtype=float),
        index=[f"S{i:02d}" for i in range(n)],
        columns=[f"t{j}" for j in range(taxa)],
    )


def test_default_cap_is_the_95th_percentile_of_depths_at_least_the_rarefaction_depth():
    totals = _deep_and_shallow().sum(axis=1).to_numpy()
    assert curve_max_depth(totals) == 19_000  # the 19th of 20 depths, not the outlier
    assert curve_max_depth(totals, rarefaction_depth=30_000) == 30_000
    assert curve_max_depth(totals, rarefaction_depth=10**7) == 400_000  # the deepest sample
    assert curve_max_depth(np.array([50.0])) == 50


def test_curves_stop_at_the_cap_or_at_each_samples_depth():
    counts = _deep_and_shallow()
    curves = rarefaction_curves(
        counts, steps=8, repeats=3, rng=np.random.default_rng(0), max_depth=19_000
    )
    last = curves.groupby("sample_id").tail(1).set_index("sample_id")
    totals = counts.sum(axis=1)
    assert curves["depth"].max() == 19_000
    # samples up to the cap end with their full, undrawn values at their own depth
    shallow = totals[totals <= 19_000].index
    assert (last.loc[shallow, "depth"] == totals[shallow]).all()
    assert (last.loc[shallow, "observed_sd"] == 0).all()
    # the deeper ones end with draws at the cap
    assert last.loc["S19", "depth"] == 19_000
    assert not (curves["sample_id"].eq("S19") & curves["depth"].eq(400_000)).any()
    # no depth above a sample's total
    assert (curves["depth"].to_numpy() <= totals[curves["sample_id"]].to_numpy()).all()
    # without a cap: up to the deepest sample, as before
    full = rarefaction_curves(counts, steps=8, repeats=3, rng=np.random.default_rng(0))
    assert full["depth"].max() == 400_000


def _table(tmp_path):
    counts = _deep_and_shallow(n=8)
    counts.rename_axis("sample_id").to_csv(tmp_path / "table.tsv", sep="\t")
    return tmp_path / "table.tsv"


def test_curves_off_write_no_table_and_no_figure(tmp_path):
    table = read_feature_table(_table(tmp_path))
    options = DiversityOptions(rarefaction_curves=False, permutations=9)
    run_diversity(table, None, tmp_path / "off", options)
    assert not (tmp_path / "off" / "alpha.rarefaction_curves.tsv").exists()
    assert not list((tmp_path / "off").glob("figures/rarefaction.*"))
    params = json.loads((tmp_path / "off" / "parameters.json").read_text())
    assert params["options"]["rarefaction_curves"] is False
    assert params["alpha"]["rarefaction_curves"] == "not drawn"
    assert [kind for _, kind, *_ in figures(["braycurtis"], ["v"], tree=False, curves=False)] == [
        "pcoa",
        *["alpha"] * 6,
    ]
    run_diversity(table, None, tmp_path / "on", DiversityOptions(permutations=9))
    curves = pd.read_csv(tmp_path / "on" / "alpha.rarefaction_curves.tsv", sep="\t")
    assert curves["depth"].max() == curve_max_depth(table.data.sum(axis=1).to_numpy())
    assert (tmp_path / "on" / "figures" / "rarefaction.svg").is_file()


def test_cli_switches_curves_off_and_caps_them(tmp_path):
    table = _table(tmp_path)
    base = ["diversity", "--table", str(table), "--permutations", "9", "--no-figures", "-q"]
    assert main([*base, "-o", str(tmp_path / "off"), "--no-curves"]) == 0
    assert not (tmp_path / "off" / "alpha.rarefaction_curves.tsv").exists()
    assert main([*base, "-o", str(tmp_path / "cap"), "--rarefaction-max-depth", "2500"]) == 0
    curves = pd.read_csv(tmp_path / "cap" / "alpha.rarefaction_curves.tsv", sep="\t")
    assert curves["depth"].max() == 2500
    params = json.loads((tmp_path / "cap" / "parameters.json").read_text())
    assert params["options"]["rarefaction_max_depth"] == 2500
