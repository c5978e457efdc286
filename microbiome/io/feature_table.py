"""Abundance tables of samples x features (taxa), whatever tool wrote them.

One reader, :func:`read_feature_table`, for the tables that stages after profiling start from:

* ``microbiome``: our merged tables (``results/tables/<rank>.counts.tsv`` / ``.relative.tsv``;
  columns ``taxid``, ``name``, ``lineage``, then one per sample);
* ``biom``: BIOM 1.0 (JSON) or 2.1 (HDF5), e.g. ours (``profiles.biom``) or QIIME 2's, with the
  observation metadata ``taxonomy`` as the lineage when there is one;
* ``tsv``: a plain TSV (or CSV) of samples x taxa in either orientation, such as the curated
  cohort tables whose column names are GTDB lineages (``d__Bacteria;p__...;g__Blautia``).

Each becomes a :class:`FeatureTable`: a samples x features frame of non-negative numbers plus a
frame of feature annotations (name, lineage, taxid), which can be collapsed to a rank.

An ``unclassified`` entry (our merged tables' row of taxid 0 named ``unclassified``; in other
tables a feature named ``unclassified``, ``unassigned`` or ``UNCLASSIFIED``) is not a taxon:
the reader sets it apart in :attr:`FeatureTable.unclassified` and leaves it out of the
features, so that statistics (diversity, integration, report indices) are computed on the
classified taxa, unless it is asked to keep it (``keep_unclassified=True``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError
from microbiome.io.tables import table_rows
from microbiome.ranks import CANONICAL_RANKS, PREFIX_RANKS, RANK_PREFIXES

log = logging.getLogger("microbiome")

Orientation = Literal["auto", "samples-as-rows", "samples-as-columns"]
ORIENTATIONS = ("auto", "samples-as-rows", "samples-as-columns")
FORMATS = ("microbiome", "biom", "tsv")

_RANK_LEVEL = re.compile(r"^([a-zA-Z])__(.*)$")

# First header cells that say "the rows are samples" / "the rows are features".
#: First header cells that say "the rows are samples" (lower case).
SAMPLE_HEADERS = {
    "sample",
    "sample_id",
    "#sample_id",
    "sampleid",
    "#sampleid",
    "sample-id",
    "sample_name",
    "id",
}
_FEATURE_HEADERS = {
    "#otu id",
    "otu id",
    "otu",
    "feature",
    "feature_id",
    "feature id",
    "featureid",
    "taxon",
    "taxa",
    "taxonomy",
    "taxid",
    "taxonomy_id",
    "clade_name",
    "#clade_name",
    "lineage",
    "name",
    "species",
    "genus",
}
_MICROBIOME_HEADER = ["taxid", "name", "lineage"]
#: Our relative tables' names: ``<rank>.relative.tsv``, ``<rank>.relative_classified.tsv``.
_RELATIVE_NAME = re.compile(r"\.relative(_classified)?\.")


@dataclass(frozen=True)
class FeatureTable:
    """Samples x features.

    Attributes
    ----------
    data : pandas.DataFrame
        Index: sample IDs (``sample_id``); columns: feature IDs; float64, >= 0.
    features : pandas.DataFrame
        Index: the feature IDs of ``data``; columns ``name``, ``lineage`` (``k__...;...``, or
        ``""`` when unknown) and ``taxid`` (``""`` when unknown).
    path : str
    format : str
        One of :data:`FORMATS`.
    relative : bool
        True when the values are proportions or percentages rather than counts.
    unclassified : pandas.Series or None
        Index: the sample IDs of ``data``; the table's unclassified entry in its units (reads,
        or the share of all reads), set apart from the features. None when the table has none.
    """

    data: pd.DataFrame
    features: pd.DataFrame
    path: str
    format: str
    relative: bool
    unclassified: pd.Series | None = None

    @property
    def samples(self) -> list[str]:
        return self.data.index.tolist()

    def select_samples(self, samples: list[str]) -> FeatureTable:
        """The table restricted to ``samples`` (in that order; each must be in the table)."""
        unclassified = None if self.unclassified is None else self.unclassified.loc[samples]
        return replace(self, data=self.data.loc[samples], unclassified=unclassified)

    def proportions(self) -> pd.DataFrame:
        """Each sample's values divided by its total (rows of an empty sample stay 0)."""
        totals = self.data.sum(axis=1)
        return self.data.div(totals.where(totals > 0, 1.0), axis=0)

    def without_empty_samples(self) -> tuple[FeatureTable, list[str]]:
        """The table without samples whose values are all zero, and the IDs of those."""
        empty = self.data.index[self.data.sum(axis=1) <= 0].tolist()
        if not empty:
            return self, []
        return self.select_samples([s for s in self.samples if s not in set(empty)]), empty

    def at_rank(self, rank: str, *, keep_unresolved: bool = True) -> FeatureTable:
        """Collapse the features to ``rank`` by their lineage, summing the values.

        A feature already at ``rank`` keeps its ID and taxid; features below it are summed
        into one named by the lineage cut at ``rank``. A feature whose lineage stops above
        ``rank`` (``...;f__Lachnospiraceae;g__``) cannot be placed at ``rank``: it is kept as
        ``<name> (unresolved <rank>)``, one per distinct lineage, or, with
        ``keep_unresolved=False``, left out with a warning giving the share of the total it
        held.

        Raises
        ------
        ConfigError
            For a rank that is not canonical.
        InputError
            When no feature has a lineage that reaches ``rank``.
        """
        if rank not in CANONICAL_RANKS:
            raise ConfigError(f"rank {rank!r} is not one of {', '.join(CANONICAL_RANKS)}")
        levels = [_parse_lineage(lin) for lin in self.features["lineage"]]
        if not any(p.get(rank) for p in levels):
            deepest = {max(p, key=CANONICAL_RANKS.index) for p in levels if p}
            present = ", ".join(sorted(deepest, key=CANONICAL_RANKS.index)) or "none: no lineages"
            raise InputError(
                f"no feature of the table has a lineage down to {rank!r} (deepest ranks "
                f"present: {present})",
                file=self.path,
            )
        targets: list[str | None] = []
        names: dict[str, str] = {}
        lineages: dict[str, str] = {}
        taxids: dict[str, str] = {}
        for feature, parsed in zip(self.features.index, levels, strict=True):
            deepest = max(parsed, key=CANONICAL_RANKS.index) if parsed else None
            if parsed.get(rank):
                cut = _lineage_to(parsed, rank)
                key = feature if deepest == rank else cut
                name = parsed[rank]
                taxid = self.features.at[feature, "taxid"] if deepest == rank else ""
            elif keep_unresolved:
                cut = _lineage_to(parsed, deepest) if deepest else ""
                name = f"{parsed[deepest] if deepest else feature} (unresolved {rank})"
                key, taxid = (cut or feature) + f";unresolved {rank}", ""
            else:
                targets.append(None)
                continue
            if key in names and lineages[key] != cut:
                key = cut  # a feature ID that is also the lineage of a collapsed group
            targets.append(key)
            names[key], lineages[key] = name, cut
            taxids.setdefault(key, taxid)
        keep = np.array([t is not None for t in targets])
        if not keep.all():
            total = float(self.data.to_numpy().sum())
            share = float(self.data.loc[:, ~keep].to_numpy().sum()) / total if total else 0.0
            log.warning(
                "%s: %d features stop above rank %s and are left out (%.2f%% of the total)",
                self.path,
                int((~keep).sum()),
                rank,
                100 * share,
            )
        groups = np.asarray([t for t in targets if t is not None])
        data = self.data.loc[:, keep].T.groupby(groups, sort=False).sum().T
        data.index.name = "sample_id"
        data.columns.name = None
        features = pd.DataFrame(
            {
                "name": [names[k] for k in data.columns],
                "lineage": [lineages[k] for k in data.columns],
                "taxid": [taxids[k] for k in data.columns],
            },
            index=pd.Index(data.columns, name="feature_id"),
        )
        return replace(self, data=data.astype(np.float64), features=features)


