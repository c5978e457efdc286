"""The sample sheet: one row per sample, validated up front with every problem reported at once.

Columns: ``sample_id``, ``fastq_1``, ``fastq_2`` (empty for single-end), optional ``patient_id``,
any extra columns (kept). TSV or CSV, with a header line; blank lines and lines starting with
``#`` are ignored. Read paths are relative to the sheet's folder.
"""

from __future__ import annotations

import functools
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from microbiome.errors import ConfigError, InputError, MicrobiomeError, ValidationErrors
from microbiome.io.reads import check_readable, is_alignment_file, is_interleaved
from microbiome.io.tables import table_rows

if TYPE_CHECKING:
    import pandas as pd

READ_COLUMNS = ("fastq_1", "fastq_2")


@functools.cache
def _id_rule(column: str) -> tuple[re.Pattern, str]:
    """The pattern of an ID column of the sample sheet's schema, and its description."""
    from microbiome.config import load_schema  # jsonschema: not for `classify`'s mate check

    prop = load_schema("samples")["properties"][column]
    return re.compile(prop["pattern"]), " ".join(prop["description"].split())


def _invalid_id(value: str, column: str) -> str:
    return f"{value!r} is not a valid ID ({_id_rule(column)[1]})"


def check_sample_id(value: str, option: str, *, column: str = "sample_id") -> str:
    """Return ``value`` if it is a valid ID by the sample sheet's rule for ``column``
    (``sample_id`` or ``patient_id``, the patterns of ``microbiome/schemas/samples.schema.yaml``).

    The command line checks every sample (or patient) name it is given with this, so that no name
    can point an output file outside its folder (``-s ../X``).

    Raises
    ------
    ConfigError
        Naming ``option`` (e.g. ``--sample-id``), when ``value`` is empty or breaks the rule.
    """
    if not value or not _id_rule(column)[0].fullmatch(value):
        raise ConfigError(f"{option}: {_invalid_id(value, column)}")
    return value


def same_file(path1: str | os.PathLike, path2: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same path, or (both existing) the same inode,
    through a symbolic link, a hard link or another spelling of the path."""
    if os.path.abspath(path1) == os.path.abspath(path2):
        return True
    try:
        return os.path.samefile(path1, path2)
    except OSError:
        return False


def check_distinct_mates(
    reads1: str | os.PathLike, reads2: str | os.PathLike | None, options: str = "-1 and -2"
) -> None:
    """ConfigError when the two mates of a pair are one file (also through a link).

    ``options`` names them in the message (e.g. ``"-1 and -2"``)."""
    if reads2 and same_file(reads1, reads2):
        raise ConfigError(
            f"{options} are the same file ({os.fspath(reads1)}, {os.fspath(reads2)}): give the"
            " reads of mate 1 and of mate 2"
        )


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) of every data row."""
    rows = table_rows(
        path, what="sample sheet", comment=r"\s*#", same_width=False, error=ConfigError
    )
    parsed = [(number, [field.strip() for field in cells]) for number, cells in rows]
    return parsed[0][1], parsed[1:]


def _file_problem(path: Path) -> str | None:
    try:
        check_readable(path)
    except InputError as exc:
        return f"{exc.message}: {path}"
    return None


def load_sample_sheet(path: str | os.PathLike, *, check_files: bool = True) -> pd.DataFrame:
    """Read and validate a sample sheet.

    Returns a DataFrame indexed by ``sample_id`` with ``fastq_1``/``fastq_2`` as absolute paths
    (``fastq_2`` is "" for single-end samples), a ``layout`` column ('paired' or 'single'; an
    interleaved ``fastq_1`` without ``fastq_2`` is 'paired', see
    :func:`~microbiome.io.reads.is_interleaved`), a
    ``line`` column (line of the sheet) and every other column as text.

    Raises ValidationErrors listing every problem: missing columns, malformed or duplicate sample
    IDs, missing, unreadable or empty files, the same file used twice, ``fastq_1 == fastq_2``.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    problems: list[MicrobiomeError] = []

    def problem(message: str, line: int, column: str | None = None) -> None:
        problems.append(ConfigError(message, file=path, line=line, column=column))

    missing = [c for c in ("sample_id", "fastq_1") if c not in header]
    if missing:
        raise ConfigError(
            f"header lacks the column(s) {', '.join(missing)} (found: {', '.join(header)})",
            file=path,
            line=1,
        )
    duplicated_columns = {c for c in header if header.count(c) > 1}
    for column in sorted(duplicated_columns):
        problem("column name appears more than once in the header", 1, column)
    if not rows:
        raise ConfigError("sample sheet has a header but no samples", file=path)

    import jsonschema

    from microbiome.config import load_schema

    schema = load_schema("samples")
    validator = jsonschema.validators.validator_for(schema)(schema)
    base = path.resolve().parent
    records = []
    seen_ids: dict[str, int] = {}
    seen_files: dict[Path, list[tuple[int, str]]] = defaultdict(list)
    for line, fields in rows:
        if len(fields) != len(header):
            problem(f"has {len(fields)} fields but the header has {len(header)}", line)
            continue
        row = dict(zip(header, fields, strict=True))
        row.setdefault("fastq_2", "")
        row.setdefault("patient_id", "")
        for err in validator.iter_errors(row):
            column = str(err.path[0]) if err.path else None
            message = err.message
            if err.validator == "pattern":
                message = _invalid_id(err.instance, column)
            problem(message, line, column)
        sample = row["sample_id"]
        if sample in seen_ids:
            problem(
                f"duplicate sample ID {sample!r} (first on line {seen_ids[sample]})",
                line,
                "sample_id",
            )
        else:
            seen_ids[sample] = line
        resolved = {}
        for column in READ_COLUMNS:
            value = row[column]
            if not value:
                resolved[column] = ""
                continue
            file = (base / value).resolve() if not os.path.isabs(value) else Path(value)
            resolved[column] = str(file)
            seen_files[file].append((line, column))
            if check_files and (message := _file_problem(file)):
                problem(message, line, column)
        if resolved["fastq_2"] and same_file(resolved["fastq_1"], resolved["fastq_2"]):
            problem("fastq_1 and fastq_2 are the same file", line, "fastq_2")
        if resolved["fastq_2"] and is_alignment_file(resolved["fastq_1"]):
            problem(
                "a SAM/BAM/CRAM in fastq_1 holds both mates (interleaved): leave fastq_2 empty",
                line,
                "fastq_2",
            )
        layout = "paired" if resolved["fastq_2"] else "single"
        if check_files and not resolved["fastq_2"] and not _file_problem(Path(resolved["fastq_1"])):
            try:
                if is_interleaved(resolved["fastq_1"]):
                    layout = "paired"
            except MicrobiomeError as exc:
                problem(exc.message, line, "fastq_1")
        records.append(row | resolved | {"line": line, "layout": layout})
    for file, uses in seen_files.items():
        if len(uses) > 1 and len({u[0] for u in uses}) > 1:
            (first_line, first_column), *others = uses
            for line, column in others:
                if line == first_line:
                    continue  # fastq_1 == fastq_2, reported above
                problem(
                    f"file {file} is already used on line {first_line} ({first_column})",
                    line,
                    column,
                )
    if problems:
        problems.sort(key=lambda e: e.line or 0)
        raise ValidationErrors(problems)
    import pandas as pd

    table = pd.DataFrame.from_records(records).set_index("sample_id", drop=False)
    table.index.name = None
    return table
