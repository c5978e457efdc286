"""The clinical metadata sheet: one row per sample, typed and validated columns.

The sheet (TSV or CSV) has a sample ID column, optionally a patient ID column, and any clinical
columns. Column types are declared in the config (``metadata: variables:``)::

    diagnosis: {type: categorical, levels: [Control, Adenoma, Carcinoma]}
    bmi:       {type: continuous, min: 10, max: 80}
    response:  {type: binary, levels: [non-responder, responder]}   # second level = positive
    collection_date: {type: date}

and checked value by value; undeclared columns are inferred (all values numbers: continuous,
else categorical). Missing values are empty cells or ``NA``/``NaN``/``N/A``/``null``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from xopen import xopen

from microbiome.errors import ConfigError, InputError

TYPES = ("categorical", "continuous", "binary", "date")
MISSING = ("", "NA", "NaN", "nan", "N/A", "n/a", "null", "NULL", "None")
SAMPLE_COLUMNS = (
    "sample_id",
    "sample",
    "Sample",
    "SampleID",
    "#SampleID",
    "sample-id",
    "sample_name",
)
PATIENT_COLUMNS = (
    "patient_id",
    "patient",
    "Patient",
    "subject_id",
    "subject",
    "Subject",
    "host_subject_id",
)


@dataclass(frozen=True)
class Variable:
    """A declared column: ``type`` (one of :data:`TYPES`), the allowed ``levels`` of a
    categorical or binary one (for binary: negative first, positive second), the range
    ``minimum``..``maximum`` of a continuous one."""

    name: str
    type: str
    levels: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def from_mapping(cls, name: str, spec: Mapping) -> Variable:
        kind = spec.get("type")
        if kind not in TYPES:
            raise ConfigError(
                f"metadata variable {name!r}: type {kind!r} is not one of {', '.join(TYPES)}"
            )
        levels = spec.get("levels")
        if levels is not None:
            levels = tuple(str(v) for v in levels)
            if len(set(levels)) != len(levels):
                raise ConfigError(f"metadata variable {name!r}: repeated levels {list(levels)}")
        if kind == "binary" and (levels is None or len(levels) != 2):
            raise ConfigError(
                f"metadata variable {name!r}: a binary variable needs exactly two levels "
                "(negative first, positive second)"
            )
        if kind not in ("categorical", "binary") and levels is not None:
            raise ConfigError(f"metadata variable {name!r}: levels only apply to categorical")
        minimum, maximum = spec.get("min"), spec.get("max")
        if kind != "continuous" and (minimum is not None or maximum is not None):
            raise ConfigError(f"metadata variable {name!r}: min/max only apply to continuous")
        return cls(name, kind, levels, minimum, maximum)


@dataclass(frozen=True)
class Metadata:
    """A validated metadata sheet.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``sample_id`` (str); column ``patient_id`` (str; the sample ID when the sheet has
        no patient column); then the sheet's other columns, typed: categorical and binary as
        pandas ``category`` (declared levels in their order), continuous as float64, dates as
        datetime64; missing values as NA.
    types : dict of str to str
        Column -> type (declared, else inferred).
    path : str
    lines : dict of str to int
        Sample ID -> line number in the sheet (for error messages downstream).
    """

    table: pd.DataFrame
    types: dict[str, str]
    path: str
    lines: dict[str, int]

    def variables(self, kind: str | Iterable[str]) -> list[str]:
        """Columns of the given type(s), in sheet order."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        return [c for c, t in self.types.items() if t in kinds]

    def match(self, sample_ids: Iterable[str]) -> MetadataMatch:
        """Align the sheet to the samples of a data table."""
        ids = list(sample_ids)
        known = set(self.table.index)
        present = set(ids)
        return MetadataMatch(
            table=self.table.loc[[s for s in ids if s in known]],
            only_in_data=[s for s in ids if s not in known],
            only_in_metadata=[s for s in self.table.index if s not in present],
        )


@dataclass(frozen=True)
class MetadataMatch:
    """The metadata rows of a data table's samples (in its order), and the IDs on one side
    only: to list, never to drop silently."""

    table: pd.DataFrame
    only_in_data: list[str]
    only_in_metadata: list[str]


