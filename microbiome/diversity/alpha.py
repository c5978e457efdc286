"""Alpha diversity per sample, rarefaction and rarefaction curves (scikit-bio's metrics).

Columns of the alpha table (one row per sample):

- ``depth``: total count of the sample;
- ``observed``: taxa with a count above 0 (``observed_features``);
- ``shannon_ln``: Shannon entropy ``H = -sum p_i ln p_i`` with the **natural** logarithm;
- ``simpson``: Gini-Simpson ``1 - sum p_i^2``;
- ``inverse_simpson``: ``1 / sum p_i^2``;
- ``chao1``: bias-corrected Chao1 ``S_obs + F1 (F1 - 1) / (2 (F2 + 1))`` (Chao 1984), on counts
  rounded to integers, NA for relative abundances (singletons are meaningless there);
- ``pielou_evenness``: ``H / ln(S_obs)`` (NA with fewer than two taxa);
- ``faith_pd`` (with a tree): the branch length spanned by the sample's taxa (Faith 1992).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from microbiome.errors import InputError

#: Output column -> (scikit-bio metric, its keyword arguments).
ALPHA_METRICS: dict[str, tuple[str, dict]] = {
    "observed": ("observed_features", {}),
    "shannon_ln": ("shannon", {"base": math.e}),
    "simpson": ("simpson", {}),
    "inverse_simpson": ("inv_simpson", {}),
    "chao1": ("chao1", {"bias_corrected": True}),
    "pielou_evenness": ("pielou_e", {"base": math.e}),
}
#: Metrics that need integer counts.
_NEEDS_COUNTS = frozenset({"chao1"})


def alpha_table(
    table: pd.DataFrame, *, relative: bool = False, phylogeny: tuple | None = None
) -> pd.DataFrame:
    """Alpha diversity of every sample (rows of ``table``).

    Parameters
    ----------
    table : pandas.DataFrame, shape (n_samples, n_taxa), float64 >= 0
        Counts (or proportions when ``relative``); no sample may sum to 0.
    relative : bool
        The values are proportions or percentages: ``chao1`` is NA.
    phylogeny : (skbio.TreeNode, list of str), optional
        A tree and, for each column of ``table``, its tip name or None: adds ``faith_pd``
        over the taxa found in the tree.

    Returns
    -------
    pandas.DataFrame indexed like ``table``: ``depth`` and the columns of :data:`ALPHA_METRICS`.
    """
    from skbio.diversity import alpha_diversity

    values = table.to_numpy(dtype=np.float64)
    out = pd.DataFrame({"depth": values.sum(axis=1)}, index=table.index)
    rounded = np.rint(values).astype(np.int64)
    for column, (metric, kwargs) in ALPHA_METRICS.items():
        if column in _NEEDS_COUNTS:
            if relative:
                out[column] = np.nan
                continue
            data = rounded
        else:
            data = values
        with np.errstate(divide="ignore", invalid="ignore"):
            out[column] = alpha_diversity(metric, data, ids=table.index, **kwargs).to_numpy()
    if phylogeny is not None:
        tree, tips = phylogeny
        keep = [i for i, tip in enumerate(tips) if tip is not None]
        out["faith_pd"] = alpha_diversity(
            "faith_pd",
            values[:, keep],
            ids=table.index,
            taxa=[tips[i] for i in keep],
            tree=tree,
            validate=False,
        ).to_numpy()
    return out


#: numpy's multivariate hypergeometric sampler is exact below this many counts in a sample.
MAX_SUBSAMPLED_TOTAL = 10**9


def subsample(counts: np.ndarray, depth: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` random subsamples without replacement of ``depth`` of the integer ``counts``
    (one sample's taxa), shape ``(size, len(counts))``.

    Multivariate hypergeometric draws (numpy's "marginals" method): their cost grows with the
    number of taxa present, not with the counts (scikit-bio's ``subsample_counts`` draws count
    by count, seconds per draw at tens of millions of reads).
    """
    present = np.flatnonzero(counts)
    out = np.zeros((size, len(counts)), dtype=np.int64)
    if present.size:
        out[:, present] = rng.multivariate_hypergeometric(
            counts[present], depth, size=size, method="marginals"
        )
    return out


