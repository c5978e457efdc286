"""Spearman correlations between CLR taxa and log metabolites, BH-adjusted over all pairs.

When a patient has several samples, the samples are not independent: each patient's
transformed values are averaged first (per taxon and per metabolite; the mean of CLR values is
the CLR of the geometric mean), and the correlation is over patients, so that a patient counts
once and the p-value has the patients' degrees of freedom.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microbiome.multiple_testing import bh

#: The columns of :func:`spearman_pairs`, in order (``n_patients`` last: it came later).
CORRELATION_COLUMNS = ["taxon", "metabolite", "rho", "p_value", "q_value", "n", "n_patients"]


def _patient_of(samples: pd.Index, patients: pd.Series | None) -> np.ndarray:
    """Each sample's patient (as str); a sample without one is its own patient."""
    if patients is None:
        return samples.astype(str).to_numpy()
    known = patients.reindex(samples)
    return np.where(known.isna(), samples.astype(str), known.astype(str)).astype(object)


def spearman_pairs(
    taxa: pd.DataFrame, metabolites: pd.DataFrame, patients: pd.Series | None = None
) -> pd.DataFrame:
    """Every taxon x metabolite pair over the samples both tables have, one unit per patient.

    Parameters
    ----------
    taxa : pandas.DataFrame
        Samples x taxa (CLR), no missing values.
    metabolites : pandas.DataFrame
        Samples x metabolites (log, imputed), no missing values.
    patients : pandas.Series, optional
        Sample ID -> patient ID (the metadata's ``patient_id``); a sample missing from it, or
        no series at all, is its own patient. When a patient has several of the shared samples,
        the mean of each taxon's and each metabolite's values over the patient's samples is
        what is correlated.

    Returns
    -------
    pandas.DataFrame
        :data:`CORRELATION_COLUMNS`, sorted by q-value then p-value then -|rho|: ``n`` the
        shared samples, ``n_patients`` their patients (the units of rho and its p-value; equal
        to ``n`` when no patient repeats). Pairs with a constant side (undefined rho) have NaN
        rho and p and no q-value. Empty with fewer than 3 patients.
    """
    from scipy.stats import spearmanr

    samples = taxa.index.intersection(metabolites.index)
    n = len(samples)
    columns = CORRELATION_COLUMNS
    units = _patient_of(samples, patients)
    n_patients = len(set(units))
    if n_patients < 3 or taxa.shape[1] == 0 or metabolites.shape[1] == 0:
        return pd.DataFrame(columns=columns)
    t_frame = taxa.loc[samples].astype(np.float64)
    m_frame = metabolites.loc[samples].astype(np.float64)
    if n_patients < n:  # repeated patients: one row per patient, the mean of its samples
        t_frame = t_frame.groupby(units, sort=True).mean()
        m_frame = m_frame.groupby(units, sort=True).mean()
    t = t_frame.to_numpy()
    m = m_frame.to_numpy()
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
            "n_patients": n_patients,
        }
    )
    table["q_value"] = bh(table["p_value"])
    table = table.assign(_abs=-table["rho"].abs()).sort_values(
        ["q_value", "p_value", "_abs"], na_position="last", kind="mergesort"
    )
    return table.drop(columns="_abs")[columns].reset_index(drop=True)
