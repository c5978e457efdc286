"""Tests of community structure and alpha diversity against metadata variables.

- PERMANOVA (Anderson 2001) of a distance matrix by a grouping: scikit-bio's pseudo-F and
  permutation p-value; ``R2 = SS_between / SS_total``, obtained from the pseudo-F and the
  degrees of freedom as ``R2 = F (g - 1) / (F (g - 1) + (n - g))``.
- PERMDISP (Anderson 2006): homogeneity of the groups' dispersions (distance to the group's
  spatial median in PCoA space), scikit-bio's, permutation p-value.
- Alpha diversity: Mann-Whitney U (two groups) or Kruskal-Wallis (more) for categorical variables,
  Spearman's rank correlation for continuous ones (scipy); Benjamini-Hochberg q-values.

Repeated patients. When a patient has more than one of the samples tested, the samples are not
exchangeable and the permutations are restricted (:func:`permutation_scheme`), as vegan's
``how(plots = Plots(strata = patient))`` / ``how(blocks = patient)``:

- a variable constant within every patient (responder, sex): the patients' labels are permuted,
  each patient's samples moving together (``patients as blocks``);
- a variable that varies within a patient (timepoint): labels are permuted only among the samples
  of the same patient (``within patients``).

The reported statistic is still scikit-bio's for the observed grouping; the null distribution of
the restricted permutations is computed here (:func:`permanova_f`, :func:`permdisp_f`), since
scikit-bio's tests draw free permutations only. Alpha diversity against a patient-level variable
is tested on the patients' mean alpha (one value per patient), against a within-patient variable
by a linear mixed model with a random intercept per patient (statsmodels' MixedLM).
Without repeated patients everything is as scikit-bio's and scipy's tests alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd

CATEGORICAL = ("categorical", "binary")
CONTINUOUS = ("continuous", "date")

#: The permutation schemes (column ``permutation_scheme`` of the tests tables).
FREE = "free"
BLOCKS = "patients as blocks"
WITHIN = "within patients"
#: Permuted groupings evaluated per batch (bounds memory at ``CHUNK x n`` labels).
CHUNK = 256
#: Relative tolerance of ``F_perm >= F_obs``: a permutation that reproduces the observed
#: grouping (frequent with few patients) counts whatever the rounding of its sums.
TIE_TOLERANCE = 1e-9


def r2_from_f(pseudo_f: float, n_samples: int, n_groups: int) -> float:
    """PERMANOVA's R2 from its pseudo-F with ``g - 1`` and ``n - g`` degrees of freedom."""
    between = pseudo_f * (n_groups - 1)
    return float(between / (between + (n_samples - n_groups)))


def repeated(patients: pd.Series | None) -> bool:
    """Whether some patient has more than one sample in ``patients`` (sample -> patient ID)."""
    return patients is not None and bool(patients.duplicated().any())


def permutation_scheme(variable: pd.Series, patients: pd.Series | None) -> str:
    """How the labels of ``variable`` (indexed by sample ID) may be permuted.

    :data:`FREE` when no patient has more than one of these samples (or ``patients`` is None),
    :data:`BLOCKS` when the variable is constant within every patient, else :data:`WITHIN`.
    ``patients`` maps sample ID -> patient ID and must cover ``variable``'s index.
    """
    if patients is None:
        return FREE
    patients = patients.reindex(variable.index)
    if not repeated(patients):
        return FREE
    levels = variable.groupby(patients.to_numpy(), sort=False, observed=True).nunique()
    return BLOCKS if (levels <= 1).all() else WITHIN


def _patient_codes(patients) -> np.ndarray:
    return np.unique(np.asarray(patients).astype(str), return_inverse=True)[1].astype(np.int64)


def distinct_arrangements(codes: np.ndarray, patients, scheme: str) -> int:
    """How many different labellings the permutations of ``scheme`` can produce.

    ``codes``: the integer labels (n,), ``patients``: each sample's patient (n,).
    """

    def multinomial(labels: np.ndarray) -> int:
        total, out = 0, 1
        for count in np.unique(labels, return_counts=True)[1]:
            total += int(count)
            out *= math.comb(total, int(count))
        return out

    codes = np.asarray(codes)
    if scheme == FREE:
        return multinomial(codes)
    patient = _patient_codes(patients)
    if scheme == BLOCKS:
        first = np.unique(patient, return_index=True)[1]
        return multinomial(codes[first])
    out = 1
    for p in np.unique(patient):
        out *= multinomial(codes[patient == p])
    return out


