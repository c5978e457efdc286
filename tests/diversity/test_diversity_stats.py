"""PERMANOVA (R2 by sums of squares), PERMDISP, alpha tests and BH against independent oracles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from skbio import DistanceMatrix
from skbio.stats.distance import permanova as skbio_permanova
from skbio.stats.distance import permdisp as skbio_permdisp

from microbiome.diversity import stats


def _dm_and_groups(seed=0, n=18):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 3))
    groups = pd.Series(["a", "b", "c"] * (n // 3), index=[f"s{i}" for i in range(n)])
    points[groups.to_numpy() == "b"] += 0.8
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    return DistanceMatrix(d, ids=list(groups.index)), groups


def _r2_by_sums_of_squares(d: np.ndarray, labels: np.ndarray) -> float:
    """Anderson (2001): SS_T = sum_{i<j} d^2 / n; SS_W = sum_g sum_{i<j in g} d^2 / n_g."""
    n = len(labels)
    upper = np.triu_indices(n, 1)
    ss_total = (d[upper] ** 2).sum() / n
    ss_within = 0.0
    for level in np.unique(labels):
        idx = np.flatnonzero(labels == level)
        sub = d[np.ix_(idx, idx)]
        ss_within += (sub[np.triu_indices(len(idx), 1)] ** 2).sum() / len(idx)
    return (ss_total - ss_within) / ss_total


def test_permanova_equals_scikit_bio_and_r2_equals_sums_of_squares():
    dm, groups = _dm_and_groups()
    got = stats.permanova(dm, groups, permutations=199, seed=3)
    ref = skbio_permanova(dm, groups.to_numpy(), permutations=199, seed=3)
    assert got["pseudo_f"] == pytest.approx(ref["test statistic"])
    assert got["p_value"] == pytest.approx(ref["p-value"])
    assert (got["n_samples"], got["n_groups"], got["permutations"]) == (18, 3, 199)
    assert got["r2"] == pytest.approx(_r2_by_sums_of_squares(dm.data, groups.to_numpy()))


def test_permanova_on_a_subset_of_the_matrix_follows_the_groups_order():
    dm, groups = _dm_and_groups(seed=1)
    subset = groups.iloc[::-1].iloc[:12]
    got = stats.permanova(dm, subset, permutations=0, seed=0)
    sub = dm.filter(list(subset.index))
    assert got["r2"] == pytest.approx(_r2_by_sums_of_squares(sub.data, subset.to_numpy()))
    assert np.isnan(got["p_value"])


def test_permdisp_equals_scikit_bio():
    dm, groups = _dm_and_groups(seed=2)
    got = stats.permdisp(dm, groups, permutations=99, seed=5)
    ref = skbio_permdisp(dm, groups.to_numpy(), permutations=99, seed=5)
    assert got["f_statistic"] == pytest.approx(ref["test statistic"])
    assert got["p_value"] == pytest.approx(ref["p-value"])


def test_alpha_tests_equal_scipy():
    rng = np.random.default_rng(0)
    values = pd.Series(rng.normal(size=20), index=range(20))
    two = pd.Series(["x", "y"] * 10, index=range(20))
    three = pd.Series(["x", "y", "z", "x"] * 5, index=range(20))
    cont = pd.Series(rng.normal(size=20), index=range(20))
    got = stats.alpha_test(values, two, "binary")
    ref = scipy_stats.mannwhitneyu(values[two == "x"], values[two == "y"])
    assert (got["test"], got["statistic"], got["p_value"]) == (
        "mann_whitney_u",
        pytest.approx(ref.statistic),
        pytest.approx(ref.pvalue),
    )
    got = stats.alpha_test(values, three, "categorical")
    ref = scipy_stats.kruskal(*(values[three == lv] for lv in "xyz"))
    assert got["test"] == "kruskal_wallis" and got["p_value"] == pytest.approx(ref.pvalue)
    got = stats.alpha_test(values, cont, "continuous")
    ref = scipy_stats.spearmanr(values, cont)
    assert got["test"] == "spearman" and got["statistic"] == pytest.approx(ref.statistic)
    constant = stats.alpha_test(pd.Series(1.0, index=range(20)), three, "categorical")
    assert np.isnan(constant["p_value"])
