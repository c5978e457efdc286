"""Biomarker models: folds by patient, preprocessing inside folds, skips, saved models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from microbiome.errors import ConfigError
from microbiome.integrate import biomarkers as bm


def _data(n_patients=24, per_patient=2, seed=11, signal=2.0):
    rng = np.random.default_rng(seed)
    samples, patients, labels = [], [], []
    for p in range(n_patients):
        for t in range(per_patient):
            samples.append(f"P{p}_{t}")
            patients.append(f"P{p}")
            labels.append("case" if p % 2 else "control")
    y = np.array([lab == "case" for lab in labels], dtype=float)
    counts = rng.poisson(rng.gamma(1.0, 40, size=(len(samples), 15))).astype(float)
    counts[:, 0] = rng.poisson(20 + 60 * y * signal / 2)
    taxa = pd.DataFrame(counts, index=samples, columns=[f"t{j}" for j in range(15)])
    mtb = pd.DataFrame(
        rng.lognormal(size=(len(samples), 6)), index=samples, columns=[f"m{j}" for j in range(6)]
    )
    mtb["m0"] *= np.exp(signal * y)
    meta = pd.DataFrame({"patient_id": patients, "group": labels}, index=samples)
    return taxa, mtb, meta


SETTINGS = bm.Settings(folds=3, repeats=2, permutations=9, bootstrap=50, trees=20, seed=3)


def _evaluate(taxa, mtb, meta, settings=SETTINGS):
    outcome = bm.binary_outcome(meta, "group", ["case"])
    sets = {"taxa": taxa, "metabolites": mtb, "combined": pd.concat([taxa, mtb], axis=1)}
    return bm.evaluate(
        sets, list(taxa.columns), list(mtb.columns), outcome, meta["patient_id"], settings
    )


def test_performance_predictions_importance():
    taxa, mtb, meta = _data()
    result = _evaluate(taxa, mtb, meta)
    perf = result.performance.set_index(["feature_set", "model"])
    assert len(perf) == 6 and not result.skipped
    assert perf.loc[("metabolites", "l1_logistic"), "auroc_mean"] > 0.8
    assert (perf["auroc_ci_low"] <= perf["auroc_ci_high"]).all()
    assert ((perf["permutation_p"] >= 1 / 10) & (perf["permutation_p"] <= 1)).all()
    assert perf.loc[("metabolites", "l1_logistic"), "permutation_p"] == pytest.approx(0.1)
    assert (perf["n_samples"] == 48).all() and (perf["n_positive"] == 24).all()
    pred = result.predictions
    coded = (meta["group"] == "case").astype(int)
    for _, part in pred.groupby(["feature_set", "model"]):
        assert part["sample_id"].is_unique and len(part) == 48
        assert part["outcome"].tolist() == coded.loc[part["sample_id"]].tolist()
        assert part["probability"].between(0, 1).all()
    imp = result.importance
    top = imp[(imp["feature_set"] == "metabolites") & (imp["model"] == "l1_logistic")].iloc[0]
    assert top["feature"] == "m0" and top["selection_frequency"] == 1.0
    assert imp["selection_frequency"].between(0, 1).all()


def test_auroc_equals_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    p = np.round(rng.random(40), 1)  # ties
    assert bm._auroc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_preprocessing_is_fitted_on_whole_training_patients_only(monkeypatch):
    from microbiome.integrate import transforms

    taxa, mtb, meta = _data(per_patient=3)
    fitted_on = []
    for cls in (transforms.AbundanceFilter, transforms.HalfMinLog):
        real = cls.fit

        def spy(self, X, y=None, _real=real):
            fitted_on.append(set(X.index))
            return _real(self, X, y)

        monkeypatch.setattr(cls, "fit", spy)
    settings = bm.Settings(
        folds=3, repeats=2, permutations=0, bootstrap=5, trees=5, models=("l1_logistic",)
    )
    _evaluate(taxa, mtb, meta, settings)
    # 3 feature sets (combined fits both steps) x (2 repeats x 3 folds + final fit)
    assert len(fitted_on) == 4 * 7
    patients = meta["patient_id"]
    in_folds = [s for s in fitted_on if len(s) < len(meta)]
    assert len(in_folds) == 4 * 6
    for samples in in_folds:
        held_out = set(meta.index) - samples
        assert held_out and not set(patients[list(held_out)]) & set(patients[list(samples)])


def test_one_class_and_too_few_per_class_are_reported_skips():
    taxa, mtb, meta = _data(n_patients=6)
    meta["group"] = "case"
    with pytest.raises(ConfigError, match="has no level 'x'"):
        bm.binary_outcome(meta, "group", ["x"])
    result = _evaluate(taxa, mtb, meta)
    assert result.performance.empty
    assert all("single class" in why for _, why in result.skipped)
    taxa, mtb, meta = _data(n_patients=4)  # 2 patients per class, 3 folds
    result = _evaluate(taxa, mtb, meta)
    assert result.performance.empty
    assert all("fewer than the 3 folds" in why for _, why in result.skipped)


def test_outcome_coding():
    meta = pd.DataFrame(
        {"g": pd.Categorical(["b", "a", None, "b"], ["b", "a"])}, index=list("wxyz")
    )
    outcome = bm.binary_outcome(meta, "g")
    assert outcome.positive == ("a",) and outcome.values.to_dict() == {"w": 0, "x": 1, "z": 0}
    meta["h"] = ["u", "v", "w", "u"]
    with pytest.raises(ConfigError, match="say which are positive"):
        bm.binary_outcome(meta, "h")
    with pytest.raises(ConfigError, match="not a column"):
        bm.binary_outcome(meta, "nope")


def test_random_forest_predictions_do_not_depend_on_thread_timing():
    """Trees are fitted in threads, but probabilities are summed in tree order: every call,
    and so every run, gives the same bits (and the same AUROC ties)."""
    taxa, mtb, meta = _data(n_patients=150)
    # Few distinct samples, so that leaves hold both classes and probabilities are fractions,
    # whose sum depends on the order of the terms.
    rng = np.random.default_rng(5)
    taxa = pd.DataFrame(
        rng.choice([1.0, 50.0], size=(len(taxa), 4)), index=taxa.index, columns=list("abcd")
    )
    settings = bm.Settings(
        folds=2, repeats=1, permutations=0, bootstrap=10, trees=200, threads=4, seed=3,
        models=("random_forest",),
    )  # fmt: skip
    outcome = bm.binary_outcome(meta, "group", ["case"])
    result = bm.evaluate(
        {"taxa": taxa}, list(taxa.columns), [], outcome, meta["patient_id"], settings
    )
    model = result.models["taxa/random_forest"]
    assert len({model.predict_proba(taxa)[:, 1].tobytes() for _ in range(30)}) == 1


def test_cross_validated_aurocs_are_those_of_the_whole_pipeline_refitted_per_fold():
    """The naive twin: each fold refits the whole Pipeline (filter, CLR, scaler, model); the
    prepared folds shared by models and permutations must give the same probabilities."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold

    taxa, mtb, meta = _data()
    result = _evaluate(taxa, mtb, meta)
    outcome = bm.binary_outcome(meta, "group", ["case"])
    y = outcome.values.loc[taxa.index].to_numpy()
    groups = meta["patient_id"].to_numpy()
    sets = {"taxa": taxa, "metabolites": mtb, "combined": pd.concat([taxa, mtb], axis=1)}
    perf = result.performance.set_index(["feature_set", "model"])
    for (feature_set, model), row in perf.iterrows():
        template = bm.make_pipeline(
            feature_set, model, list(taxa.columns), list(mtb.columns), SETTINGS, SETTINGS.seed
        )
        X = sets[feature_set]
        aurocs = []
        for r in range(SETTINGS.repeats):
            oof = np.zeros(len(y))
            cv = StratifiedGroupKFold(SETTINGS.folds, shuffle=True, random_state=SETTINGS.seed + r)
            for train, test in cv.split(X, y, groups):
                fitted = clone(template).fit(X.iloc[train], y[train])
                oof[test] = fitted.predict_proba(X.iloc[test])[:, 1]
            aurocs.append(roc_auc_score(y, oof))
        assert row["auroc_mean"] == pytest.approx(np.mean(aurocs), abs=1e-12)
        assert row["auroc_sd"] == pytest.approx(np.std(aurocs), abs=1e-12)