def permuted_groupings(
    codes: np.ndarray,
    patients,
    scheme: str,
    permutations: int,
    rng: np.random.Generator,
    *,
    chunk: int = CHUNK,
) -> Iterator[np.ndarray]:
    """``permutations`` permuted copies of the labels ``codes`` (n,), in int32 batches of shape
    ``(at most chunk, n)``.

    - :data:`FREE`: ``rng.permutation(codes)`` each, in scikit-bio's order (the same seed gives
      scikit-bio's permutations);
    - :data:`BLOCKS`: each patient keeps one label (``codes`` must be constant within patients)
      and the patients' labels are shuffled among the patients;
    - :data:`WITHIN`: the labels are shuffled among the samples of each patient, never across.

    ``patients``: each sample's patient ID (n,), unused when ``scheme`` is FREE.
    """
    codes = np.asarray(codes, dtype=np.int32)
    n = codes.size
    if scheme == FREE:
        for start in range(0, permutations, chunk):
            size = min(chunk, permutations - start)
            yield np.vstack([rng.permutation(codes) for _ in range(size)]).astype(np.int32)
        return
    patient = _patient_codes(patients)
    if scheme == BLOCKS:
        label = np.empty(patient.max() + 1, dtype=np.int32)
        label[patient] = codes
        if not np.array_equal(label[patient], codes):
            raise ValueError("the labels vary within a patient: they cannot move as blocks")
        for start in range(0, permutations, chunk):
            size = min(chunk, permutations - start)
            shuffled = rng.permuted(np.tile(label, (size, 1)), axis=1)
            yield np.ascontiguousarray(shuffled[:, patient])
        return
    if scheme != WITHIN:
        raise ValueError(f"unknown permutation scheme {scheme!r}")
    slots = np.argsort(patient, kind="stable")  # the samples, patient by patient
    by_patient = np.broadcast_to(patient, (min(chunk, max(permutations, 1)), n))
    for start in range(0, permutations, chunk):
        size = min(chunk, permutations - start)
        # each row: the samples sorted by patient, in a random order within the patient
        order = np.lexsort((rng.random((size, n)), by_patient[:size]), axis=-1)
        out = np.empty((size, n), dtype=np.int32)
        out[:, slots] = codes[order]
        yield out