def read_feature_table(
    path: str | os.PathLike,
    *,
    orientation: Orientation = "auto",
    format: str | None = None,
    sample_ids: set[str] | None = None,
    keep_unclassified: bool = False,
) -> FeatureTable:
    """Read an abundance table (see the module's docstring for the formats).

    Parameters
    ----------
    orientation
        For plain TSVs: whether samples are the rows or the columns. ``auto`` decides from
        the first header cell (``sample_id``, ``#OTU ID``, ...), then from which axis holds
        lineages, then from which axis holds more of ``sample_ids`` (e.g. the metadata's IDs).
    format
        One of :data:`FORMATS`; detected when None.
    sample_ids
        Known sample IDs, only used to decide the orientation of an ambiguous TSV.
    keep_unclassified
        Keep the unclassified entry as a feature too (it is always in ``unclassified``).

    Raises
    ------
    InputError
        Naming the file (and line or column) for a missing or unreadable file, non-numeric,
        missing or negative values, duplicated sample or feature IDs, an empty table, or an
        orientation that cannot be decided.
    """
    path = os.fspath(path)
    if orientation not in ORIENTATIONS:
        raise ConfigError(f"orientation {orientation!r} is not one of {', '.join(ORIENTATIONS)}")
    if format is not None and format not in FORMATS:
        raise ConfigError(f"table format {format!r} is not one of {', '.join(FORMATS)}")
    if not os.path.isfile(path):
        raise InputError("abundance table not found", file=path)
    fmt = format or _detect_format(path)
    if fmt == "biom":
        table = _read_biom(path)
    else:
        rows = _read_rows(path)
        if fmt is None:
            fmt = "microbiome" if rows[0][1][:3] == _MICROBIOME_HEADER else "tsv"
        if fmt == "microbiome":
            table = _from_microbiome(path, rows)
        else:
            table = _from_plain(path, rows, orientation, sample_ids)
    return _set_apart_unclassified(table, keep=keep_unclassified)