def _integer_counts(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(counts rounded to integers, each sample's total), checked for :func:`subsample`.

    Raises
    ------
    InputError
        Naming the first sample with :data:`MAX_SUBSAMPLED_TOTAL` counts or more.
    """
    rounded = np.rint(counts.to_numpy(dtype=np.float64)).astype(np.int64)
    totals = rounded.sum(axis=1)
    if (too_many := totals >= MAX_SUBSAMPLED_TOTAL).any():
        first = int(too_many.argmax())
        raise InputError(
            f"sample {counts.index[first]}: {totals[first]:,} counts, more than rarefaction can"
            f" draw from exactly ({MAX_SUBSAMPLED_TOTAL:,}): leave the sample out of the taxa"
            " table, or scale its counts down"
        )
    return rounded, totals


def rarefy(counts: pd.DataFrame, depth: int, rng: np.random.Generator) -> pd.DataFrame:
    """One random subsample without replacement of ``depth`` counts from each sample
    (:func:`subsample`, seeded by ``rng``).

    ``counts`` are rounded to integers first; samples with fewer than ``depth`` counts are
    left out. A sample of :data:`MAX_SUBSAMPLED_TOTAL` counts or more is an InputError.
    """
    rounded, totals = _integer_counts(counts)
    keep = np.flatnonzero(totals >= depth)
    data = np.zeros((keep.size, counts.shape[1]), dtype=np.int64)
    for row, i in enumerate(keep):
        data[row] = subsample(rounded[i], depth, rng, 1)[0]
    return pd.DataFrame(data.astype(np.float64), index=counts.index[keep], columns=counts.columns)


def rarefied_alpha(
    counts: pd.DataFrame,
    depth: int,
    *,
    repeats: int,
    rng: np.random.Generator,
    phylogeny: tuple | None = None,
) -> pd.DataFrame:
    """Alpha diversity averaged over ``repeats`` (at least 1) rarefactions to ``depth``.

    Samples with fewer than ``depth`` counts are not in the result. Columns: those of
    :func:`alpha_table` (``depth`` is the sample's full depth) and ``rarefaction_depth``.
    """
    draws = [rarefy(counts, depth, rng) for _ in range(repeats)]
    runs = [alpha_table(d, phylogeny=phylogeny).drop(columns="depth") for d in draws]
    kept = draws[0].index
    mean = pd.concat(runs).groupby(level=0, sort=False).mean().reindex(kept)
    mean.insert(0, "depth", counts.loc[kept].sum(axis=1))
    mean["rarefaction_depth"] = depth
    return mean


#: Percentile of the samples' depths where the rarefaction curves stop by default.
CURVES_PERCENTILE = 95


def curve_max_depth(totals: np.ndarray, rarefaction_depth: int = 0) -> int:
    """The default deepest point of the rarefaction curves: the depth of the sample at the
    :data:`CURVES_PERCENTILE` th percentile of the samples' depths (``totals``, counts rounded
    to integers), at least ``rarefaction_depth`` (so that the curves cross it) and at most the
    deepest sample.

    Every sample up to that percentile is drawn to its full depth, and the few deepest (in
    real cohorts depths vary 20-fold) stop there rather than stretching the depth axis over a
    range that only they reach; their curves are flat long before it when they are saturated.
    """
    totals = np.asarray(totals, dtype=np.float64)
    if not totals.size:
        return 1
    cap = np.percentile(np.rint(totals), CURVES_PERCENTILE, method="lower")
    return int(max(1, min(max(cap, rarefaction_depth), np.rint(totals).max())))


def rarefaction_curves(
    counts: pd.DataFrame,
    *,
    steps: int,
    repeats: int,
    rng: np.random.Generator,
    max_depth: int | None = None,
) -> pd.DataFrame:
    """Observed taxa and Shannon (ln) by subsampling depth, each sample up to its own depth or
    ``max_depth``, whichever is smaller.

    Depths: ``steps`` values spaced evenly on a log scale from 1 to ``max_depth`` (None: the
    deepest sample; :func:`curve_max_depth` gives the default of ``microbiome diversity``), and
    each sample's own depth when it is not deeper (its full, unsubsampled values); a depth above
    a sample's total is not drawn for it. Returns a long table ``sample_id, depth, observed_mean,
    observed_sd, shannon_ln_mean, shannon_ln_sd`` (means and standard deviations over
    ``repeats`` draws), sorted by sample and depth.
    """
    from skbio.diversity import alpha_diversity

    integers, totals = _integer_counts(counts)
    top = int(totals.max()) if len(totals) else 0
    if max_depth is not None:
        top = min(top, int(max_depth))
    top = max(top, 1)
    depths = np.unique(np.append(np.geomspace(1, top, steps).astype(np.int64), top))
    rows = []
    for depth in depths:
        below = np.flatnonzero(totals > depth)  # a sample's full depth comes below
        if not below.size:
            continue
        # every draw of every sample at this depth, one row each (sample-major)
        draws = np.vstack([subsample(integers[i], int(depth), rng, repeats) for i in below])
        shape = (below.size, repeats)
        observed = alpha_diversity("observed_features", draws).to_numpy().reshape(shape)
        shannon = alpha_diversity("shannon", draws, base=math.e).to_numpy().reshape(shape)
        rows.append(
            pd.DataFrame(
                {
                    "sample_id": counts.index[below],
                    "depth": int(depth),
                    "observed_mean": observed.mean(axis=1),
                    "observed_sd": observed.std(axis=1),
                    "shannon_ln_mean": shannon.mean(axis=1),
                    "shannon_ln_sd": shannon.std(axis=1),
                }
            )
        )
    columns = ["sample_id", "depth", "observed_mean", "observed_sd"]
    columns += ["shannon_ln_mean", "shannon_ln_sd"]
    whole = np.flatnonzero(totals <= top)  # the samples drawn to their own depth
    if whole.size:
        full = alpha_table(counts.iloc[whole].round())
        rows.append(
            pd.DataFrame(
                {
                    "sample_id": full.index,
                    "depth": totals[whole],
                    "observed_mean": full["observed"].to_numpy(),
                    "observed_sd": 0.0,
                    "shannon_ln_mean": full["shannon_ln"].to_numpy(),
                    "shannon_ln_sd": 0.0,
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=columns)
    curves = pd.concat(rows, ignore_index=True)[columns]
    order = {s: i for i, s in enumerate(counts.index)}
    curves["_order"] = curves["sample_id"].map(order)
    curves = curves.sort_values(["_order", "depth"], kind="stable").drop(columns="_order")
    return curves.reset_index(drop=True)