def permanova_f(distances: np.ndarray, groupings: np.ndarray) -> np.ndarray:
    """PERMANOVA's pseudo-F of each grouping, vectorised.

    Parameters
    ----------
    distances : numpy.ndarray, shape (n, n), float64
        The square distance matrix.
    groupings : numpy.ndarray, shape (k, n), int
        k groupings of the n samples by labels ``0 .. g - 1`` (each present in every row).

    Returns
    -------
    numpy.ndarray, shape (k,), float64
        ``F = (SS_T - SS_W) / (g - 1) / (SS_W / (n - g))`` with ``SS_T = sum_{i<j} d_ij^2 / n``
        and ``SS_W = sum_groups sum_{i<j in group} d_ij^2 / n_group`` (Anderson 2001; the
        group sums as ``x_g' D2 x_g / 2`` for the group's indicator ``x_g``, one matrix product
        for the whole batch).
    """
    groupings = np.atleast_2d(np.asarray(groupings))
    k, n = groupings.shape
    g = int(groupings.max()) + 1
    squared = np.asarray(distances, dtype=np.float64) ** 2
    s_t = squared.sum() / (2.0 * n)
    onehot = np.zeros((n, k, g))
    onehot[np.arange(n)[:, None], np.arange(k)[None, :], groupings.T] = 1.0
    onehot = onehot.reshape(n, k * g)
    within = ((squared @ onehot) * onehot).sum(axis=0).reshape(k, g)
    sizes = onehot.sum(axis=0).reshape(k, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_w = 0.5 * (within / sizes).sum(axis=1)
        return ((s_t - s_w) / (g - 1)) / (s_w / (n - g))


def permdisp_f(coordinates: np.ndarray, groupings: np.ndarray) -> np.ndarray:
    """PERMDISP's F of each grouping: the one-way ANOVA F of the samples' Euclidean distances
    to their group's spatial median in ``coordinates`` (n, axes), the groups' medians found
    anew for each grouping (k, n) as scikit-bio does for its permutations (our cached port of
    its kernel, :func:`microbiome.diversity._kernels.permdisp_f_median`)."""
    from microbiome.diversity._kernels import permdisp_f_median

    groupings = np.ascontiguousarray(np.atleast_2d(groupings), dtype=np.int32)
    samples = np.ascontiguousarray(coordinates, dtype=np.float64)
    return permdisp_f_median(samples, groupings, int(groupings.max()) + 1)


def restricted_p_value(
    statistic,
    codes: np.ndarray,
    patients,
    scheme: str,
    *,
    permutations: int,
    seed: int,
) -> tuple[float, np.ndarray]:
    """Permutation p-value of ``statistic`` (a function of a (k, n) batch of groupings -> (k,)
    values) under ``scheme``: ``(1 + #{F_perm >= F_obs}) / (1 + permutations)``.

    Returns (p, the permutations' statistics). ``F_obs`` is ``statistic`` of ``codes`` itself,
    so that it and the permutations' values come from the same arithmetic; ties within
    :data:`TIE_TOLERANCE` count as ``>=``.
    """
    observed = float(statistic(codes[None, :])[0])
    rng = np.random.default_rng(seed)
    null = np.concatenate(
        [
            statistic(batch)
            for batch in permuted_groupings(codes, patients, scheme, permutations, rng)
        ]
        or [np.empty(0)]
    )
    if permutations == 0:
        return np.nan, null
    extreme = null >= observed - TIE_TOLERANCE * abs(observed)
    return float((1 + extreme.sum()) / (1 + permutations)), null


def _scheme_note(codes: np.ndarray, patients, scheme: str, permutations: int) -> str:
    """What the restricted permutations moved, and a warning when they can make few labellings."""
    if scheme == FREE:
        return ""
    n_patients = len(np.unique(np.asarray(patients).astype(str)))
    if scheme == BLOCKS:
        how = "patients' labels permuted, each patient's samples together"
    else:
        how = "labels permuted within patients only"
    note = f"{how} ({n_patients} patients, {len(codes)} samples)"
    distinct = distinct_arrangements(codes, patients, scheme)
    if 2 * distinct <= permutations:
        note += f"; only {distinct} distinct labellings: p cannot go much below {1 / distinct:.2g}"
    return note


def permanova(
    distances, groups: pd.Series, *, permutations: int, seed: int, patients: pd.Series | None = None
) -> dict:
    """PERMANOVA of ``distances`` (skbio DistanceMatrix) by ``groups`` (indexed by sample ID).

    ``patients`` (sample ID -> patient ID) restricts the permutations when a patient has more
    than one of the samples (:func:`permutation_scheme`); without repeats, scikit-bio's test as
    it is. Returns n_samples, n_groups, pseudo_f, r2, p_value (NaN with 0 permutations),
    permutations, permutation_scheme, and a note on restricted permutations.
    """
    from skbio.stats.distance import permanova as skbio_permanova

    dm = distances.filter(list(groups.index))
    scheme = permutation_scheme(groups, patients)
    labels = groups.astype(str).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # F is NaN when all distances are 0
        # The numba engine: the same statistic and permutations as the default (Cython) one,
        # without its OpenMP threads, which crawl on a busy machine (seconds for 5 samples).
        result = skbio_permanova(
            dm,
            labels,
            permutations=permutations if scheme == FREE else 0,
            seed=seed,
            engine="numba",
        )
        n, g, f = (
            int(result["sample size"]),
            int(result["number of groups"]),
            result["test statistic"],
        )
        out = {
            "n_samples": n,
            "n_groups": g,
            "pseudo_f": float(f),
            "r2": r2_from_f(f, n, g),
            "p_value": float(result["p-value"]),
            "permutations": permutations,
            "permutation_scheme": scheme,
        }
        if scheme != FREE:
            out.update(
                _restricted(
                    lambda batch: permanova_f(dm.data, batch),
                    labels, groups, patients, scheme, permutations, seed,
                )
            )  # fmt: skip
    return out


def _restricted(statistic, labels, groups, patients, scheme, permutations, seed) -> dict:
    """p_value and note of a test whose permutations ``scheme`` restricts by patient."""
    codes = np.unique(labels, return_inverse=True)[1]
    who = patients.reindex(groups.index).to_numpy()
    p = restricted_p_value(statistic, codes, who, scheme, permutations=permutations, seed=seed)[0]
    return {"p_value": p, "note": _scheme_note(codes, who, scheme, permutations)}


def permdisp(
    distances, groups: pd.Series, *, permutations: int, seed: int, patients: pd.Series | None = None
) -> dict:
    """PERMDISP (distances to the group medians) of ``distances`` by ``groups``, in the space of
    all principal coordinates (as vegan's betadisper; scikit-bio's default keeps 10).

    ``patients`` restricts the permutations as in :func:`permanova`. Returns n_samples,
    n_groups, f_statistic, p_value, permutations, permutation_scheme (and a note).
    """
    from skbio.stats.distance import permdisp as skbio_permdisp

    dm = distances.filter(list(groups.index))
    scheme = permutation_scheme(groups, patients)
    labels = groups.astype(str).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # negative eigenvalues of non-Euclidean
        result = skbio_permdisp(
            dm,
            labels,
            permutations=permutations if scheme == FREE else 0,
            seed=seed,
            dimensions=0,
        )
        out = {
            "n_samples": int(result["sample size"]),
            "n_groups": int(result["number of groups"]),
            "f_statistic": float(result["test statistic"]),
            "p_value": float(result["p-value"]),
            "permutations": permutations,
            "permutation_scheme": scheme,
        }
        if scheme != FREE:
            from skbio.stats.ordination import pcoa

            # the coordinates scikit-bio's permdisp works in (all axes, dimensions=0)
            coordinates = pcoa(dm, method="eigh", dimensions=0).samples.to_numpy()
            out.update(
                _restricted(
                    lambda batch: permdisp_f(coordinates, batch),
                    labels, groups, patients, scheme, permutations, seed,
                )
            )  # fmt: skip
    return out


def alpha_test(
    values: pd.Series,
    variable: pd.Series,
    variable_type: str,
    patients: pd.Series | None = None,
) -> dict:
    """One alpha metric against one variable (both indexed by sample ID, no missing values).

    Without repeated patients (``patients``: sample ID -> patient ID, None: one per sample):
    Mann-Whitney U (``mann_whitney_u``, two levels), Kruskal-Wallis (``kruskal_wallis``) or
    Spearman (``spearman``) on the samples. With repeated patients, a variable constant within
    every patient is tested the same way on each patient's mean alpha (``<test>_patient_means``);
    one that varies within patients by a linear mixed model ``alpha ~ variable + (1 | patient)``
    (statsmodels' MixedLM): the Wald z of its coefficient (``mixed_model_wald``: continuous or
    two levels; REML) or the likelihood-ratio chi² of its levels (``mixed_model_lrt``: more than
    two levels; ML fits with and without it).

    Returns test, statistic, n_samples, n_patients, p_value and (with repeated patients) note.
    NaN statistic and p when the values are all equal (no test possible).
    """
    values = values.astype(float)
    n = len(values)
    scheme = permutation_scheme(variable, patients)
    if scheme == FREE:
        n_patients = n if patients is None else int(patients.reindex(values.index).nunique())
        return _independent_test(values, variable, variable_type) | {
            "n_samples": n,
            "n_patients": n_patients,
        }
    who = patients.reindex(values.index).astype(str)
    per_patient = who.value_counts()
    n_patients, n_repeated = len(per_patient), int((per_patient > 1).sum())
    counted = f"{n_patients} patients, {n_repeated} with more than one sample"
    if scheme == BLOCKS:
        means = values.groupby(who.to_numpy(), sort=True).mean()
        levels = variable.groupby(who.to_numpy(), sort=True, observed=True).first()
        result = _independent_test(means, levels.loc[means.index], variable_type)
        result["test"] += "_patient_means"
        result["note"] = f"alpha averaged per patient, tested on the patients ({counted})"
    else:
        result = _mixed_model(values, variable, variable_type, who)
        result["note"] = "; ".join(filter(None, [result["note"], counted]))
    return result | {"n_samples": n, "n_patients": n_patients}


def _independent_test(values: pd.Series, variable: pd.Series, variable_type: str) -> dict:
    """test, statistic and p_value of scipy's test of independent observations."""
    from scipy import stats

    values = values.astype(float)
    if variable_type in CATEGORICAL:
        samples = [values[variable == level].to_numpy() for level in pd.unique(variable)]
        if len(samples) == 2:
            test, result = "mann_whitney_u", _safe(stats.mannwhitneyu, *samples)
        else:
            test, result = "kruskal_wallis", _safe(stats.kruskal, *samples)
    else:
        test, result = "spearman", _safe(stats.spearmanr, values.to_numpy(), variable.to_numpy())
    statistic, p = (np.nan, np.nan) if result is None else (result.statistic, result.pvalue)
    return {"test": test, "statistic": float(statistic), "p_value": float(p)}


def _levels(variable: pd.Series) -> list:
    """The levels present, in the declared order of a categorical (the first is the reference)."""
    present = set(pd.unique(variable))
    if isinstance(variable.dtype, pd.CategoricalDtype):
        return [c for c in variable.cat.categories if c in present]
    return sorted(present, key=str)


def _mixed_model(
    values: pd.Series, variable: pd.Series, variable_type: str, patients: pd.Series
) -> dict:
    """Linear mixed model ``alpha ~ variable + (1 | patient)`` (statsmodels' MixedLM)."""
    from scipy import stats
    from statsmodels.regression.mixed_linear_model import MixedLM

    y = values.to_numpy(dtype=np.float64)
    groups = patients.to_numpy()
    intercept = np.ones((len(y), 1))
    if variable_type in CATEGORICAL:
        levels = _levels(variable)
        dummies = [(variable == level).to_numpy(dtype=np.float64) for level in levels[1:]]
        design = np.column_stack([intercept, *dummies])
        what = f"{levels[1]} vs {levels[0]}" if len(levels) == 2 else f"{len(levels)} levels"
    else:
        x = variable.to_numpy(dtype=np.float64)
        design = np.column_stack([intercept, x - x.mean()])  # centred: the slope is unchanged
        what = "the slope"
    wald = design.shape[1] == 2
    test = "mixed_model_wald" if wald else "mixed_model_lrt"
    model = "linear mixed model alpha ~ variable + (1 | patient) (statsmodels MixedLM)"
    if np.ptp(y) == 0:
        return {"test": test, "statistic": np.nan, "p_value": np.nan, "note": model}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if wald:
                fit = MixedLM(y, design, groups).fit(reml=True)
                statistic, p = float(fit.tvalues[1]), float(fit.pvalues[1])
                note = f"{model}, REML: Wald z of {what}"
                converged = fit.converged
            else:
                full = MixedLM(y, design, groups).fit(reml=False)
                null = MixedLM(y, intercept, groups).fit(reml=False)
                statistic = float(max(2.0 * (full.llf - null.llf), 0.0))
                df = design.shape[1] - 1
                p = float(stats.chi2.sf(statistic, df))
                note = f"{model}, ML: likelihood-ratio chi2 ({df} df) of the {what}"
                converged = full.converged and null.converged
        except (np.linalg.LinAlgError, ValueError) as exc:
            return {
                "test": test,
                "statistic": np.nan,
                "p_value": np.nan,
                "note": f"{model}: not fitted ({exc})",
            }
    if not converged:
        note += "; the fit did not converge"
    elif any("boundary" in str(w.message) for w in caught):
        note += "; the patients' variance is estimated at 0"
    return {"test": test, "statistic": statistic, "p_value": p, "note": note}


def _safe(func, *args):
    """scipy's test, or None where it is undefined (all values equal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return func(*args)
        except ValueError:
            return None
