"""Numbers as the reports show them: a dash for missing, percentages, ordinals."""

from __future__ import annotations

import numpy as np
import pandas as pd


def fmt(value, digits: int = 2) -> str:
    """A number with ``digits`` decimals (integers with thousands separators), '–' if missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def pct(fraction) -> str:
    """A fraction as a percentage ('2.5 %', '0.041 %'), '–' if missing."""
    if fraction is None or pd.isna(fraction):
        return "–"
    value = 100 * float(fraction)
    if value == 0:
        return "0 %"
    return f"{value:.2g} %" if value < 1 else f"{value:.1f} %"


def ordinal(p: float) -> str:
    """A percentile as '1st', '22nd', '83rd', '–' if missing."""
    if pd.isna(p):
        return "–"
    n = int(round(p))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def records(table: pd.DataFrame, columns: list[str] | None = None, digits: int = 3) -> list:
    """Rows of a table as lists of display strings."""
    table = table if columns is None else table[columns]
    rows = []
    for _, row in table.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append(sci(value, digits))
            elif value is None or value is pd.NA:
                cells.append("–")
            else:
                cells.append(str(value))
        rows.append(cells)
    return rows


def sci(value: float, digits: int = 3) -> str:
    """A table value: ``digits`` decimals, scientific notation when tiny, '–' if missing."""
    if pd.isna(value):
        return "–"
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.{digits - 1}e}"
    return (
        f"{value:.{digits}g}"
        if abs(value) >= 1000
        else f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"
    )
