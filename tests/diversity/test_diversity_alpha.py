"""Alpha diversity, rarefaction and curves against scikit-bio's per-sample functions and numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import skbio.diversity.alpha as skalpha
from scipy import stats
from skbio.stats import subsample_counts

from microbiome.diversity.alpha import (
    alpha_table,
    rarefaction_curves,
    rarefied_alpha,
    rarefy,
    subsample,
)
from microbiome.errors import InputError


def _table(seed=1, n=6, m=15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = rng.negative_binomial(1, 0.05, size=(n, m)).astype(float)
    data[0, :3] = [1, 1, 2]  # singletons and doubletons for Chao1
    data[1] = 0
    data[1, 4] = 7  # a single taxon: Pielou undefined
    return pd.DataFrame(
        data, index=[f"s{i}" for i in range(n)], columns=[f"t{j}" for j in range(m)]
    )


def test_alpha_table_equals_scikit_bio_per_sample():
    table = _table()
    got = alpha_table(table)
    for sample, row in table.iterrows():
        counts = row.to_numpy().astype(int)
        assert got.at[sample, "depth"] == counts.sum()
        assert got.at[sample, "observed"] == skalpha.observed_features(counts)
        assert got.at[sample, "shannon_ln"] == pytest.approx(skalpha.shannon(counts, base=math.e))
        assert got.at[sample, "simpson"] == pytest.approx(skalpha.simpson(counts))
        assert got.at[sample, "inverse_simpson"] == pytest.approx(skalpha.inv_simpson(counts))
        assert got.at[sample, "chao1"] == pytest.approx(skalpha.chao1(counts, bias_corrected=True))
        pielou = skalpha.pielou_e(counts)
        if np.isnan(pielou):
            assert np.isnan(got.at[sample, "pielou_evenness"])
        else:
            assert got.at[sample, "pielou_evenness"] == pytest.approx(pielou)


def test_shannon_uses_the_natural_log_and_simpson_is_gini_simpson():
    table = _table(seed=3)
    got = alpha_table(table)
    p = table.to_numpy() / table.to_numpy().sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shannon = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    np.testing.assert_allclose(got["shannon_ln"], shannon)
    np.testing.assert_allclose(got["simpson"], 1 - (p**2).sum(axis=1))
    np.testing.assert_allclose(got["inverse_simpson"], 1 / (p**2).sum(axis=1))


def test_relative_tables_have_no_chao1():
    table = _table()
    relative = table.div(table.sum(axis=1), axis=0)
    got = alpha_table(relative, relative=True)
    assert got["chao1"].isna().all()
    np.testing.assert_allclose(got["shannon_ln"], alpha_table(table)["shannon_ln"])


def test_subsamples_follow_the_hypergeometric_law_as_scikit_bio_draws_do():
    """Our draws (numpy's multivariate hypergeometric, cost in taxa) and scikit-bio's
    subsample_counts (cost in counts) against the exact marginal law of each taxon (scipy)."""
    counts = np.array([50, 0, 30, 15, 5])
    depth, n = 20, 4000
    ours = subsample(counts, depth, np.random.default_rng(3), n)
    assert (ours.sum(axis=1) == depth).all() and (ours <= counts).all()
    rng = np.random.default_rng(4)
    theirs = np.array([subsample_counts(counts, depth, seed=rng) for _ in range(n)])
    for taxon in (0, 2, 3, 4):
        law = stats.hypergeom(counts.sum(), counts[taxon], depth)
        support = np.arange(depth + 1)
        expected = law.pmf(support) * n
        keep = expected >= 5  # the chi-square test's rule; the rest pooled
        for draws in (ours, theirs):
            seen = np.bincount(draws[:, taxon], minlength=depth + 1)
            observed = np.append(seen[keep], seen[~keep].sum())
            wanted = np.append(expected[keep], expected[~keep].sum())
            wanted *= observed.sum() / wanted.sum()
            assert stats.chisquare(observed, wanted).pvalue > 1e-3, taxon
    assert (ours[:, 1] == 0).all()


def test_subsamples_of_tens_of_millions_of_counts_keep_the_depth_and_the_absent_taxa():
    """At real depth (36 million reads, 1,500 of 10,527 genera present): the depth is exact and
    absent taxa stay absent (benchmarks/diversity_scale.py times it)."""
    counts = np.zeros(10_527, dtype=np.int64)
    counts[:1500] = 24_000
    draw = subsample(counts, 30_000_000, np.random.default_rng(0), 2)
    assert draw.shape == (2, 10_527) and (draw.sum(axis=1) == 30_000_000).all()
    assert (draw[:, 1500:] == 0).all()


def test_rarefied_alpha_is_the_mean_over_seeded_draws():
    table = _table(seed=5)
    depth = int(np.sort(table.sum(axis=1))[1])  # the shallowest sample falls below
    got = rarefied_alpha(table, depth, repeats=4, rng=np.random.default_rng(7))
    keep = table.index[table.sum(axis=1) >= depth]
    assert list(got.index) == list(keep)
    assert (got["rarefaction_depth"] == depth).all()
    rng = np.random.default_rng(7)
    draws = [rarefy(table, depth, rng) for _ in range(4)]
    assert all(list(d.index) == list(keep) and (d.sum(axis=1) == depth).all() for d in draws)
    for sample in keep:
        shannon = [skalpha.shannon(d.loc[sample].to_numpy(), base=math.e) for d in draws]
        assert got.at[sample, "shannon_ln"] == pytest.approx(np.mean(shannon))
    again = rarefied_alpha(table, depth, repeats=4, rng=np.random.default_rng(7))
    pd.testing.assert_frame_equal(got, again)


def test_a_sample_too_deep_to_rarefy_exactly_is_named():
    table = pd.DataFrame({"a": [2e9, 10], "b": [1, 10]}, index=["deep", "S2"])
    with pytest.raises(InputError, match="sample deep: 2,000,000,001 counts, more than"):
        rarefy(table, 5, np.random.default_rng(0))
    with pytest.raises(InputError, match="sample deep: 2,000,000,001 counts"):  # curves too
        rarefaction_curves(table, steps=3, repeats=2, rng=np.random.default_rng(0))


def test_rarefaction_curves_stop_at_each_samples_depth():
    table = _table(seed=2)
    curves = rarefaction_curves(table, steps=8, repeats=3, rng=np.random.default_rng(0))
    depths = table.sum(axis=1)
    for sample, rows in curves.groupby("sample_id"):
        assert rows["depth"].max() <= depths[sample]
        assert (rows["observed_mean"] <= (table.loc[sample] > 0).sum()).all()
        assert rows["observed_mean"].iloc[0] == 1  # one count: one taxon
