"""Figures of the reports: matplotlib, drawn to SVG and embedded as ``data:`` URIs.

Colours and style are the package's (:mod:`microbiome.figures`: the Okabe-Ito palette,
distinguishable with every colour vision type); beyond eight taxa the colours repeat with
hatching.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from microbiome.figures import OKABE_ITO, STYLE, pyplot

OTHER = "#BBBBBB"  # the taxa summed as 'Other'
UNCLASSIFIED = "#6E6E6E"  # the reads the classifier left unclassified
PATIENT = OKABE_ITO[5]  # vermillion: the patient
COHORT = OKABE_ITO[4]  # blue: the cohort

#: The package's style, with a sans-serif font stack; text is drawn as outlines (STYLE), so
#: no font is needed where the report is opened.
_STYLE = {
    **STYLE,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
}


def svg_data_uri(svg: bytes) -> str:
    """A ``data:image/svg+xml;base64,...`` URI of an SVG document."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def file_data_uri(path: str | Path) -> str:
    """A data URI of an SVG or PNG file written by another stage."""
    path = Path(path)
    kind = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _finish(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot().close(fig)
    return svg_data_uri(buffer.getvalue())


def _colours(n: int) -> list[tuple[str, str]]:
    """(colour, hatch) of n series."""
    return [(OKABE_ITO[i % 8], "" if i < 8 else ("//" if i < 16 else "..")) for i in range(n)]


def composition(
    proportions: pd.DataFrame,
    labels: Sequence[str],
    title: str,
    ylabel: str = "relative abundance (%)",
) -> str:
    """Stacked bars: one per sample (rows of ``proportions``), taxa as columns ('Other' in
    light grey, 'unclassified' in dark grey)."""
    plt = pyplot()
    with plt.rc_context(_STYLE):
        n = len(proportions)
        fig, ax = plt.subplots(figsize=(max(4.0, min(0.45 * n + 3.2, 10.5)), 3.6))
        bottom = np.zeros(n)
        colours = _colours(proportions.shape[1])
        for (taxon, values), (colour, hatch) in zip(proportions.items(), colours, strict=True):
            if taxon == "Other":
                colour, hatch = OTHER, ""
            elif taxon == "unclassified":
                colour, hatch = UNCLASSIFIED, ""
            ax.bar(
                range(n),
                values.to_numpy() * 100,
                bottom=bottom,
                color=colour,
                hatch=hatch,
                edgecolor="white",
                linewidth=0.4,
                label=taxon,
            )
            bottom += values.to_numpy() * 100
        ax.set_xticks(range(n), labels, rotation=90 if n > 6 else 0, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 100)
        ax.set_title(title, loc="left", fontsize=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=7.5, ncol=1)
        return _finish(fig)


def taxa_against_cohort(table: pd.DataFrame, sample_label: str) -> str:
    """Dot plot of the patient's main taxa against the cohort: ``table`` has rows of taxa and
    columns ``patient``, ``median``, ``q1``, ``q3`` (fractions)."""
    plt = pyplot()
    with plt.rc_context(_STYLE):
        n = len(table)
        fig, ax = plt.subplots(figsize=(6.0, 0.2 * n + 0.75))
        y = np.arange(n)[::-1]
        ax.hlines(
            y,
            table["q1"] * 100,
            table["q3"] * 100,
            color=COHORT,
            alpha=0.35,
            lw=6,
            label="cohort, middle half (25th-75th percentile)",
        )
        ax.scatter(
            table["median"] * 100,
            y,
            marker="|",
            s=120,
            color=COHORT,
            lw=2,
            label="cohort median",
            zorder=3,
        )
        ax.scatter(
            table["patient"] * 100, y, marker="o", s=36, color=PATIENT, label=sample_label, zorder=4
        )
        ax.set_yticks(y, [_italic_safe(t) for t in table.index], fontsize=8)
        ax.set_xlabel("relative abundance (%)")
        ax.set_xlim(left=0)
        ax.grid(axis="x", color="#DDDDDD", lw=0.5)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False, fontsize=7)
        return _finish(fig)


def _italic_safe(text: str) -> str:
    """Matplotlib treats $...$ as mathtext: keep names with dollars literal."""
    return text.replace("$", r"\$")


def cohort_position(rows: list[dict]) -> str:
    """One strip per index: the cohort's values (grey), the reference group's (blue) and the
    patient's (vermillion), each row a dict with ``label``, ``cohort``, ``reference``,
    ``patient`` (list of values) and optional ``note``."""
    plt = pyplot()
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(len(rows), 1, figsize=(6.0, 0.7 * len(rows) + 0.3), squeeze=False)
        rng = np.random.default_rng(0)  # jitter only: the same picture every time
        for ax, row in zip(axes[:, 0], rows, strict=True):
            cohort = np.asarray(row["cohort"], dtype=float)
            reference = np.asarray(row["reference"], dtype=float)
            ax.scatter(
                cohort, rng.uniform(-0.25, 0.25, cohort.size), s=12, color=OTHER, label="cohort"
            )
            ax.scatter(
                reference,
                rng.uniform(-0.25, 0.25, reference.size),
                s=12,
                facecolor="none",
                edgecolor=COHORT,
                label="reference group",
            )
            patient = np.asarray(row["patient"], dtype=float)
            ax.scatter(
                patient,
                np.zeros(patient.size),
                s=70,
                marker="D",
                color=PATIENT,
                zorder=4,
                label="this patient",
            )
            ax.set_yticks([])
            ax.set_ylim(-0.6, 0.6)
            ax.spines["left"].set_visible(False)
            ax.set_title(row["label"], loc="left", fontsize=9)
            if row.get("note"):
                ax.text(
                    1.0,
                    1.02,
                    row["note"],
                    transform=ax.transAxes,
                    ha="right",
                    va="bottom",
                    fontsize=7,
                    color="#444444",
                )
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=7)
        fig.tight_layout(rect=(0, 0.12 / len(rows), 1, 1))
        return _finish(fig)


def index_by_group(values: pd.Series, groups: pd.Series, label: str) -> str:
    """Strip plot of a per-sample index by group (cohort report)."""
    plt = pyplot()
    with plt.rc_context(_STYLE):
        levels = [g for g in pd.unique(groups.dropna())]
        fig, ax = plt.subplots(figsize=(max(3.5, 1.1 * len(levels) + 2), 3.0))
        rng = np.random.default_rng(0)
        for i, level in enumerate(levels):
            v = values[groups == level].dropna().to_numpy()
            ax.scatter(
                i + rng.uniform(-0.15, 0.15, v.size), v, s=18, color=OKABE_ITO[i % 8], zorder=3
            )
            if v.size:
                ax.hlines(np.median(v), i - 0.3, i + 0.3, color="#333333", lw=1.5)
        ax.set_xticks(range(len(levels)), [str(g) for g in levels])
        ax.set_ylabel(label)
        ax.set_xlim(-0.6, len(levels) - 0.4)
        return _finish(fig)
