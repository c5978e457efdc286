"""Transforms against naive re-computations, and fitted inside folds only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from microbiome.integrate.transforms import (
    CLR,
    AbundanceFilter,
    HalfMinLog,
    abundance_filter,
    clr,
    metabolite_floors,
    metabolite_log,
    resolve_metabolite_transform,
    taxa_pseudocount,
)


@pytest.fixture
def counts():
    rng = np.random.default_rng(3)
    values = rng.poisson(rng.gamma(0.3, 50, size=(12, 9))).astype(float)
    values[:, 0] = 0
    values[0, 0] = 5  # present in 1 of 12 samples
    return pd.DataFrame(values, index=[f"s{i}" for i in range(12)], columns=list("abcdefghi"))


def test_clr_equals_naive_formula(counts):
    got = clr(counts, 0.5)
    for sample in counts.index:
        logs = [math.log(v + 0.5) for v in counts.loc[sample]]
        mean = sum(logs) / len(logs)
        assert got.loc[sample].tolist() == pytest.approx([v - mean for v in logs])
    assert np.allclose(got.sum(axis=1), 0)


def test_clr_is_scikit_bios_clr_of_values_plus_pseudocount(counts):
    from skbio.stats.composition import clr as skbio_clr

    got = clr(counts, 0.5)
    expected = skbio_clr(counts.to_numpy() + 0.5)
    assert np.array_equal(got.to_numpy(), expected)
    assert list(got.index) == list(counts.index) and list(got.columns) == list(counts.columns)
    kept = counts[["b", "c", "d"]]  # over the columns given only, as after the filters
    assert np.array_equal(clr(kept, 0.5).to_numpy(), skbio_clr(kept.to_numpy() + 0.5))
    assert clr(counts.iloc[:0], 0.5).shape == (0, 9)
    with pytest.raises(ValueError, match="strictly positive"):
        clr(counts, 0.0)  # zeros stay zeros without a pseudocount


def test_filter_keeps_prevalent_abundant_taxa(counts):
    kept = abundance_filter(counts, prevalence=0.1, min_abundance=1e-4)
    for taxon in counts.columns:
        present = sum(v > 0 for v in counts[taxon]) / len(counts)
        mean_rel = sum(
            (counts.at[s, taxon] / counts.loc[s].sum()) if counts.loc[s].sum() else 0
            for s in counts.index
        ) / len(counts)
        assert (taxon in kept) == (present >= 0.1 and mean_rel >= 1e-4)
    assert "a" not in abundance_filter(counts, prevalence=0.2, min_abundance=0)


def test_pseudocount_of_relative_tables(counts):
    rel = counts.div(counts.sum(axis=1), axis=0)
    assert taxa_pseudocount(counts, 0.5, False) == 0.5
    assert taxa_pseudocount(rel, 0.5, True) == pytest.approx(rel[rel > 0].min().min() / 2)


def test_half_minimum_log_imputation():
    raw = pd.DataFrame({"m1": [4.0, 0.0, np.nan, 8.0], "m2": [1.0, 2.0, 3.0, 0.5]})
    assert resolve_metabolite_transform(raw, "auto") == "log"
    floors = metabolite_floors(raw, "log")
    out = metabolite_log(raw, "log", floors)
    assert out["m1"].tolist() == pytest.approx([math.log(4), math.log(2), math.log(2), math.log(8)])
    assert out["m2"].tolist() == pytest.approx([math.log(v) for v in (1, 2, 3, 0.5)])
    logged = pd.DataFrame({"m1": [-1.0, np.nan, 0.5]})
    assert resolve_metabolite_transform(logged, "auto") == "none"
    out = metabolite_log(logged, "none", metabolite_floors(logged, "none"))
    assert out["m1"].tolist() == pytest.approx([-1.0, -1.0 - math.log(2), 0.5])


def test_transformers_learn_from_training_samples_only(counts):
    train, test = counts.iloc[:6], counts.iloc[6:]
    filt = AbundanceFilter(prevalence=0.5, min_abundance=0).fit(train)
    assert filt.columns_ == list(abundance_filter(train, prevalence=0.5, min_abundance=0))
    assert list(filt.transform(test).columns) == filt.columns_
    assert np.allclose(CLR(0.5).fit(train).transform(test), clr(test, 0.5))
    # In a Pipeline, the filter then the CLR over the kept taxa, as the whole-cohort analyses.
    from sklearn.pipeline import make_pipeline

    steps = make_pipeline(AbundanceFilter(prevalence=0.5, min_abundance=0), CLR(0.5)).fit(train)
    assert np.allclose(steps.transform(test), clr(test[filt.columns_], 0.5))
    mtb = pd.DataFrame({"m": [1.0, 2.0, 4.0, 0.0]})
    step = HalfMinLog("log").fit(mtb.iloc[:2])  # training minimum 1 -> floor log(0.5)
    assert step.transform(mtb.iloc[3:])["m"].iloc[0] == pytest.approx(math.log(0.5))
