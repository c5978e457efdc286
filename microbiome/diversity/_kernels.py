"""Numba kernel of PERMDISP's null distribution under restricted permutations.

A port of scikit-bio 0.7's ``_permdisp_perm_stats_median_nb`` and its helpers
(``skbio/stats/distance/_permdisp.py``, BSD-3-Clause, (c) scikit-bio development team): the same
modified Weiszfeld iterations for each group's spatial median (hdmedians' algorithm, eps 1e-7,
at most 500 iterations) and the same one-way ANOVA F of the distances to them. Ours is cached
(``cache=True``: scikit-bio's is compiled anew in every process, ~9 s) and public to this
package. Checked against scikit-bio's public ``permdisp`` in
tests/diversity/test_diversity_patients.py.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _anova_f(dists, codes, counts, group_sums, num_groups):
    """One-way ANOVA F of ``dists`` (n,) by ``codes``, given each group's size and sum;
    NaN when every group is constant and equal, inf when only the groups differ."""
    total = 0
    grand = 0.0
    for g in range(num_groups):
        total += counts[g]
        grand += group_sums[g]
    grand /= total
    ss_between = 0.0
    for g in range(num_groups):
        diff = group_sums[g] / counts[g] - grand
        ss_between += counts[g] * diff * diff
    ss_within = 0.0
    for i in range(dists.shape[0]):
        resid = dists[i] - group_sums[codes[i]] / counts[codes[i]]
        ss_within += resid * resid
    ms_between = ss_between / (num_groups - 1)
    ms_within = ss_within / (total - num_groups)
    if ms_within == 0.0:
        return np.nan if ms_between == 0.0 else np.inf
    return ms_between / ms_within


@numba.njit(cache=True, nogil=True)
def _spatial_median(x, eps=1e-7, maxiters=500):
    """Spatial (geometric) median of the columns of ``x`` (dims, samples): modified Weiszfeld
    iterations from the mean, samples on the current estimate set aside (Vardi & Zhang 2000)."""
    p, n = x.shape
    y = np.zeros(p)
    for j in range(p):
        acc = 0.0
        for i in range(n):
            acc += x[j, i]
        y[j] = acc / n
    if n == 1:
        return y
    d = np.empty(n)
    dinv = np.empty(n)
    t = np.empty(p)
    y1 = np.empty(p)
    for _ in range(maxiters):
        nzeros = n
        dinvs = 0.0
        for i in range(n):
            acc = 0.0
            for j in range(p):
                diff = x[j, i] - y[j]
                acc += diff * diff
            d[i] = np.sqrt(acc)
            if abs(d[i]) > eps:
                dinv[i] = 1.0 / d[i]
                nzeros -= 1
            else:
                dinv[i] = 0.0
            dinvs += dinv[i]
        if nzeros == n:  # every sample on the estimate: it is the median
            break
        for j in range(p):
            total = 0.0
            for i in range(n):
                if abs(d[i]) > eps:
                    total += dinv[i] / dinvs * x[j, i]
            t[j] = total
        if nzeros == 0:
            for j in range(p):
                y1[j] = t[j]
        else:
            r = 0.0
            for j in range(p):
                rj = (t[j] - y[j]) * dinvs
                r += rj * rj
            r = np.sqrt(r)
            rinv = nzeros / r if r > eps else 0.0
            for j in range(p):
                y1[j] = max(0.0, 1 - rinv) * t[j] + min(1.0, rinv) * y[j]
        step = 0.0
        for j in range(p):
            diff = y[j] - y1[j]
            step += diff * diff
        if np.sqrt(step) < eps:
            break
        for j in range(p):
            y[j] = y1[j]
    return y


@numba.njit(cache=True, nogil=True)
def permdisp_f_median(samples, groupings, num_groups):
    """PERMDISP's F of each grouping (k, n; labels ``0 .. num_groups - 1``, int32) of the
    ``samples`` (n, dims, float64): the ANOVA F of each sample's Euclidean distance to its
    group's spatial median, the medians found anew for each grouping. Returns (k,) float64."""
    n, dims = samples.shape
    out = np.empty(groupings.shape[0])
    counts = np.empty(num_groups, np.int64)
    group_sums = np.empty(num_groups)
    dists = np.empty(n)
    for k in range(groupings.shape[0]):
        codes = groupings[k]
        counts[:] = 0
        group_sums[:] = 0.0
        for i in range(n):
            counts[codes[i]] += 1
        for g in range(num_groups):
            members = np.empty(counts[g], np.int64)
            group = np.empty((dims, counts[g]))
            m = 0
            for i in range(n):
                if codes[i] == g:
                    members[m] = i
                    for j in range(dims):
                        group[j, m] = samples[i, j]
                    m += 1
            center = _spatial_median(group)
            for m in range(counts[g]):
                acc = 0.0
                for j in range(dims):
                    diff = samples[members[m], j] - center[j]
                    acc += diff * diff
                dists[members[m]] = np.sqrt(acc)
                group_sums[g] += dists[members[m]]
        out[k] = _anova_f(dists, codes, counts, group_sums, num_groups)
    return out
