"""The one date that outputs carry, so that the same inputs give the same bytes.

Files that must hold a date (a BIOM table's ``creation-date``, the reports' date and the PDF's
creation date, the timestamps of the fonts embedded in a PDF) take it from ``SOURCE_DATE_EPOCH``
(seconds since 1970-01-01 UTC, https://reproducible-builds.org/specs/source-date-epoch/) when it
is set, else from the newest modification time of the command's inputs; never from the clock.
The workflow sets ``SOURCE_DATE_EPOCH`` for its jobs from its input data (``workflow/rules/
common.smk``), so a resumed run writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from microbiome.errors import ConfigError

#: The environment variable of the reproducible-builds specification.
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def _files(path: Path) -> Iterator[Path]:
    """``path`` itself, or every file under a folder (hidden files, e.g. unfinished ``.tmp``
    outputs, left out)."""
    if path.is_dir():
        for folder, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            yield from (Path(folder, n) for n in sorted(names) if not n.startswith("."))
    elif path.exists():
        yield path


def newest_mtime(paths: Iterable[str | os.PathLike | None]) -> int | None:
    """The newest modification time, in whole seconds since the epoch, of ``paths`` (folders:
    of the files under them); None when none exists. ``None`` entries are skipped."""
    newest = None
    for given in paths:
        if given is None:
            continue
        for path in _files(Path(given)):
            try:
                mtime = int(path.stat().st_mtime)
            except OSError:  # gone meanwhile, or a broken link: not an input
                continue
            newest = mtime if newest is None else max(newest, mtime)
    return newest


def source_date(inputs: Iterable[str | os.PathLike | None] = ()) -> datetime.datetime:
    """The date to write into outputs, timezone-aware in UTC, to the second.

    Parameters
    ----------
    inputs
        The command's input files or folders: their newest modification time is the date when
        ``SOURCE_DATE_EPOCH`` is not set (the Unix epoch when there are none).

    Raises
    ------
    ConfigError
        ``SOURCE_DATE_EPOCH`` is set but is not a whole number of seconds.
    """
    value = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if value:
        try:
            seconds = int(value)
            return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"{SOURCE_DATE_EPOCH} must be a whole number of seconds since 1970-01-01 UTC,"
                f" got {value!r}"
            ) from None
    seconds = newest_mtime(inputs) or 0
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


@contextmanager
def pinned_clock(when: datetime.datetime) -> Iterator[None]:
    """Within the block, ``SOURCE_DATE_EPOCH`` is ``when``, for libraries that read it instead of
    the clock (fontTools, which stamps the font subsets that WeasyPrint embeds in a PDF)."""
    before = os.environ.get(SOURCE_DATE_EPOCH)
    os.environ[SOURCE_DATE_EPOCH] = str(int(when.timestamp()))
    try:
        yield
    finally:
        if before is None:
            del os.environ[SOURCE_DATE_EPOCH]
        else:
            os.environ[SOURCE_DATE_EPOCH] = before