def test_results_do_not_depend_on_the_number_of_processes():
    taxa, mtb, meta = _data(n_patients=16)
    one = _evaluate(taxa, mtb, meta, SETTINGS)
    two = _evaluate(taxa, mtb, meta, dataclasses.replace(SETTINGS, threads=2))
    pd.testing.assert_frame_equal(one.performance, two.performance)
    pd.testing.assert_frame_equal(one.predictions, two.predictions)
    pd.testing.assert_frame_equal(one.importance, two.importance)


def test_absent_taxa_are_dropped_without_changing_any_result():
    taxa, mtb, meta = _data(n_patients=16)
    padded = taxa.assign(**{f"absent{j}": 0.0 for j in range(50)})
    plain, wide = _evaluate(taxa, mtb, meta), _evaluate(padded, mtb, meta)
    pd.testing.assert_frame_equal(plain.performance, wide.performance)
    assert wide.feature_names["taxa"] == list(taxa.columns)


def _naive_p(null, observed):
    return (1 + sum(v >= observed for v in null)) / (1 + len(null))


def test_sequential_p_settles_the_same_decision_as_every_permutation():
    rng = np.random.default_rng(4)
    for _ in range(300):
        permutations = int(rng.integers(1, 120))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        null = rng.random(permutations)
        observed = float(rng.random() ** 0.3)
        p, used = bm.sequential_p(null, observed, permutations, alpha)
        full = _naive_p(null, observed)
        assert (p <= alpha) == (full <= alpha)
        h = max(1, int(np.floor(alpha * (permutations + 1))))
        exceed = np.cumsum(null >= observed)
        if exceed[-1] >= h:  # stopped at the h-th exceedance: Besag-Clifford's h / l
            assert used == int(np.argmax(exceed >= h)) + 1
            assert p == pytest.approx(max(h / used, (1 + h) / (1 + permutations)))
        else:
            assert used == permutations and p == pytest.approx(full)
    null = rng.random(50)
    assert bm.sequential_p(null, 0.6, 50, 0.0) == (pytest.approx(_naive_p(null, 0.6)), 50)
    assert np.isnan(bm.sequential_p([], 0.6, 0, 0.05)[0])