def read_metadata(
    path: str | os.PathLike,
    variables: Mapping[str, Mapping] | None = None,
    *,
    sample_column: str | None = None,
    patient_column: str | None = None,
) -> Metadata:
    """Read and validate a metadata sheet.

    Parameters
    ----------
    variables
        Declared columns: name -> ``{type, levels, min, max}`` (the config's
        ``metadata: variables:``).
    sample_column, patient_column
        Column names; found among :data:`SAMPLE_COLUMNS` / :data:`PATIENT_COLUMNS` when None.

    Raises
    ------
    InputError
        Naming the file, line and column for a missing sample ID column, an empty or
        duplicated sample ID, or a value outside its declared levels or range or not of its
        declared type.
    ConfigError
        For a malformed declaration or a declared column that the sheet does not have.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("metadata sheet not found", file=path)
    specs = {name: Variable.from_mapping(name, spec) for name, spec in (variables or {}).items()}
    header, rows = _read(path)
    sample_column = _pick(path, header, sample_column, SAMPLE_COLUMNS, "sample ID", required=True)
    patient_column = _pick(path, header, patient_column, PATIENT_COLUMNS, "patient ID")
    for name in specs:
        if name not in header:
            raise ConfigError(
                f"metadata variable {name!r} is declared in the config but the sheet has no "
                f"such column (columns: {', '.join(header)})",
                file=path,
            )
    s = header.index(sample_column)
    lines: dict[str, int] = {}
    for number, cells in rows:
        sample = cells[s].strip()
        if sample in MISSING:
            raise InputError("empty sample ID", file=path, line=number, column=sample_column)
        if sample in lines:
            raise InputError(
                f"duplicated sample ID {sample!r} (also on line {lines[sample]})",
                file=path,
                line=number,
                column=sample_column,
            )
        lines[sample] = number
    samples = list(lines)
    numbers = list(lines.values())
    out = pd.DataFrame(index=pd.Index(samples, name="sample_id"))
    if patient_column:
        p = header.index(patient_column)
        patients = []
        for number, cells in rows:
            value = cells[p].strip()
            if value in MISSING:
                raise InputError("empty patient ID", file=path, line=number, column=patient_column)
            patients.append(value)
        out["patient_id"] = patients
    else:
        out["patient_id"] = samples
    types: dict[str, str] = {}
    for k, column in enumerate(header):
        if column in (sample_column, patient_column):
            continue
        raw = [cells[k].strip() for _, cells in rows]
        spec = specs.get(column) or _infer(column, raw)
        out[column] = _convert(path, spec, raw, numbers)
        types[column] = spec.type
    return Metadata(out, types, path, lines)


def _read(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        with xopen(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip() or (line.startswith("# ") and header is None):
                    continue
                sep = "\t" if "\t" in line or path.endswith((".tsv", ".tsv.gz")) else ","
                cells = line.split(sep)
                if header is None:
                    header = [c.strip() for c in cells]
                    width = len(header)
                    continue
                if len(cells) != width:
                    raise InputError(
                        f"{len(cells)} columns where the header has {width}",
                        file=path,
                        line=number,
                    )
                rows.append((number, cells))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"cannot read the metadata sheet: {exc}", file=path) from None
    if header is None or not rows:
        raise InputError("the metadata sheet has no rows", file=path)
    repeated = {c for c in header if header.count(c) > 1}
    if repeated:
        raise InputError(f"repeated column names: {', '.join(sorted(repeated))}", file=path, line=1)
    return header, rows


def _pick(
    path: str,
    header: list[str],
    given: str | None,
    candidates: tuple[str, ...],
    what: str,
    *,
    required: bool = False,
) -> str | None:
    if given is not None:
        if given not in header:
            raise InputError(
                f"no {what} column {given!r} (columns: {', '.join(header)})", file=path, line=1
            )
        return given
    for name in candidates:
        if name in header:
            return name
    if required:
        raise InputError(
            f"no {what} column: name one of {', '.join(candidates)} or give it "
            f"(columns: {', '.join(header)})",
            file=path,
            line=1,
        )
    return None


def _infer(column: str, raw: list[str]) -> Variable:
    present = [v for v in raw if v not in MISSING]
    try:
        [float(v) for v in present]
    except ValueError:
        return Variable(column, "categorical")
    return Variable(column, "continuous" if present else "categorical")


def _convert(path: str, spec: Variable, raw: list[str], lines: list[int]) -> pd.Series:
    missing = [v in MISSING for v in raw]
    if spec.type in ("categorical", "binary"):
        levels = spec.levels
        if levels is not None:
            for value, gap, line in zip(raw, missing, lines, strict=True):
                if not gap and value not in levels:
                    raise InputError(
                        f"{value!r} is not one of the declared levels {', '.join(levels)}",
                        file=path,
                        line=line,
                        column=spec.name,
                    )
        else:
            levels = tuple(sorted({v for v, gap in zip(raw, missing, strict=True) if not gap}))
        values = [None if gap else v for v, gap in zip(raw, missing, strict=True)]
        return pd.Series(pd.Categorical(values, categories=list(levels)), dtype="category").values
    if spec.type == "continuous":
        out = np.full(len(raw), np.nan)
        for i, (value, gap, line) in enumerate(zip(raw, missing, lines, strict=True)):
            if gap:
                continue
            try:
                number = float(value)
            except ValueError:
                raise InputError(
                    f"{value!r} is not a number", file=path, line=line, column=spec.name
                ) from None
            if not np.isfinite(number):
                raise InputError(f"{value!r} is not finite", file=path, line=line, column=spec.name)
            low, high = spec.minimum, spec.maximum
            if (low is not None and number < low) or (high is not None and number > high):
                raise InputError(
                    f"{value} is outside the declared range "
                    f"{'-inf' if low is None else low}..{'inf' if high is None else high}",
                    file=path,
                    line=line,
                    column=spec.name,
                )
            out[i] = number
        return out
    dates = []
    for value, gap, line in zip(raw, missing, lines, strict=True):
        if gap:
            dates.append(pd.NaT)
            continue
        try:
            dates.append(pd.to_datetime(value, format="ISO8601"))
        except (ValueError, TypeError):
            raise InputError(
                f"{value!r} is not a date (use YYYY-MM-DD)", file=path, line=line, column=spec.name
            ) from None
    return pd.DatetimeIndex(dates).values
