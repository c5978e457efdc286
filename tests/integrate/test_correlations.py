"""Spearman pairs against scipy one pair at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from statsmodels.stats.multitest import multipletests

from microbiome.integrate.correlations import spearman_pairs


def test_pairs_equal_scipy_pairwise():
    rng = np.random.default_rng(5)
    taxa = pd.DataFrame(
        rng.normal(size=(15, 3)), columns=["t1", "t2", "t3"], index=[f"s{i}" for i in range(15)]
    )
    mtb = pd.DataFrame(
        rng.normal(size=(16, 4)),
        columns=["m1", "m2", "m3", "m4"],
        index=[f"s{i}" for i in range(16)],
    )
    mtb["m1"] = taxa["t2"] * 2 + rng.normal(0, 0.1, 15)
    got = spearman_pairs(taxa, mtb)
    assert len(got) == 12 and set(got["n"]) == {15}
    assert got.iloc[0][["taxon", "metabolite"]].tolist() == ["t2", "m1"]
    for row in got.itertuples():
        expected = spearmanr(taxa[row.taxon], mtb.loc[taxa.index, row.metabolite])
        assert row.rho == pytest.approx(expected.statistic)
        assert row.p_value == pytest.approx(expected.pvalue)
    q = multipletests(got["p_value"], method="fdr_bh")[1]
    assert got["q_value"].to_numpy() == pytest.approx(q)


def test_single_pair_and_too_few_samples():
    taxa = pd.DataFrame({"t": [1.0, 2, 3, 4]}, index=list("abcd"))
    mtb = pd.DataFrame({"m": [2.0, 1, 4, 3]}, index=list("abcd"))
    got = spearman_pairs(taxa, mtb)
    assert got["rho"].tolist() == pytest.approx([spearmanr(taxa["t"], mtb["m"]).statistic])
    assert spearman_pairs(taxa.iloc[:2], mtb).empty
