"""Tests of community structure and alpha diversity against metadata variables.

- PERMANOVA (Anderson 2001) of a distance matrix by a grouping: scikit-bio's pseudo-F and
  permutation p-value; ``R2 = SS_between / SS_total``, obtained from the pseudo-F and the
  degrees of freedom as ``R2 = F (g - 1) / (F (g - 1) + (n - g))``.
- PERMDISP (Anderson 2006): homogeneity of the groups' dispersions (distance to the group's
  spatial median in PCoA space), scikit-bio's, permutation p-value.
- Alpha diversity: Mann-Whitney U (two groups) or Kruskal-Wallis (more) for categorical variables,
  Spearman's rank correlation for continuous ones (scipy); Benjamini-Hochberg q-values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

CATEGORICAL = ("categorical", "binary")
CONTINUOUS = ("continuous", "date")


def r2_from_f(pseudo_f: float, n_samples: int, n_groups: int) -> float:
    """PERMANOVA's R2 from its pseudo-F with ``g - 1`` and ``n - g`` degrees of freedom."""
    between = pseudo_f * (n_groups - 1)
    return float(between / (between + (n_samples - n_groups)))


def permanova(distances, groups: pd.Series, *, permutations: int, seed: int) -> dict:
    """PERMANOVA of ``distances`` (skbio DistanceMatrix) by ``groups`` (indexed by sample ID).

    Returns n_samples, n_groups, pseudo_f, r2, p_value (NaN with 0 permutations), permutations.
    """
    from skbio.stats.distance import permanova as skbio_permanova

    dm = distances.filter(list(groups.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # F is NaN when all distances are 0
        # The numba engine: the same statistic and permutations as the default (Cython) one,
        # without its OpenMP threads, which crawl on a busy machine (seconds for 5 samples).
        result = skbio_permanova(
            dm,
            groups.astype(str).to_numpy(),
            permutations=permutations,
            seed=seed,
            engine="numba",
        )
    n, g, f = int(result["sample size"]), int(result["number of groups"]), result["test statistic"]
    return {
        "n_samples": n,
        "n_groups": g,
        "pseudo_f": float(f),
        "r2": r2_from_f(f, n, g),
        "p_value": float(result["p-value"]),
        "permutations": permutations,
    }


def permdisp(distances, groups: pd.Series, *, permutations: int, seed: int) -> dict:
    """PERMDISP (distances to the group medians) of ``distances`` by ``groups``, in the space of
    all principal coordinates (as vegan's betadisper; scikit-bio's default keeps 10).

    Returns n_samples, n_groups, f_statistic, p_value, permutations.
    """
    from skbio.stats.distance import permdisp as skbio_permdisp

    dm = distances.filter(list(groups.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # negative eigenvalues of non-Euclidean
        result = skbio_permdisp(
            dm,
            groups.astype(str).to_numpy(),
            permutations=permutations,
            seed=seed,
            dimensions=0,
        )
    return {
        "n_samples": int(result["sample size"]),
        "n_groups": int(result["number of groups"]),
        "f_statistic": float(result["test statistic"]),
        "p_value": float(result["p-value"]),
        "permutations": permutations,
    }


def alpha_test(values: pd.Series, variable: pd.Series, variable_type: str) -> dict:
    """One alpha metric against one variable (both indexed by sample ID, no missing values).

    Returns test (mann_whitney_u, kruskal_wallis or spearman), statistic, n_samples, p_value.
    NaN statistic and p when the values are all equal (no test possible).
    """
    from scipy import stats

    values = values.astype(float)
    n = len(values)
    if variable_type in CATEGORICAL:
        samples = [values[variable == level].to_numpy() for level in pd.unique(variable)]
        if len(samples) == 2:
            test, result = "mann_whitney_u", _safe(stats.mannwhitneyu, *samples)
        else:
            test, result = "kruskal_wallis", _safe(stats.kruskal, *samples)
    else:
        test, result = "spearman", _safe(stats.spearmanr, values.to_numpy(), variable.to_numpy())
    statistic, p = (np.nan, np.nan) if result is None else (result.statistic, result.pvalue)
    return {"test": test, "statistic": float(statistic), "n_samples": n, "p_value": float(p)}


def _safe(func, *args):
    """scipy's test, or None where it is undefined (all values equal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return func(*args)
        except ValueError:
            return None
