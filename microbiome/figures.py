"""What every figure of the package shares: matplotlib without a display, the colour-blind-safe
palette, one style, and reproducible SVG and PNG files.

SVG element IDs are salted with a fixed string and no file carries a date, so the same data give
the same bytes (the workflow's resume tests compare every output).
"""

from __future__ import annotations

import os
from pathlib import Path

from microbiome.io.atomic import atomic_path

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every colour vision type.
OKABE_ITO = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)
#: Missing values.
MISSING_COLOUR = "#BBBBBB"
#: The package's matplotlib style (use with ``pyplot().rc_context(STYLE)``).
STYLE = {
    "svg.hashsalt": "microbiome",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.svg`` and ``stem.png`` (150 dpi) atomically, without dates; close ``fig``."""
    plt = pyplot()
    written = []
    with plt.rc_context({"svg.hashsalt": STYLE["svg.hashsalt"]}):
        for ext, metadata in (("svg", {"Date": None}), ("png", {"Software": None})):
            path = Path(f"{os.fspath(stem)}.{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=150, metadata=metadata, bbox_inches="tight")
            written.append(path)
    plt.close(fig)
    return written
