"""Association models equal statsmodels' formula API fitted directly on the same data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from microbiome.integrate.associations import associate


def _cohort(n_patients: int, per_patient: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        group = ["Control", "Adenoma", "Carcinoma"][p % 3]
        age = float(rng.integers(40, 80))
        effect = rng.normal(0, 0.8)
        for t in range(per_patient):
            rows.append((f"P{p}_{t}", f"P{p}", group, age, effect))
    meta = pd.DataFrame(rows, columns=["sample_id", "patient_id", "diagnosis", "age", "u"])
    meta = meta.set_index("sample_id")
    meta["diagnosis"] = pd.Categorical(meta["diagnosis"], ["Control", "Adenoma", "Carcinoma"])
    features = pd.DataFrame(
        {
            f"f{j}": 0.9 * (meta["diagnosis"] == "Adenoma") * (j % 2)
            + 0.02 * meta["age"]
            + meta["u"]
            + rng.normal(0, 1, len(meta))
            for j in range(4)
        }
    )
    return features, meta.drop(columns="u")


TYPES = {"diagnosis": "categorical", "age": "continuous"}


def test_ols_equals_statsmodels_formula():
    features, meta = _cohort(30, 1)
    table, skipped = associate(
        features,
        features > 0,
        meta,
        TYPES,
        variables=["diagnosis"],
        covariates=["age"],
        feature_type="taxon",
    )
    assert not skipped
    assert set(table["model"]) == {"ols"}
    assert set(table["level"]) == {"Adenoma", "Carcinoma"}
    for feature in features.columns:
        data = meta.assign(y=features[feature])
        fit = smf.ols("y ~ C(diagnosis, Treatment('Control')) + age", data).fit()
        for level in ("Adenoma", "Carcinoma"):
            row = table[(table["feature"] == feature) & (table["level"] == level)].iloc[0]
            name = f"C(diagnosis, Treatment('Control'))[T.{level}]"
            assert row["coefficient"] == pytest.approx(fit.params[name], rel=1e-9)
            assert row["std_error"] == pytest.approx(fit.bse[name], rel=1e-9)
            assert row["p_value"] == pytest.approx(fit.pvalues[name], rel=1e-9)
            assert row["n"] == 30
            assert row["n_nonzero"] == int((features[feature] > 0).sum())
            assert row["reference"] == "Control"


def test_continuous_variable_with_missing_values():
    features, meta = _cohort(24, 1)
    meta.loc[meta.index[:3], "age"] = np.nan
    table, _ = associate(
        features, features > 0, meta, TYPES, variables=["age"], feature_type="metabolite"
    )
    data = meta.assign(y=features["f0"]).dropna(subset=["age"])
    fit = smf.ols("y ~ age", data).fit()
    row = table[table["feature"] == "f0"].iloc[0]
    assert row["level"] == ""
    assert row["n"] == 21
    assert row["coefficient"] == pytest.approx(fit.params["age"], rel=1e-9)
    assert row["p_value"] == pytest.approx(fit.pvalues["age"], rel=1e-9)


def test_mixedlm_with_random_intercept_per_patient():
    features, meta = _cohort(18, 3)
    table, _ = associate(
        features, features > 0, meta, TYPES, variables=["diagnosis"], feature_type="taxon"
    )
    assert set(table["model"]) == {"mixedlm"}
    for feature in features.columns[:2]:
        data = meta.assign(y=features[feature])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm(
                "y ~ C(diagnosis, Treatment('Control'))", data, groups=data["patient_id"]
            ).fit(reml=True)
        name = "C(diagnosis, Treatment('Control'))[T.Adenoma]"
        row = table[(table["feature"] == feature) & (table["level"] == "Adenoma")].iloc[0]
        assert row["coefficient"] == pytest.approx(fit.params[name], rel=1e-6)
        assert row["std_error"] == pytest.approx(fit.bse[name], rel=1e-5)
        assert row["p_value"] == pytest.approx(fit.pvalues[name], rel=1e-5)


def test_failures_are_row_notes_not_crashes(monkeypatch):
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    features, meta = _cohort(12, 2)
    features["constant"] = 1.0
    real_fit = sm.MixedLM.fit

    def fit(self, *args, **kwargs):
        if self.endog[0] == features["f0"].iloc[0]:
            raise np.linalg.LinAlgError("Singular matrix")
        if self.endog[0] == features["f1"].iloc[0]:
            warnings.warn("Gradient optimization failed", ConvergenceWarning, stacklevel=1)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(sm.MixedLM, "fit", fit)
    table, _ = associate(
        features, features > 0, meta, TYPES, variables=["diagnosis"], feature_type="taxon"
    )
    notes = table.groupby("feature")["note"].first()
    assert notes["constant"] == "not fitted: the feature is constant over these samples"
    assert notes["f0"] == "not fitted: Singular matrix"
    assert "Gradient optimization failed" in notes["f1"]
    assert table.loc[table["feature"] == "f0", "coefficient"].isna().all()
    assert table.loc[table["feature"] == "f1", "coefficient"].notna().all()


def test_confounded_or_single_level_variables_are_skipped():
    features, meta = _cohort(12, 1)
    meta["same"] = pd.Categorical(["x"] * len(meta))
    meta["copy"] = meta["age"] * 2
    table, skipped = associate(
        features,
        features > 0,
        meta,
        TYPES | {"copy": "continuous"},
        variables=["same", "copy"],
        covariates=["age"],
        feature_type="taxon",
    )
    assert table.empty and table["p_value"].dtype == "float64"  # concatenates with others
    assert [v for v, _ in skipped] == ["same", "copy"]
