"""Per-feature linear models of transformed abundance against clinical variables.

In the spirit of MaAsLin 2: for each feature (CLR taxon or log metabolite) and each clinical
variable, ``abundance ~ variable + covariates`` by ordinary least squares (statsmodels OLS), or
by a linear mixed model with a random intercept per patient (statsmodels MixedLM, REML) when a
patient has several samples among those of the model. Categorical variables are coded against a
reference level (the first declared level, else the first in sort order); continuous ones enter
as they are; dates as days since the earliest. Benjamini-Hochberg q-values over all tests.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("microbiome")

ASSOCIATION_COLUMNS = [
    "feature",
    "feature_type",
    "variable",
    "level",
    "reference",
    "coefficient",
    "std_error",
    "n",
    "n_nonzero",
    "p_value",
    "q_value",
    "model",
    "note",
]

_LEVEL = re.compile(r"\[T\.(.*)\]$")


def reference_level(values: pd.Series) -> str:
    """The reference of a categorical column: its first category if ordered as declared, else
    the first value in sort order."""
    present = set(values.dropna().astype(str))
    if isinstance(values.dtype, pd.CategoricalDtype):
        for level in values.cat.categories.astype(str):
            if level in present:
                return level
    return sorted(present)[0]


def _term(
    name: str, values: pd.Series, kind: str, reference: str | None = None
) -> tuple[str, pd.Series, str | None]:
    """Patsy term of a column, the column as the model sees it, and its reference level
    (``reference`` when the column has it)."""
    if kind in ("categorical", "binary") or not pd.api.types.is_numeric_dtype(values):
        if kind == "date" or pd.api.types.is_datetime64_any_dtype(values):
            days = (values - values.min()).dt.total_seconds() / 86400.0
            return name, days.astype("float64"), None
        present = set(values.dropna().astype(str))
        ref = reference if reference in present else reference_level(values)
        return f"C({name}, Treatment(reference={ref!r}))", values.astype(str), ref
    return name, values.astype("float64"), None


def design(
    metadata: pd.DataFrame,
    variable: str,
    covariates: Sequence[str],
    types: dict[str, str],
    reference: str | None = None,
) -> tuple[pd.DataFrame, str | None, pd.Index]:
    """The design matrix (patsy, with intercept) of ``variable + covariates`` on the samples
    with every value present; the variable's reference level (``reference`` when given and
    present); and the variable's columns in the matrix."""
    import patsy

    columns = [variable, *[c for c in covariates if c != variable]]
    data = metadata[columns].dropna()
    safe, terms = {}, []
    variable_reference = None
    for i, column in enumerate(columns):
        name = f"x{i}"
        term, values, ref = _term(
            name, data[column], types.get(column, ""), reference if i == 0 else None
        )
        safe[name] = values
        terms.append(term)
        if i == 0:
            variable_reference = ref
    frame = pd.DataFrame(safe, index=data.index)
    matrix = patsy.dmatrix(" + ".join(terms), frame, return_type="dataframe")
    own = matrix.columns[[c == terms[0] or c.startswith(terms[0] + "[") for c in matrix.columns]]
    return matrix, variable_reference, own


def _fit(y: np.ndarray, X: pd.DataFrame, groups: np.ndarray | None):
    """(params, bse, pvalues, model name, note) of OLS or a random-intercept MixedLM."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    note = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if groups is None:
            result = sm.OLS(y, X).fit()
            name = "ols"
        else:
            result = sm.MixedLM(y, X, groups=groups).fit(reml=True)
            name = "mixedlm"
            if not result.converged:
                note = "mixedlm did not converge; estimates may be unreliable"
    if any(issubclass(w.category, ConvergenceWarning) for w in caught) and not note:
        note = (
            "convergence warning: "
            + str(
                next(w.message for w in caught if issubclass(w.category, ConvergenceWarning))
            ).splitlines()[0]
        )
    return result.params, result.bse, result.pvalues, name, note


def associate(
    features: pd.DataFrame,
    observed: pd.DataFrame,
    metadata: pd.DataFrame,
    types: dict[str, str],
    *,
    variables: Sequence[str],
    covariates: Sequence[str] = (),
    feature_type: str,
    min_samples: int = 3,
    references: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Fit every feature against every variable; q-values are left to the caller (over all
    feature types at once, :func:`microbiome.multiple_testing.bh`).

    Parameters
    ----------
    features : pandas.DataFrame
        Samples x features, transformed (CLR, log), float64.
    observed : pandas.DataFrame
        Same shape, True where the raw value was present (> 0, or not missing): ``n_nonzero``.
    metadata : pandas.DataFrame
        Index sample_id; ``patient_id`` and the clinical columns.
    types : dict
        Column -> categorical, continuous, binary, date.
    variables, covariates : sequence of str
    feature_type : str
        ``taxon`` or ``metabolite``.
    references : dict, optional
        Variable -> reference level, instead of the first declared (or sorted) level.

    Returns
    -------
    table : pandas.DataFrame
        :data:`ASSOCIATION_COLUMNS` except ``q_value`` (NaN); one row per feature, variable
        and level (one level for a continuous variable, its ``level`` empty).
    skipped : list of (variable, reason)
    """
    meta = metadata.loc[features.index]
    rows, skipped = [], []
    for variable in variables:
        matrix, reference, own = design(
            meta, variable, covariates, types, (references or {}).get(variable)
        )
        n = len(matrix)
        if n < min_samples or len(own) == 0:
            skipped.append(
                (
                    variable,
                    f"{n} sample(s) with {variable} and the covariates, or a "
                    "single level: nothing to test",
                )
            )
            continue
        if np.linalg.matrix_rank(matrix.to_numpy()) < matrix.shape[1]:
            skipped.append(
                (variable, f"{variable} is confounded with the covariates (rank-deficient design)")
            )
            continue
        if n - matrix.shape[1] < 1:
            skipped.append((variable, f"{n} samples for {matrix.shape[1]} parameters"))
            continue
        patients = meta.loc[matrix.index, "patient_id"].astype(str).to_numpy()
        groups = patients if len(set(patients)) < len(patients) else None
        levels = {c: (m.group(1) if (m := _LEVEL.search(c)) else "") for c in own}
        for feature in features.columns:
            y = features.loc[matrix.index, feature].to_numpy(dtype=np.float64)
            n_nonzero = int(observed.loc[matrix.index, feature].sum())
            try:
                if np.ptp(y) == 0:
                    raise ValueError("the feature is constant over these samples")
                params, bse, pvalues, model, note = _fit(y, matrix, groups)
            except (ValueError, np.linalg.LinAlgError) as exc:
                params = bse = pvalues = pd.Series(dtype="float64")
                model = "mixedlm" if groups is not None else "ols"
                note = f"not fitted: {str(exc).splitlines()[0]}"
            for column, level in levels.items():
                rows.append(
                    (
                        feature,
                        feature_type,
                        variable,
                        level,
                        reference or "",
                        float(params.get(column, np.nan)),
                        float(bse.get(column, np.nan)),
                        n,
                        n_nonzero,
                        float(pvalues.get(column, np.nan)),
                        np.nan,
                        model,
                        note,
                    )
                )
    table = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS).astype(
        {c: "float64" for c in ("coefficient", "std_error", "p_value", "q_value")}
        | {"n": "int64", "n_nonzero": "int64"}
    )
    return table, skipped
