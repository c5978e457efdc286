"""Reading the text tables the package accepts (sheets, abundance tables, maps, reports).

Every table may be plain or compressed (gzip, bzip2, xz, zstd), may start with a UTF-8
byte-order mark (Excel's "CSV UTF-8" writes one) and may end its lines with LF or CRLF.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from xopen import xopen

from microbiome.errors import InputError, MicrobiomeError

if TYPE_CHECKING:
    import pandas as pd

_BOM = b"\xef\xbb\xbf"
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")
#: Comment lines of a table: ``#`` then a space, a tab or nothing (``#OTU ID`` and
#: ``#SampleID`` are headers, not comments).
TABLE_COMMENT = r"#(\s|$)"


def decoded_lines(
    path: str | os.PathLike,
    *,
    what: str = "file",
    error: type[MicrobiomeError] = InputError,
) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of every line of a text file, plain or compressed,
    decoded as UTF-8 without the byte-order mark of its first line and without ``\\r\\n``.

    Raises ``error`` naming the file (and the line of a byte that is not UTF-8) when the file
    (called ``what`` in the message) is missing or cannot be read or decoded.
    """
    path = os.fspath(path)
    number = 0
    try:
        with xopen(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise error(
                        f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at position "
                        f"{exc.start + 1}): save the file as UTF-8 (Excel: 'CSV UTF-8')",
                        file=path,
                        line=number,
                    ) from None
                yield number, line.rstrip("\r\n")
    except FileNotFoundError:
        raise error(f"{what} not found", file=path) from None
    except (OSError, EOFError) as exc:
        raise error(f"cannot read the file: {exc}", file=path, line=number or None) from None


def text_lines(
    path: str | os.PathLike, *, error: type[MicrobiomeError] = InputError
) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of each line of a text file, plain or compressed,
    that is neither blank nor a ``#`` comment (see :func:`decoded_lines`)."""
    for number, line in decoded_lines(path, error=error):
        if line.strip() and not line.startswith("#"):
            yield number, line


def delimiter_of(path: str | os.PathLike, header: str) -> str:
    """``,`` or tab: by the name (``.csv``; ``.tsv``, ``.tab``; compressed or not), else the
    one the header line holds more of (tab when it holds neither)."""
    name = os.fspath(path).lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    if name.endswith(".csv"):
        return ","
    if name.endswith((".tsv", ".tab")):
        return "\t"
    return "\t" if header.count("\t") >= header.count(",") else ","


def table_rows(
    path: str | os.PathLike,
    *,
    what: str = "table",
    comment: str = TABLE_COMMENT,
    same_width: bool = True,
    error: type[MicrobiomeError] = InputError,
) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the header and of every row of a TSV or CSV table.

    The delimiter is found by :func:`delimiter_of`; cells may be quoted as Excel quotes them
    (``"Smith, J"``). Skipped: blank lines, lines matching the regular expression ``comment``
    at their start, and rows whose cells are all empty (``,,,`` or tab-only lines, which Excel
    writes after the data); a row with any value is kept, however many of its cells are empty.
    Cells are returned as written (not stripped).

    Parameters
    ----------
    what
        The table's name in error messages ("sample sheet", "metadata sheet").
    same_width
        Raise ``error`` for the first row whose number of cells differs from the header's.
    error
        The exception class raised (InputError, or ConfigError for a sample sheet).

    Raises
    ------
    MicrobiomeError
        Of class ``error``, naming the file (and line): unreadable or not UTF-8, no header, a
        row wider or narrower than the header.
    """
    pattern = re.compile(comment)
    rows: list[tuple[int, list[str]]] = []
    delimiter = None
    for number, line in decoded_lines(path, what=what, error=error):
        if not line.strip() or pattern.match(line):
            continue
        if delimiter is None:
            delimiter = delimiter_of(path, line)
        cells = next(csv.reader([line], delimiter=delimiter))
        if not any(cell.strip() for cell in cells):
            continue
        if same_width and rows and len(cells) != len(rows[0][1]):
            raise error(
                f"{len(cells)} columns where the header has {len(rows[0][1])}",
                file=os.fspath(path),
                line=number,
            )
        rows.append((number, cells))
    if not rows:
        raise error(f"the {what} is empty", file=os.fspath(path))
    return rows


def read_tsv(path: str | os.PathLike, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A tab-separated table with a header; ``NA`` or empty cells are missing values. A
    ``sample_id`` column is read as text as written (``001`` stays ``001``).

    Raises InputError naming the file when it cannot be parsed or lacks a required column.
    """
    import pandas as pd

    path = os.fspath(path)
    try:
        table = pd.read_csv(
            path,
            sep="\t",
            na_values=["NA", "NaN", ""],
            keep_default_na=False,
            comment=None,
            dtype={"sample_id": str},
        )
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read the table: {exc}", file=path) from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)} "
            f"(columns: {', '.join(map(str, table.columns))})",
            file=path,
        )
    return table