def test_permutations_stop_early_for_a_model_without_signal_only():
    taxa, mtb, meta = _data(n_patients=20, signal=0.0)
    settings = bm.Settings(
        folds=3, repeats=2, permutations=99, bootstrap=20, trees=10, seed=3,
        models=("l1_logistic",), permutation_alpha=0.05,
    )  # fmt: skip
    perf = _evaluate(taxa, mtb, meta, settings).performance.set_index("feature_set")
    stopped = perf[perf["permutation_p"] > 0.05]
    assert len(stopped), "no model without signal to stop early"
    for feature_set, row in stopped.iterrows():
        assert row["n_permutations"] < 99, feature_set
        assert row["permutation_p"] == pytest.approx(max(5 / row["n_permutations"], 0.06))
    taxa, mtb, meta = _data(n_patients=20, signal=3.0)
    row = _evaluate(taxa, mtb, meta, settings).performance.set_index("feature_set")
    assert row.loc["metabolites", "n_permutations"] == 99
    assert row.loc["metabolites", "permutation_p"] == pytest.approx(0.01)


def test_selection_optimism_is_the_mean_best_minus_chosen_per_repeat():
    table = pd.DataFrame(
        [("taxa", "a", 0, 0.80), ("taxa", "a", 1, 0.60), ("taxa", "b", 0, 0.70),
         ("taxa", "b", 1, 0.75), ("combined", "a", 0, 0.65), ("combined", "a", 1, 0.50)],
        columns=bm.REPEAT_AUROC_COLUMNS,
    )  # fmt: skip
    # chosen taxa/b (mean 0.725 > 0.70): repeat 0 best 0.80 (-0.70), repeat 1 best 0.75 (-0.75)
    assert bm.selection_optimism(table, ("taxa", "b")) == pytest.approx(0.05)
    assert bm.selection_optimism(table, ("taxa", "a")) == pytest.approx((0 + 0.15) / 2)
