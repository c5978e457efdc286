"""The figures of ``microbiome diversity``: matplotlib (Agg), SVG and PNG, reproducible.

Colours: Okabe & Ito's colour-blind-safe palette for groups, viridis for continuous values,
grey for missing values. SVG ids are salted with a fixed string and no file carries a date, so
the same data give the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from microbiome.figures import MISSING_COLOUR, OKABE_ITO, STYLE, pyplot, save


def _levels(values: pd.Series) -> list[str]:
    """The levels present, in the declared order of a categorical, else sorted."""
    present = set(values.dropna().astype(str))
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(c) for c in values.cat.categories if str(c) in present]
    return sorted(present)


def _level_colours(levels) -> dict:
    return {level: OKABE_ITO[i % len(OKABE_ITO)] for i, level in enumerate(levels)}


def pcoa_figure(
    coordinates: pd.DataFrame,
    variance: pd.DataFrame,
    variable: pd.Series,
    variable_type: str,
    *,
    metric: str,
    note: str = "",
    stem: str | os.PathLike,
) -> list[Path]:
    """PC1 x PC2 of ``coordinates`` coloured by ``variable`` (NaN: grey, "NA")."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        x = coordinates["PC1"]
        y = coordinates["PC2"] if "PC2" in coordinates else pd.Series(0.0, index=x.index)
        values = variable.reindex(coordinates.index)
        missing = values.isna()
        if missing.any():
            ax.scatter(
                x[missing], y[missing], c=MISSING_COLOUR, s=22, label="NA", edgecolors="none"
            )
        if variable_type in ("continuous", "date") and not missing.all():
            numeric = pd.to_numeric(values[~missing], errors="coerce")
            points = ax.scatter(
                x[~missing], y[~missing], c=numeric, cmap="viridis", s=22, edgecolors="none"
            )
            fig.colorbar(points, ax=ax, label=variable.name)
        else:
            colours = _level_colours(_levels(values[~missing]))
            for level, colour in colours.items():
                at = ~missing & (values.astype(str) == level)
                ax.scatter(x[at], y[at], c=colour, s=22, label=level, edgecolors="none")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(title=variable.name, frameon=False, fontsize=8, loc="best")
        percent = variance.set_index("axis")["proportion_explained"] * 100
        ax.set_xlabel(f"PC1 ({percent.get('PC1', np.nan):.1f} %)")
        ax.set_ylabel(f"PC2 ({percent.get('PC2', np.nan):.1f} %)")
        ax.set_title(f"PCoA, {metric}" + (f"\n{note}" if note else ""), fontsize=9)
        return save(fig, stem)


def alpha_figure(
    alpha: pd.Series,
    variable: pd.Series,
    variable_type: str,
    *,
    label: str,
    note: str = "",
    stem: str | os.PathLike,
) -> list[Path]:
    """``alpha`` by the groups of ``variable`` (box and points) or against it (scatter)."""
    plt = pyplot()
    values = variable.reindex(alpha.index)
    present = values.notna() & alpha.notna()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        if variable_type in ("continuous", "date"):
            ax.scatter(
                pd.to_numeric(values[present], errors="coerce"),
                alpha[present],
                c=OKABE_ITO[4],
                s=22,
                edgecolors="none",
            )
            ax.set_xlabel(str(variable.name))
        else:
            levels = _levels(values[present])
            groups = [alpha[present & (values.astype(str) == lv)].to_numpy() for lv in levels]
            if groups:
                ax.boxplot(groups, showfliers=False, widths=0.5, medianprops={"color": "black"})
            jitter = np.random.default_rng(0)
            for i, (level, data) in enumerate(zip(levels, groups, strict=True), 1):
                colour = _level_colours(levels)[level]
                xs = i + jitter.uniform(-0.12, 0.12, size=len(data))
                ax.scatter(xs, data, c=colour, s=18, edgecolors="none", zorder=3)
            ax.set_xticks(
                range(1, len(levels) + 1),
                [f"{lv}\n(n={len(g)})" for lv, g in zip(levels, groups, strict=True)],
            )
            ax.set_xlabel(str(variable.name))
        ax.set_ylabel(label)
        ax.set_title(f"{label} by {variable.name}" + (f"\n{note}" if note else ""), fontsize=9)
        return save(fig, stem)


def rarefaction_figure(
    curves: pd.DataFrame, *, depth: int = 0, note: str = "", stem: str | os.PathLike
) -> list[Path]:
    """Observed taxa against subsampling depth, one line per sample (mean over repeats)."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        for i, (sample, rows) in enumerate(curves.groupby("sample_id", sort=True)):
            ax.plot(
                rows["depth"],
                rows["observed_mean"],
                color=OKABE_ITO[i % len(OKABE_ITO)],
                linewidth=1,
                alpha=0.8,
                label=sample,
            )
        if depth:
            ax.axvline(depth, color="black", linestyle="--", linewidth=0.8)
        if 0 < curves["sample_id"].nunique() <= 12:
            ax.legend(frameon=False, fontsize=7)
        if curves.empty:
            ax.text(0.5, 0.5, note or "no curves", ha="center", va="center", transform=ax.transAxes)
        if not curves.empty:
            ax.set_xscale("log")
        ax.set_xlabel("counts subsampled (depth)")
        ax.set_ylabel("observed taxa")
        ax.set_title(
            "Rarefaction curves" + (f" (--- rarefaction depth {depth})" if depth else ""),
            fontsize=9,
        )
        return save(fig, stem)
