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

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microbiome.errors import ConfigError, InputError, MicrobiomeError, combined
from microbiome.io.tables import table_rows

log = logging.getLogger("microbiome")

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
    notes : tuple of str
        One line per column whose values (or the header's names) had surrounding whitespace
        removed: which values, to what, on which lines.
    """

    table: pd.DataFrame
    types: dict[str, str]
    path: str
    lines: dict[str, int]
    notes: tuple[str, ...] = ()

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
    """Read and validate a metadata sheet, collecting every problem before raising.

    Cells and column names are stripped of surrounding whitespace (``'Autistic '`` is
    ``'Autistic'``); each column whose values were so cleaned is listed in
    :attr:`Metadata.notes` and logged (INFO), so that the cleaning is never silent.

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
        duplicated sample ID, a row with too many or too few cells, or a value outside its
        declared levels or range or not of its declared type (one error per column and bad
        value, with the other lines holding it).
    ConfigError
        For a malformed declaration or a declared column that the sheet does not have.
    ValidationErrors
        When there is more than one problem: all of the above, one per line.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("metadata sheet not found", file=path)
    problems: list[MicrobiomeError] = []
    specs: dict[str, Variable] = {}
    for name, spec in (variables or {}).items():
        try:
            specs[name] = Variable.from_mapping(name, spec)
        except ConfigError as exc:
            problems.append(exc)
    header_line, raw_header, rows = _read(path, problems)
    header = [c.strip() for c in raw_header]
    notes = _cleaning_notes(path, None, [(name, header_line) for name in raw_header])
    try:
        sample_column = _pick(
            path, header, sample_column, SAMPLE_COLUMNS, "sample ID", required=True
        )
    except InputError as exc:
        raise combined([*problems, exc]) from None
    try:
        patient_column = _pick(path, header, patient_column, PATIENT_COLUMNS, "patient ID")
    except InputError as exc:
        problems.append(exc)
        patient_column = None
    for name in specs:
        if name not in header:
            problems.append(
                ConfigError(
                    f"metadata variable {name!r} is declared in the config but the sheet has no "
                    f"such column (columns: {', '.join(header)})",
                    file=path,
                )
            )
    numbers = [number for number, _ in rows]
    columns = {
        column: [(cells[k], number) for number, cells in rows] for k, column in enumerate(header)
    }
    lines: dict[str, int] = {}
    for value, number in columns[sample_column]:
        sample = value.strip()
        if sample in MISSING:
            problems.append(
                InputError("empty sample ID", file=path, line=number, column=sample_column)
            )
        elif sample in lines:
            problems.append(
                InputError(
                    f"duplicated sample ID {sample!r} (also on line {lines[sample]})",
                    file=path,
                    line=number,
                    column=sample_column,
                )
            )
        else:
            lines[sample] = number
    out = pd.DataFrame(index=pd.Index([v.strip() for v, _ in columns[sample_column]]))
    out.index.name = "sample_id"
    if patient_column:
        for value, number in columns[patient_column]:
            if value.strip() in MISSING:
                problems.append(
                    InputError("empty patient ID", file=path, line=number, column=patient_column)
                )
        out["patient_id"] = [v.strip() for v, _ in columns[patient_column]]
    else:
        out["patient_id"] = out.index.to_list()
    types: dict[str, str] = {}
    for column, cells in columns.items():
        notes += _cleaning_notes(path, column, cells)
        if column in (sample_column, patient_column):
            continue
        raw = [value.strip() for value, _ in cells]
        spec = specs.get(column) or _infer(column, raw)
        values, bad = _convert(spec, raw, numbers)
        problems += _bad_values(path, column, bad)
        out[column] = values
        types[column] = spec.type
    for note in notes:
        log.info("note: %s", note)
    if problems:
        problems.sort(key=lambda e: e.line or 0)
        raise combined(problems)
    return Metadata(out, types, path, lines, tuple(notes))


def _read(
    path: str, problems: list[MicrobiomeError]
) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """The header's line, the header and the rows of the sheet; a row with another number of
    cells than the header is added to ``problems`` and left out."""
    (header_line, header), *rows = table_rows(path, what="metadata sheet", same_width=False)
    width = len(header)
    kept = []
    for number, cells in rows:
        if len(cells) == width:
            kept.append((number, cells))
        else:
            problems.append(
                InputError(
                    f"{len(cells)} columns where the header has {width}", file=path, line=number
                )
            )
    if not rows:
        raise InputError("the metadata sheet has no rows", file=path)
    stripped = [c.strip() for c in header]
    repeated = {c for c in stripped if stripped.count(c) > 1}
    if repeated:
        raise combined(
            [
                *problems,
                InputError(
                    f"repeated column names: {', '.join(sorted(repeated))}",
                    file=path,
                    line=header_line,
                ),
            ]
        )
    return header_line, header, kept


def _some_lines(lines: list[int], shown: int = 10) -> str:
    """``line 4`` or ``lines 4, 9, 12`` (the first ``shown``, then how many more)."""
    text = ", ".join(map(str, lines[:shown]))
    if len(lines) > shown:
        text += f" and {len(lines) - shown} more"
    return f"line{'s' if len(lines) > 1 else ''} {text}"


def _cleaning_notes(path: str, column: str | None, cells: list[tuple[str, int]]) -> list[str]:
    """What stripping ``cells`` (value, line) of one column (None: the header) changed, as a
    one-line note; none when nothing (or only blank cells) changed."""
    changed: dict[str, list[int]] = {}
    for value, number in cells:
        if value.strip() and value != value.strip():
            changed.setdefault(value, []).append(number)
    if not changed:
        return []
    count = sum(map(len, changed.values()))
    if column is None:
        pairs = "; ".join(f"{v!r} -> {v.strip()!r}" for v in list(changed)[:5])
        names = "column names" if count > 1 else "column name"
        return [
            f"{path}, line {cells[0][1]}: {count} {names} had surrounding spaces removed ({pairs})"
        ]
    pairs = "; ".join(
        f"{v!r} -> {v.strip()!r}, {_some_lines(n)}" for v, n in list(changed.items())[:5]
    )
    more = "; ..." if len(changed) > 5 else ""
    verb = "values had" if count > 1 else "value had"
    return [f"{path}, column {column}: {count} {verb} surrounding spaces removed ({pairs}{more})"]


def _bad_values(path: str, column: str, bad: dict[str, tuple[str, list[int]]]) -> list[InputError]:
    """One error per distinct bad value of a column, at its first line, naming the others."""
    errors = []
    for message, lines in bad.values():
        also = f" (also on {_some_lines(lines[1:])})" if len(lines) > 1 else ""
        errors.append(InputError(message + also, file=path, line=lines[0], column=column))
    return errors


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


def _convert(
    spec: Variable, raw: list[str], lines: list[int]
) -> tuple[np.ndarray, dict[str, tuple[str, list[int]]]]:
    """The typed values of a column and its bad values: value -> (what is wrong, lines)."""
    missing = [v in MISSING for v in raw]
    bad: dict[str, tuple[str, list[int]]] = {}

    def wrong(value: str, message: str, line: int) -> None:
        bad.setdefault(value, (message, []))[1].append(line)

    if spec.type in ("categorical", "binary"):
        levels = spec.levels
        if levels is not None:
            for value, gap, line in zip(raw, missing, lines, strict=True):
                if not gap and value not in levels:
                    wrong(
                        value,
                        f"{value!r} is not one of the declared levels {', '.join(levels)}",
                        line,
                    )
        else:
            levels = tuple(sorted({v for v, gap in zip(raw, missing, strict=True) if not gap}))
        values = [None if gap or v in bad else v for v, gap in zip(raw, missing, strict=True)]
        categorical = pd.Categorical(values, categories=list(levels))
        return pd.Series(categorical, dtype="category").values, bad
    if spec.type == "continuous":
        out = np.full(len(raw), np.nan)
        for i, (value, gap, line) in enumerate(zip(raw, missing, lines, strict=True)):
            if gap:
                continue
            try:
                number = float(value)
            except ValueError:
                wrong(value, f"{value!r} is not a number", line)
                continue
            if not np.isfinite(number):
                wrong(value, f"{value!r} is not finite", line)
                continue
            low, high = spec.minimum, spec.maximum
            if (low is not None and number < low) or (high is not None and number > high):
                wrong(
                    value,
                    f"{value} is outside the declared range "
                    f"{'-inf' if low is None else low}..{'inf' if high is None else high}",
                    line,
                )
                continue
            out[i] = number
        return out, bad
    dates = []
    for value, gap, line in zip(raw, missing, lines, strict=True):
        if gap:
            dates.append(pd.NaT)
            continue
        try:
            dates.append(pd.to_datetime(value, format="ISO8601"))
        except (ValueError, TypeError):
            wrong(value, f"{value!r} is not a date (use YYYY-MM-DD)", line)
            dates.append(pd.NaT)
    return pd.DatetimeIndex(dates).values, bad
