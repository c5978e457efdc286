"""Spearman pairs against scipy one pair at a time, over patient means when patients repeat."""

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
    assert len(got) == 12 and set(got["n"]) == {15} and set(got["n_patients"]) == {15}
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


def test_repeated_patients_are_averaged_before_the_correlation():
    rng = np.random.default_rng(11)
    samples = [f"s{i}" for i in range(20)]
    # 8 patients: 4 with one sample, 2 with two, 1 with four, 1 with eight (s0..s7).
    patient = ["p0"] * 8 + ["p1"] * 4 + ["p2", "p2", "p3", "p3", "p4", "p5", "p6", "p7"]
    patients = pd.Series(patient, index=samples)
    taxa = pd.DataFrame(rng.normal(size=(20, 2)), index=samples, columns=["t1", "t2"])
    mtb = pd.DataFrame(rng.normal(size=(20, 3)), index=samples, columns=["m1", "m2", "m3"])
    mtb["m1"] += taxa["t1"]
    got = spearman_pairs(taxa, mtb, patients)
    assert list(got.columns) == ["taxon", "metabolite", "rho", "p_value", "q_value", "n",
                                 "n_patients"]  # fmt: skip
    assert set(got["n"]) == {20} and set(got["n_patients"]) == {8}
    t_mean = taxa.groupby(patients).mean()
    m_mean = mtb.groupby(patients).mean()
    for row in got.itertuples():
        expected = spearmanr(t_mean[row.taxon], m_mean.loc[t_mean.index, row.metabolite])
        assert row.rho == pytest.approx(expected.statistic)
        assert row.p_value == pytest.approx(expected.pvalue)
    # Not the per-sample correlation: the repeated samples no longer count as independent.
    per_sample = spearman_pairs(taxa, mtb)
    assert set(per_sample["n_patients"]) == {20}
    a = got.set_index(["taxon", "metabolite"]).sort_index()
    b = per_sample.set_index(["taxon", "metabolite"]).sort_index()
    assert not np.allclose(a["p_value"], b["p_value"])
    # Samples the series does not name are their own patients; unique patients change nothing.
    own = spearman_pairs(taxa, mtb, pd.Series({"s0": "x"}))
    pd.testing.assert_frame_equal(own, per_sample)
    # Fewer than 3 patients: nothing to correlate.
    assert spearman_pairs(taxa, mtb, pd.Series("p", index=samples)).empty
