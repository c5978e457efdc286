"""Spearman correlations between CLR taxa and log metabolites, BH-adjusted over all pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from microbiome.multiple_testing import bh

CORRELATION_COLUMNS = ["taxon", "metabolite", "rho", "p_value", "q_value", "n"]


def spearman_pairs(taxa: pd.DataFrame, metabolites: pd.DataFrame) -> pd.DataFrame:
    """Every taxon x metabolite pair over the samples both tables have.

    Parameters
    ----------
    taxa : pandas.DataFrame
        Samples x taxa (CLR), no missing values.
    metabolites : pandas.DataFrame
        Samples x metabolites (log, imputed), no missing values.

    Returns
    -------
    pandas.DataFrame
        :data:`CORRELATION_COLUMNS`, sorted by q-value then p-value then -|rho|. Pairs with a
        constant side (undefined rho) have NaN rho and p and no q-value.
    """
    from scipy.stats import spearmanr

    samples = taxa.index.intersection(metabolites.index)
    n = len(samples)
    columns = CORRELATION_COLUMNS
    if n < 3 or taxa.shape[1] == 0 or metabolites.shape[1] == 0:
        return pd.DataFrame(columns=columns)
    t = taxa.loc[samples].to_numpy(dtype=np.float64)
    m = metabolites.loc[samples].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = spearmanr(t, m, axis=0)
    k = t.shape[1]
    rho = (
        np.atleast_2d(result.statistic)[:k, k:]
        if t.shape[1] + m.shape[1] > 2
        else (np.array([[result.statistic]]))
    )
    p = (
        np.atleast_2d(result.pvalue)[:k, k:]
        if t.shape[1] + m.shape[1] > 2
        else (np.array([[result.pvalue]]))
    )
    table = pd.DataFrame(
        {
            "taxon": np.repeat(taxa.columns.to_numpy(dtype=object), m.shape[1]),
            "metabolite": np.tile(metabolites.columns.to_numpy(dtype=object), k),
            "rho": rho.ravel(),
            "p_value": p.ravel(),
            "n": n,
        }
    )
    table["q_value"] = bh(table["p_value"])
    table = table.assign(_abs=-table["rho"].abs()).sort_values(
        ["q_value", "p_value", "_abs"], na_position="last", kind="mergesort"
    )
    return table.drop(columns="_abs")[columns].reset_index(drop=True)
