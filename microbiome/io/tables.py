"""Reading the text tables the package accepts (maps, reports, lineages)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from xopen import xopen


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of each line of a text file, plain or compressed,
    that is neither blank nor a ``#`` comment."""
    with xopen(os.fspath(path), "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip() and not line.startswith("#"):
                yield number, line
