"""Transforms of taxa and metabolite tables, as functions and as scikit-learn transformers.

The functions are what the associations and correlations use on the whole cohort; the
transformers wrap the same functions so that the biomarker models fit every data-dependent
step (which taxa pass the filters, each metabolite's minimum) inside the cross-validation
folds only.

* Taxa: first the prevalence and abundance filters (on relative abundance, each sample divided
  by its total over every taxon of the table), then the centred log-ratio over the kept taxa
  only, :math:`\\operatorname{clr}(x)_j = \\log(x_j + c) - \\frac{1}{D}\\sum_k \\log(x_k + c)`
  for the :math:`D` kept taxa, with a stated pseudocount :math:`c` (Aitchison 1986). The CLR
  itself is scikit-bio's :func:`skbio.stats.composition.clr`; the pseudocount is added here.
  Associations, correlations and the biomarker models all use this order, so a taxon's CLR
  does not depend on the rare taxa that the filters drop.
* Metabolites: half-minimum imputation of zeros and missing values per metabolite, then the
  natural log. Tables that are already on a log scale (negative values) are imputed with the
  metabolite's minimum minus :math:`\\log 2`, the same rule on the log scale, and not logged again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

#: How a metabolite table is transformed: log (raw concentrations or intensities), none
#: (already log-scale), auto (log unless the table has negative values).
METABOLITE_TRANSFORMS = ("auto", "log", "none")


def abundance_filter(values: pd.DataFrame, *, prevalence: float, min_abundance: float) -> pd.Index:
    """The taxa that pass the prevalence and abundance filters, before any CLR.

    Parameters
    ----------
    values : pandas.DataFrame
        Samples x taxa, counts or relative abundances (non-negative).
    prevalence : float
        Minimum fraction of the samples (rows) in which a taxon is present (> 0).
    min_abundance : float
        Minimum mean over the samples of the taxon's relative abundance, each sample divided by
        its total over every column of ``values`` (an all-zero sample counts as 0).

    Returns
    -------
    pandas.Index
        The kept columns, in table order: both conditions hold (``>=``).
    """
    x = values.to_numpy(dtype=np.float64)  # numpy: run in every fold on thousands of taxa
    totals = x.sum(axis=1, keepdims=True)
    rel = np.divide(x, totals, out=np.zeros_like(x), where=totals > 0)
    keep = ((x > 0).mean(axis=0) >= prevalence) & (rel.mean(axis=0) >= min_abundance)
    return values.columns[keep]


def clr(values: pd.DataFrame, pseudocount: float) -> pd.DataFrame:
    """Centred log-ratio of each sample (row) over the columns given, after adding
    ``pseudocount``: scikit-bio's :func:`skbio.stats.composition.clr` of ``values +
    pseudocount``.

    Filter first (:func:`abundance_filter`) and pass the kept taxa only: the CLR's reference,
    the mean log over the columns, is taken over exactly the columns given.

    Parameters
    ----------
    values : pandas.DataFrame
        Samples x taxa, non-negative, no missing values.
    pseudocount : float
        Added to every value; must make every value strictly positive
        (:func:`taxa_pseudocount`).

    Returns
    -------
    pandas.DataFrame
        Same shape, index and columns, float64; each row sums to 0.

    Raises
    ------
    ValueError
        A value plus ``pseudocount`` is not strictly positive, or a value is missing.
    """
    from skbio.stats.composition import clr as skbio_clr

    shifted = values.to_numpy(dtype=np.float64) + pseudocount
    out = skbio_clr(shifted, axis=1) if shifted.size else shifted
    return pd.DataFrame(np.asarray(out), index=values.index, columns=values.columns)


def taxa_pseudocount(values: pd.DataFrame, pseudocount: float, is_relative: bool) -> float:
    """The pseudocount used: ``pseudocount`` for counts; for relative tables, half the smallest
    non-zero value of ``values`` (a count pseudocount means nothing on proportions). Pass the
    whole table, before the filters: its smallest non-zero value stands for the detection
    limit of the sequencing, not of the taxa that happen to be kept."""
    if not is_relative:
        return float(pseudocount)
    positive = values.to_numpy(dtype=np.float64)
    positive = positive[positive > 0]
    return float(positive.min() / 2) if positive.size else 1.0


def resolve_metabolite_transform(values: pd.DataFrame, transform: str) -> str:
    """``log`` or ``none``: ``auto`` is ``none`` when the table has negative values."""
    if transform != "auto":
        return transform
    return "none" if (values.to_numpy(dtype=np.float64) < 0).any() else "log"


def metabolite_floors(values: pd.DataFrame, transform: str) -> pd.Series:
    """Per metabolite, the value that replaces zeros and missing values, on the output scale:
    log(min positive / 2) for ``log``; min - log(2) for ``none``. A metabolite without any
    usable value gets 0."""
    if transform == "log":
        positive = values.where(values > 0)
        return np.log(positive.min(axis=0) / 2).fillna(0.0)
    return (values.min(axis=0) - np.log(2)).fillna(0.0)


def metabolite_log(values: pd.DataFrame, transform: str, floors: pd.Series) -> pd.DataFrame:
    """Metabolites on the log scale, zeros and missing values replaced by ``floors``."""
    if transform == "log":
        out = np.log(values.where(values > 0))
    else:
        out = values.copy()
    return out.fillna(floors)


class AbundanceFilter(BaseEstimator, TransformerMixin):
    """Keep the taxa that pass :func:`abundance_filter` on the training samples."""

    def __init__(self, prevalence: float = 0.1, min_abundance: float = 1e-4):
        self.prevalence = prevalence
        self.min_abundance = min_abundance

    def fit(self, X: pd.DataFrame, y=None):
        kept = abundance_filter(X, prevalence=self.prevalence, min_abundance=self.min_abundance)
        if len(kept) == 0:  # keep the most prevalent taxon rather than an empty model
            kept = X.columns[[int(np.argmax((X > 0).mean(axis=0).to_numpy()))]]
        self.columns_ = list(kept)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "columns_")
        return X[self.columns_]

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)


class CLR(BaseEstimator, TransformerMixin):
    """Centred log-ratio per sample over the columns it is given, :func:`clr` (stateless);
    after :class:`AbundanceFilter` in a Pipeline, the CLR is over the kept taxa."""

    def __init__(self, pseudocount: float = 0.5):
        self.pseudocount = pseudocount

    def fit(self, X: pd.DataFrame, y=None):
        self.columns_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return clr(X, self.pseudocount)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)


class HalfMinLog(BaseEstimator, TransformerMixin):
    """Log with half-minimum imputation; the minima are learnt on the training samples.

    ``kind`` is ``log`` (raw values) or ``none`` (already log-scale), as in
    :func:`metabolite_log`.
    """

    def __init__(self, kind: str = "log"):
        self.kind = kind

    def fit(self, X: pd.DataFrame, y=None):
        self.floors_ = metabolite_floors(X, self.kind)
        self.columns_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "floors_")
        return metabolite_log(X, self.kind, self.floors_)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)
