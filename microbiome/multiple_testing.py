"""Benjamini-Hochberg q-values, for every table of tests the package writes."""

from __future__ import annotations

import numpy as np


def bh(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values (scipy's ``false_discovery_control``) of the p-values that
    are not missing; a missing p-value (NaN) stays missing and does not count as a test."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    return q