#: Feature names (lower case) of an unclassified entry in other tools' tables.
UNCLASSIFIED_NAMES = {"unclassified", "unassigned"}


def _is_unclassified(feature: str, name: str, taxid: str, fmt: str) -> bool:
    if fmt == "microbiome":
        return taxid == "0" and name == "unclassified"
    return feature.strip().lower() in UNCLASSIFIED_NAMES or (
        feature == "0" and name.strip().lower() in UNCLASSIFIED_NAMES
    )


def _set_apart_unclassified(table: FeatureTable, *, keep: bool) -> FeatureTable:
    """``table`` with its unclassified entry in ``unclassified`` (and out of the features
    unless ``keep``)."""
    found = [
        feature
        for feature, name, taxid in zip(
            table.features.index,
            table.features["name"].astype(str),
            table.features["taxid"].astype(str),
            strict=True,
        )
        if _is_unclassified(str(feature), name, taxid, table.format)
    ]
    if not found:
        return table
    if len(found) > 1:
        raise InputError(
            f"{len(found)} unclassified entries ({', '.join(map(str, found))}): expected one",
            file=table.path,
        )
    unclassified = table.data[found[0]].rename("unclassified")
    if keep:
        return replace(table, unclassified=unclassified)
    return replace(
        table,
        data=table.data.drop(columns=found),
        features=table.features.drop(index=found),
        unclassified=unclassified,
    )


