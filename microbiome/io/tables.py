"""Reading the text tables the package accepts (maps, reports, lineages)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from xopen import xopen

from microbiome.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of each line of a text file, plain or compressed,
    that is neither blank nor a ``#`` comment."""
    with xopen(os.fspath(path), "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip() and not line.startswith("#"):
                yield number, line


def read_tsv(path: str | os.PathLike, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A tab-separated table with a header; ``NA`` or empty cells are missing values.

    Raises InputError naming the file when it cannot be parsed or lacks a required column.
    """
    import pandas as pd

    path = os.fspath(path)
    try:
        table = pd.read_csv(
            path, sep="\t", na_values=["NA", "NaN", ""], keep_default_na=False, comment=None
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
    if "sample_id" in table.columns:
        table["sample_id"] = table["sample_id"].astype(str)
    return table
