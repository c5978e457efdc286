"""Progress of long steps on stderr, quiet where nobody watches.

A long step (database build, classification, diversity, integration) reports what it has done
as periodic lines on stderr::

    microbiome: progress: classify: 1,200,000 reads, 12 s
    microbiome: progress: diversity: 7/12 steps (58 %), 31 s

(the step, items done of the total when it is known, the elapsed time), at most one line every
:data:`INTERVAL` seconds, plus one when the step starts and one when it ends. It is on when stderr
is a terminal and off otherwise (a Snakemake job's log, a pipe), so logs stay clean;
``microbiome --progress`` switches it on anyway (``configure(True)``).

Usage::

    with Progress("diversity", total=12, unit="steps") as progress:
        for ...:
            progress.update()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two progress lines of one step at most (fewer when the work is slower).
INTERVAL = 5.0

_forced: bool | None = None


def configure(enabled: bool | None) -> None:
    """Switch progress on (True), off (False) or to the default (None: on when stderr is a
    terminal). The command line calls this once per run."""
    global _forced
    _forced = enabled


def enabled() -> bool:
    """Whether progress lines are written now."""
    if _forced is not None:
        return _forced
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Progress of one step: counts items and writes a line now and then (see the module).

    Parameters
    ----------
    step : str
        What is running (``classify``, ``diversity``, ...).
    total : int, optional
        Items in all, when known.
    unit : str, default "items"
        What the items are (``reads``, ``genomes``, ``steps``).
    interval : float, optional
        Seconds between lines at most (default :data:`INTERVAL`).
    """

    def __init__(
        self,
        step: str,
        total: int | None = None,
        unit: str = "items",
        *,
        interval: float | None = None,
    ) -> None:
        self.step = step
        self.total = total
        self.unit = unit
        self.done = 0
        self.interval = INTERVAL if interval is None else interval
        self.active = enabled()
        self.started = time.monotonic()
        self._last = self.started
        self._closed = False
        if self.active:
            self._write()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done; write a line when the interval has passed."""
        self.done += n
        if not self.active:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._write()

    def close(self) -> None:
        """Write the last line (once)."""
        if self.active and not self._closed:
            self._write(final=True)
        self._closed = True

    def line(self, *, final: bool = False) -> str:
        """The progress line as it would be written now."""
        if self.total is not None:
            share = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
            count = f"{self.done:,}/{self.total:,} {self.unit}{share}"
        else:
            count = f"{self.done:,} {self.unit}"
        elapsed = _duration(time.monotonic() - self.started)
        return f"microbiome: progress: {self.step}: {count}, {elapsed}{', done' if final else ''}"

    def _write(self, *, final: bool = False) -> None:
        try:
            sys.stderr.write(self.line(final=final) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed or gone: progress is not worth an error
            self.active = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(
    items: Iterable[T], step: str, total: int | None = None, unit: str = "items"
) -> Iterator[T]:
    """Yield ``items``, counting each in a :class:`Progress` of ``step``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(step, total, unit) as progress:
        for item in items:
            yield item
            progress.update()