def _detect_format(path: str) -> str | None:
    """'biom' for an HDF5 or JSON BIOM file; None for a text table (told by its header)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF"):
        return "biom"
    if head.lstrip().startswith(b"{"):
        return "biom"
    return None


def _read_rows(path: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the header and of each row (see
    :func:`microbiome.io.tables.table_rows`: ``# `` comments, not ``#OTU ID`` or ``#SampleID``,
    blank lines and all-empty rows are skipped)."""
    rows = table_rows(path, what="table")
    if len(rows) < 2:
        raise InputError("the table has a header but no rows", file=path)
    return rows


def _numbers(path: str, rows: list[tuple[int, list[str]]], first: int, header: list[str]):
    """The numeric block of ``rows`` (after the header) from column ``first`` on."""
    values = np.empty((len(rows), len(header) - first), dtype=np.float64)
    for i, (number, cells) in enumerate(rows):
        try:
            values[i] = np.asarray(cells[first:], dtype=np.float64)
        except ValueError:
            for j, cell in enumerate(cells[first:]):
                try:
                    float(cell)
                except ValueError:
                    text = cell.strip()
                    what = "missing value" if text in ("", "NA") else f"{text!r} is not a number"
                    raise InputError(
                        what, file=path, line=number, column=header[first + j]
                    ) from None
        bad = ~np.isfinite(values[i]) | (values[i] < 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            text = cells[first + j].strip()
            what = "a negative abundance" if values[i, j] < 0 else "not a finite number"
            raise InputError(
                f"{text!r} is {what}", file=path, line=number, column=header[first + j]
            )
    return values


def _unique(path: str, ids: list[str], what: str, lines: list[int] | None = None) -> None:
    seen: dict[str, int] = {}
    for k, ident in enumerate(ids):
        if not ident:
            raise InputError(f"empty {what} ID", file=path, line=lines[k] if lines else None)
        if ident in seen:
            where = f" (also at position {seen[ident] + 1})"
            raise InputError(
                f"duplicated {what} ID {ident!r}{where}",
                file=path,
                line=lines[k] if lines else None,
            )
        seen[ident] = k


def _from_microbiome(path: str, rows: list[tuple[int, list[str]]]) -> FeatureTable:
    header = rows[0][1]
    body = rows[1:]
    samples = header[3:]
    _unique(path, samples, "sample")
    taxids = [cells[0] for _, cells in body]
    _unique(path, taxids, "taxon", [n for n, _ in body])
    values = _numbers(path, body, 3, header)
    data = pd.DataFrame(values.T, index=pd.Index(samples, name="sample_id"), columns=taxids)
    features = pd.DataFrame(
        {
            "name": [cells[1] for _, cells in body],
            "lineage": [cells[2] for _, cells in body],
            "taxid": taxids,
        },
        index=pd.Index(taxids, name="feature_id"),
    )
    relative = bool(_RELATIVE_NAME.search(os.path.basename(path))) or _looks_relative(values.T)
    return FeatureTable(data, features, path, "microbiome", relative)


def _from_plain(
    path: str,
    rows: list[tuple[int, list[str]]],
    orientation: Orientation,
    sample_ids: set[str] | None,
) -> FeatureTable:
    header = rows[0][1]
    body = rows[1:]
    row_ids = [cells[0].strip() for _, cells in body]
    column_ids = [c.strip() for c in header[1:]]
    if orientation == "auto":
        orientation = _orientation(path, header[0], row_ids, column_ids, sample_ids)
    _unique(
        path,
        row_ids,
        "sample" if orientation == "samples-as-rows" else "feature",
        [n for n, _ in body],
    )
    _unique(path, column_ids, "feature" if orientation == "samples-as-rows" else "sample")
    values = _numbers(path, body, 1, header)
    if orientation == "samples-as-rows":
        samples, feature_ids = row_ids, column_ids
    else:
        samples, feature_ids, values = column_ids, row_ids, values.T
    data = pd.DataFrame(values, index=pd.Index(samples, name="sample_id"), columns=feature_ids)
    lineages = [_as_lineage(f) for f in feature_ids]
    features = pd.DataFrame(
        {
            "name": [_name_of(f, lin) for f, lin in zip(feature_ids, lineages, strict=True)],
            "lineage": lineages,
            "taxid": [f if f.isdigit() else "" for f in feature_ids],
        },
        index=pd.Index(feature_ids, name="feature_id"),
    )
    return FeatureTable(data, features, path, "tsv", _looks_relative(values))


def _orientation(
    path: str,
    corner: str,
    row_ids: list[str],
    column_ids: list[str],
    sample_ids: set[str] | None,
) -> Orientation:
    corner = corner.strip().lower()
    heuristic: Orientation | None = None
    reason = ""
    if corner in SAMPLE_HEADERS:
        heuristic, reason = "samples-as-rows", f"the first header cell {corner!r}"
    elif corner in _FEATURE_HEADERS:
        heuristic, reason = "samples-as-columns", f"the first header cell {corner!r}"
    else:

        def lineage_share(ids: list[str]) -> float:
            return sum(bool(_as_lineage(i)) for i in ids) / len(ids) if ids else 0.0

        rows_lin, cols_lin = lineage_share(row_ids), lineage_share(column_ids)
        if cols_lin > 0.5 and rows_lin < 0.5:
            heuristic, reason = "samples-as-rows", "lineages in the header"
        elif rows_lin > 0.5 and cols_lin < 0.5:
            heuristic, reason = "samples-as-columns", "lineages in the first column"
    decided = reconcile_orientation(path, heuristic, reason, row_ids, column_ids, sample_ids)
    if decided is not None:
        return decided
    raise InputError(
        f"cannot tell whether samples are rows or columns (first header cell {corner!r}); "
        "name the first column sample_id (samples as rows) or #OTU ID (taxa as rows), or give "
        "the orientation (--orientation samples-as-rows|samples-as-columns)",
        file=path,
        line=1,
    )


def reconcile_orientation(
    path: str,
    heuristic: Orientation | None,
    reason: str,
    row_ids: list[str],
    column_ids: list[str],
    sample_ids: Collection[str] | None,
) -> Orientation | None:
    """The orientation of a table from its header heuristics and the known sample IDs.

    Sample-ID evidence wins: when the known IDs match the IDs of one axis only (at least half
    of them), that axis holds the samples, whatever the header suggests. Weaker ID evidence that
    contradicts the heuristics is an InputError suggesting ``--orientation``; with no heuristic,
    the axis with more known IDs wins. None when neither decides.

    Parameters
    ----------
    path
        The table, for error messages.
    heuristic, reason
        What the header suggests (None: nothing) and why (e.g. "the first header cell 'id'").
    row_ids, column_ids
        The first column's IDs and the header's IDs (without the corner cell).
    sample_ids
        Known sample IDs (e.g. the clinical sheet's), or None.
    """
    by_ids: Orientation | None = None
    decisive = False
    in_rows = in_cols = 0
    if sample_ids:
        known = set(sample_ids)
        in_rows = sum(i in known for i in row_ids)
        in_cols = sum(i in known for i in column_ids)
        if in_rows != in_cols:
            by_ids = "samples-as-rows" if in_rows > in_cols else "samples-as-columns"
            axis = row_ids if in_rows > in_cols else column_ids
            decisive = min(in_rows, in_cols) == 0 and 2 * max(in_rows, in_cols) >= len(axis)
    if heuristic is None or by_ids is None or by_ids == heuristic:
        return heuristic or by_ids
    if decisive:
        log.info(
            "%s: %d of the known sample IDs are the table's %s: reading samples as %s, "
            "although %s suggests otherwise",
            path,
            max(in_rows, in_cols),
            "row IDs" if by_ids == "samples-as-rows" else "column headers",
            "rows" if by_ids == "samples-as-rows" else "columns",
            reason,
        )
        return by_ids
    raise InputError(
        f"{reason} says samples are {heuristic.removeprefix('samples-as-')}, but more known "
        f"sample IDs are in the {'first column' if by_ids == 'samples-as-rows' else 'header'} "
        f"({in_rows} in the first column, {in_cols} in the header); give the orientation "
        "(--orientation samples-as-rows|samples-as-columns)",
        file=path,
        line=1,
    )


def _looks_relative(values: np.ndarray) -> bool:
    """Samples x features: every non-empty sample sums to 1 or to 100 and some value is not
    a whole number."""
    if values.size == 0 or np.all(values == np.round(values)):
        return False
    totals = values.sum(axis=1)
    totals = totals[totals > 0]
    return bool(
        totals.size
        and (np.allclose(totals, 1.0, atol=1e-3) or np.allclose(totals, 100.0, atol=0.1))
    )


def _parse_lineage(lineage: str) -> dict[str, str]:
    """``k__A;p__B;...`` -> {rank: name}, empty levels (``g__``) left out."""
    out: dict[str, str] = {}
    if not lineage:
        return out
    for level in re.split(r"[;|]", lineage):
        match = _RANK_LEVEL.match(level.strip())
        if match:
            rank = PREFIX_RANKS.get(match.group(1).lower())
            name = match.group(2).strip()
            if rank and name:
                out[rank] = name
    return out


def _lineage_to(parsed: dict[str, str], rank: str) -> str:
    """The lineage of ``parsed`` down to ``rank`` in our ``k__...;p__...`` form."""
    stop = CANONICAL_RANKS.index(rank)
    return ";".join(
        f"{RANK_PREFIXES[r]}{parsed[r]}" for r in CANONICAL_RANKS[: stop + 1] if parsed.get(r)
    )


def _as_lineage(identifier: str) -> str:
    """``identifier`` as our lineage when it is one (GTDB, NCBI or MetaPhlAn style), else ''."""
    parsed = _parse_lineage(identifier)
    if not parsed:
        return ""
    return _lineage_to(parsed, max(parsed, key=CANONICAL_RANKS.index))


def _name_of(identifier: str, lineage: str) -> str:
    parsed = _parse_lineage(lineage)
    return parsed[max(parsed, key=CANONICAL_RANKS.index)] if parsed else identifier


def _read_biom(path: str) -> FeatureTable:
    try:
        from biom import load_table

        table = load_table(path)
    except Exception as exc:  # biom raises many types for a malformed file
        raise InputError(f"cannot read the BIOM table: {exc}", file=path) from None
    samples = [str(s) for s in table.ids(axis="sample")]
    feature_ids = [str(o) for o in table.ids(axis="observation")]
    _unique(path, samples, "sample")
    _unique(path, feature_ids, "feature")
    values = np.asarray(table.matrix_data.toarray(), dtype=np.float64).T
    if values.size and (not np.all(np.isfinite(values)) or values.min() < 0):
        bad = np.argwhere(~np.isfinite(values) | (values < 0))[0]
        raise InputError(
            f"value {values[tuple(bad)]} is not a non-negative number",
            file=path,
            sample=samples[bad[0]],
            column=feature_ids[bad[1]],
        )
    metadata = table.metadata(axis="observation") or [None] * len(feature_ids)
    names, lineages = [], []
    for feature, meta in zip(feature_ids, metadata, strict=True):
        taxonomy = (meta or {}).get("taxonomy")
        text = ";".join(taxonomy) if isinstance(taxonomy, list | tuple) else str(taxonomy or "")
        lineage = _as_lineage(text)
        lineages.append(lineage)
        names.append(str((meta or {}).get("name") or _name_of(feature, lineage)))
    data = pd.DataFrame(values, index=pd.Index(samples, name="sample_id"), columns=feature_ids)
    features = pd.DataFrame(
        {
            "name": names,
            "lineage": lineages,
            "taxid": [f if f.isdigit() else "" for f in feature_ids],
        },
        index=pd.Index(feature_ids, name="feature_id"),
    )
    return FeatureTable(data, features, path, "biom", _looks_relative(values))
