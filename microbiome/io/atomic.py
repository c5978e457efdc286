"""Output files: atomic for regular files, written through for devices, FIFOs and stdout.

A regular file (or a new path) is written under a temporary name in the same folder and renamed
when complete, so a killed or failing job never leaves a file under its final name that looks
finished. What is not a regular file is never replaced by one:

- ``-`` is standard output: the output is made in a temporary file and copied to stdout once
  complete;
- a character or block device, a FIFO or a socket, and the name of an open file
  (``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/3``) is opened and written directly, as a
  shell redirection would;
- unless the writer needs a seekable file (``atomic_path(path, seekable=True)``, for a
  writer at offsets, ``os.pwrite``, which a pipe, FIFO or terminal refuses): the output is then
  made in a temporary file and copied there once complete, as for ``-``;
- a symbolic link is resolved: its target is written (atomically when it is a regular file) and
  the link is kept;
- a directory is refused with a :class:`~microbiome.errors.ConfigError`.

An :class:`OSError` raised while writing names the output path (``exc.filename``), so that the
command line can report it in one line (``<path>: No space left on device``).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from microbiome.errors import ConfigError

#: The output path that means standard output.
STDOUT = "-"

#: How an OSError on standard output names it.
STDOUT_NAME = "<stdout>"

#: Names of open files (a shell's redirections), written through even to a regular file.
_OPEN_FILES = ("/dev/stdout", "/dev/stderr")
_OPEN_FILE_ROOTS = ("/dev/fd/", "/proc/")


def output_kind(path: str | os.PathLike) -> str:
    """How :func:`atomic_path` writes ``path``.

    Returns
    -------
    str
        ``"stdout"`` for ``-``; ``"through"`` for an existing file that is not a regular file
        (character or block device, FIFO, socket) and for the names of open files
        (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/...``); ``"atomic"`` for a
        regular file or a new path (a symbolic link counts as its target).

    Raises
    ------
    ConfigError
        When ``path`` is (or links to) a directory.
    """
    name = os.fspath(path)
    if name == STDOUT:
        return "stdout"
    try:
        mode = os.stat(name).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new file (or a link to one yet to be made); a parent that is a file
        # is reported when the folder is made
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError("is a directory: give the name of a file to write", file=name)
    absolute = os.path.abspath(name)
    if absolute in _OPEN_FILES or absolute.startswith(_OPEN_FILE_ROOTS):
        return "through"
    return "atomic" if mode is None or stat.S_ISREG(mode) else "through"


@contextmanager
def atomic_path(path: str | os.PathLike, *, seekable: bool = False) -> Iterator[Path]:
    """Yield the path to write ``path``'s content to; see the module's description.

    For a regular file or a new path, a temporary file next to the target (a symbolic link's
    target) is yielded and renamed onto it on success, deleted on failure; parent folders are
    created. For ``-`` a temporary file is yielded and copied to stdout on success. For a
    device, FIFO or socket the path itself is yielded, or, with ``seekable``, a temporary file
    copied to it on success. Use the yielded path for whatever writes the file::

        with atomic_path("out.json") as tmp:
            tmp.write_text(text)
    """
    kind = output_kind(path)
    name = os.fspath(path)
    if kind == "through" and not seekable:
        with _naming_errors(name):
            yield Path(name)
        return
    if kind != "atomic":  # stdout, or written through but by a writer that seeks
        stdout = kind == "stdout"
        with _temporary(
            None, "stdout" if stdout else "output", name=STDOUT_NAME if stdout else name
        ) as tmp:
            yield tmp
            _copy_out(tmp, None if stdout else name)
        return
    final = Path(os.path.realpath(name))  # a symbolic link's target; the link stays
    with _naming_errors(name):
        make_folder(final.parent, name=name)
    with _temporary(final.parent, final.name, name=name) as tmp:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)


def make_folder(path: str | os.PathLike, *, name: str | os.PathLike | None = None) -> Path:
    """Make the folder ``path`` and its parents (nothing when it exists); a file in its place is
    a NotADirectoryError naming ``name`` (default ``path``)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file, not a folder
        strerror = os.strerror(errno.ENOTDIR)
        raise NotADirectoryError(errno.ENOTDIR, strerror, os.fspath(name or path)) from None
    return path


@contextmanager
def _temporary(folder: Path | None, stem: str, *, name: str) -> Iterator[Path]:
    """A temporary file in ``folder`` (None: the system's), deleted unless renamed away; an
    OSError on it (or naming no file) names ``name`` instead."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        exc.filename = name  # e.g. a read-only folder: say which output it refused
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _naming_errors(name, tmp):
            yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _naming_errors(name: str, tmp: Path | None = None) -> Iterator[None]:
    """Name ``name`` in an OSError raised inside that names no file or the temporary ``tmp``."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        if exc.filename is None or (tmp is not None and exc.filename == os.fspath(tmp)):
            exc.filename = name
        raise


def _copy_out(tmp: Path, name: str | None) -> None:
    """Copy the finished temporary file to ``name``, a file written through (None: stdout)."""
    if name is not None:
        with open(tmp, "rb") as f, _naming_errors(name), open(name, "wb") as out:
            shutil.copyfileobj(f, out)
        return
    sys.stdout.flush()
    with open(tmp, "rb") as f, stdout_errors():
        shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()


@contextmanager
def stdout_errors() -> Iterator[None]:
    """Name standard output (``<stdout>``) in an OSError of writing to it, e.g. a full disk."""
    with _naming_errors(STDOUT_NAME):
        yield


def write_stdout(text: str) -> None:
    """Write ``text`` to standard output and flush it; an OSError names ``<stdout>``."""
    with stdout_errors():
        sys.stdout.write(text)
        sys.stdout.flush()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
