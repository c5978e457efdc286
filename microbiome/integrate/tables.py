"""Reading metabolite tables (samples x metabolites) and their annotation.

Metabolite values are concentrations or intensities, or already log-transformed values (then
negative values are expected), so this reader accepts negative numbers and missing values
(``NA``, empty) that a taxa table must not have.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError
from microbiome.io.feature_table import ORIENTATIONS, SAMPLE_HEADERS, reconcile_orientation
from microbiome.io.tables import table_rows

_MISSING = ["", "NA", "NaN", "nan", "N/A", "NULL", "null", "-"]


@dataclass(frozen=True)
class MetaboliteTable:
    """A metabolite table.

    Attributes
    ----------
    data : pandas.DataFrame
        Samples (index ``sample_id``, str) x metabolites (str columns), float64, NaN missing.
    annotation : pandas.DataFrame
        Index: the metabolites of ``data``; columns of the annotation table (empty without one).
    path : str
    """

    data: pd.DataFrame
    annotation: pd.DataFrame
    path: str


def _read_delimited(path: str) -> pd.DataFrame:
    """The table's cells as text, the header as column names (a repeated name kept as it is);
    a row shorter than the header is padded with missing values."""
    (_, header), *rows = table_rows(path, what="file", same_width=False)
    width = len(header)
    body = []
    for number, cells in rows:
        if len(cells) > width:
            raise InputError(
                f"{len(cells)} columns where the header has {width}", file=path, line=number
            )
        body.append(cells + [""] * (width - len(cells)))
    table = pd.DataFrame(body, columns=range(width), dtype=str)
    table.columns = [c.strip() for c in header]
    return table


def detect_orientation(
    table: pd.DataFrame, sample_ids: Collection[str] | None = None, *, path: str = ""
) -> str:
    """``samples-as-rows`` or ``samples-as-columns`` for a table read with its first column as
    the IDs: by the first header (``sample_id``, ``Sample``, ...) and which of the first column
    and the header matches more of ``sample_ids``, as
    :func:`~microbiome.io.feature_table.reconcile_orientation` weighs them; else rows."""
    first = str(table.columns[0]).strip().lower()
    heuristic = "samples-as-rows" if first in SAMPLE_HEADERS else None
    decided = reconcile_orientation(
        path,
        heuristic,
        f"the first header cell {first!r}",
        [str(v).strip() for v in table.iloc[:, 0]],
        [str(c).strip() for c in table.columns[1:]],
        sample_ids,
    )
    return decided or "samples-as-rows"


def read_metabolite_table(
    path: str | os.PathLike,
    *,
    orientation: str = "auto",
    annotation: str | os.PathLike | None = None,
    sample_ids: Collection[str] | None = None,
) -> MetaboliteTable:
    """Read a metabolite table (TSV, or CSV by its ``.csv`` name; gzip read transparently).

    Parameters
    ----------
    path : str or os.PathLike
        First column: the IDs (samples or metabolites, per ``orientation``); header: the others.
    orientation : {'auto', 'samples-as-rows', 'samples-as-columns'}
        ``auto``: see :func:`detect_orientation`.
    annotation : str or os.PathLike, optional
        A table whose first column is the metabolite name (HMDB, KEGG, class, ... columns).
        Metabolites of the table without an annotation row get empty values.
    sample_ids : collection of str, optional
        Known sample IDs (of the clinical sheet), to detect the orientation.

    Raises
    ------
    InputError
        Non-numeric values (naming the sample and metabolite), duplicated sample or metabolite
        IDs, an empty table, an annotation that names a metabolite twice.
    ConfigError
        An unknown orientation.
    """
    path = os.fspath(path)
    if orientation not in ORIENTATIONS:
        raise ConfigError(
            f"metabolite table orientation {orientation!r} is not one of {', '.join(ORIENTATIONS)}"
        )
    raw = _read_delimited(path)
    if raw.shape[1] < 2 or raw.shape[0] < 1:
        raise InputError(
            "the metabolite table needs an ID column and at least one value", file=path
        )
    if orientation == "auto":
        orientation = detect_orientation(raw, sample_ids, path=path)
    raw = raw.set_index(raw.columns[0])
    raw.index = raw.index.astype(str).str.strip()
    raw.columns = [str(c).strip() for c in raw.columns]
    if orientation == "samples-as-columns":
        raw = raw.T
    raw.index.name = "sample_id"
    for axis, what in ((raw.index, "sample"), (raw.columns, "metabolite")):
        duplicated = axis[axis.duplicated()].unique().tolist()
        if duplicated:
            raise InputError(f"{what} ID {duplicated[0]!r} appears more than once", file=path)
        if (axis == "").any():
            raise InputError(f"a {what} ID is empty", file=path)
    stripped = raw.apply(lambda col: col.str.strip())
    values = stripped.mask(stripped.isin(_MISSING)).apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & stripped.notna() & ~stripped.isin(_MISSING)
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(
            f"metabolite {raw.columns[col]!r}: value {stripped.iat[row, col]!r} is not a number",
            file=path,
            sample=str(raw.index[row]),
        )
    values = values.astype("float64")
    if not np.isfinite(values.fillna(0).to_numpy()).all():
        raise InputError("the metabolite table has infinite values", file=path)
    return MetaboliteTable(values, _read_annotation(annotation, values.columns), path)


def _read_annotation(path: str | os.PathLike | None, metabolites: pd.Index) -> pd.DataFrame:
    if path is None or os.fspath(path) == "":
        return pd.DataFrame(index=pd.Index(metabolites, name="metabolite"))
    path = os.fspath(path)
    table = _read_delimited(path)
    key = table.columns[0]
    table[key] = table[key].str.strip()
    duplicated = table[key][table[key].duplicated()].unique().tolist()
    if duplicated:
        raise InputError(f"metabolite {duplicated[0]!r} is annotated twice", file=path)
    table = table.set_index(key).rename_axis("metabolite")
    return table.reindex(metabolites).fillna("")
