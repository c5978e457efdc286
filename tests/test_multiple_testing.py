"""Benjamini-Hochberg q-values (microbiome.multiple_testing) against the step-up procedure."""

import numpy as np

from microbiome.multiple_testing import bh


def test_bh_equals_the_step_up_procedure_and_keeps_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2, 0.005])
    got = bh(p)
    ok = p[~np.isnan(p)]
    m = len(ok)
    order = np.argsort(ok)
    ranked = ok[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    expected = np.empty(m)
    expected[order] = q
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[~np.isnan(p)], expected)
