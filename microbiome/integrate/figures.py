"""Figures of ``microbiome integrate``: volcano, association heatmap, correlation heatmap, ROC.

Each figure is written as SVG and PNG, atomically and reproducibly (no dates, fixed IDs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microbiome.figures import pyplot


def _short(name: str, width: int = 40) -> str:
    name = str(name).rsplit(";", 1)[-1]
    return name if len(name) <= width else name[: width - 1] + "…"


def _empty(message: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def volcano(associations: pd.DataFrame, q_threshold: float):
    """Coefficient against -log10 p, one point per test; q < threshold coloured, the strongest
    few labelled."""
    data = associations.dropna(subset=["coefficient", "p_value"])
    if data.empty:
        return _empty("no association was fitted")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    y = -np.log10(data["p_value"].clip(lower=1e-300))
    hit = data["q_value"] < q_threshold
    for ftype, marker in (("taxon", "o"), ("metabolite", "^")):
        sel = data["feature_type"] == ftype
        ax.scatter(
            data.loc[sel & ~hit, "coefficient"],
            y[sel & ~hit],
            s=10,
            c="0.7",
            marker=marker,
            label=f"{ftype} (q ≥ {q_threshold:g})",
        )
        ax.scatter(
            data.loc[sel & hit, "coefficient"],
            y[sel & hit],
            s=14,
            c="tab:red",
            marker=marker,
            label=f"{ftype} (q < {q_threshold:g})",
        )
    for idx in data.nsmallest(8, "p_value").index:
        ax.annotate(
            _short(data.at[idx, "feature"], 25),
            (data.at[idx, "coefficient"], y[idx]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.axvline(0, color="0.5", lw=0.5)
    ax.set_xlabel("coefficient (CLR or log units per level or unit)")
    ax.set_ylabel("-log10 p")
    ax.legend(fontsize=7, frameon=False)
    return fig


def _clustered_order(matrix: np.ndarray, axis: int) -> np.ndarray:
    from scipy.cluster.hierarchy import leaves_list, linkage

    data = matrix if axis == 0 else matrix.T
    if data.shape[0] < 3:
        return np.arange(data.shape[0])
    return leaves_list(linkage(np.nan_to_num(data), method="average", metric="euclidean"))


def _heatmap(matrix: pd.DataFrame, label: str, stars: pd.DataFrame | None, limit: float | None):
    plt = pyplot()
    rows = _clustered_order(matrix.to_numpy(), 0)
    cols = _clustered_order(matrix.to_numpy(), 1)
    matrix = matrix.iloc[rows, cols]
    vmax = limit or float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
    fig, ax = plt.subplots(figsize=(2.5 + 0.3 * matrix.shape[1], 1.5 + 0.22 * matrix.shape[0]))
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(
        range(matrix.shape[1]), [_short(c, 30) for c in matrix.columns], rotation=90, fontsize=6
    )
    ax.set_yticks(range(matrix.shape[0]), [_short(r, 40) for r in matrix.index], fontsize=6)
    if stars is not None:
        stars = stars.loc[matrix.index, matrix.columns]
        for i, j in zip(*np.nonzero(stars.to_numpy()), strict=True):
            ax.text(j, i, "*", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label=label, shrink=0.6)
    return fig


def association_heatmap(associations: pd.DataFrame, q_threshold: float, top: int):
    """Coefficients of the ``top`` features with the smallest q-values, by variable level;
    * marks q < threshold. Rows and columns ordered by hierarchical clustering."""
    data = associations.dropna(subset=["coefficient"])
    if data.empty:
        return _empty("no association was fitted")
    data = data.assign(
        term=data["variable"] + np.where(data["level"] != "", ": " + data["level"], "")
    )
    best = data.groupby("feature")["p_value"].min().nsmallest(top).index
    data = data[data["feature"].isin(best)]
    coef = data.pivot_table(index="feature", columns="term", values="coefficient", aggfunc="first")
    hits = data.assign(hit=data["q_value"] < q_threshold).pivot_table(
        index="feature", columns="term", values="hit", aggfunc="first"
    )
    return _heatmap(coef, "coefficient", hits.fillna(False).astype(bool), None)


def correlation_heatmap(correlations: pd.DataFrame, q_threshold: float, top: int):
    """Spearman rho of the taxa and metabolites in the ``top`` strongest pairs (smallest
    q-value); * marks q < threshold; clustered rows and columns."""
    data = correlations.dropna(subset=["rho"])
    if data.empty:
        return _empty("no correlation was computed")
    strongest = data.head(top)
    taxa = strongest["taxon"].unique()
    mtb = strongest["metabolite"].unique()
    sub = data[data["taxon"].isin(taxa) & data["metabolite"].isin(mtb)]
    rho = sub.pivot_table(index="taxon", columns="metabolite", values="rho", aggfunc="first")
    hits = sub.assign(hit=sub["q_value"] < q_threshold).pivot_table(
        index="taxon", columns="metabolite", values="hit", aggfunc="first"
    )
    return _heatmap(rho.fillna(0.0), "Spearman rho", hits.fillna(False).astype(bool), 1.0)


def roc(predictions: pd.DataFrame, performance: pd.DataFrame):
    """ROC curves of the repeat-averaged out-of-fold probabilities, one panel per feature set."""
    from sklearn.metrics import roc_curve

    if predictions.empty:
        return _empty("no biomarker model was evaluated")
    plt = pyplot()
    sets = list(dict.fromkeys(predictions["feature_set"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 4), squeeze=False)
    for ax, feature_set in zip(axes[0], sets, strict=True):
        for model, part in predictions[predictions["feature_set"] == feature_set].groupby(
            "model", sort=False
        ):
            fpr, tpr, _ = roc_curve(part["outcome"], part["probability"])
            row = performance[
                (performance["feature_set"] == feature_set) & (performance["model"] == model)
            ].iloc[0]
            ax.plot(
                fpr,
                tpr,
                label=f"{model}: AUROC {row['auroc_mean']:.2f} "
                f"[{row['auroc_ci_low']:.2f}, {row['auroc_ci_high']:.2f}]",
            )
        ax.plot([0, 1], [0, 1], ls="--", c="0.6", lw=0.8)
        ax.set_title(feature_set)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7, loc="lower right", frameon=False)
    return fig
