"""The package's one exception family.

Library code raises these; only :func:`microbiome.cli.main.main` catches them and turns them into
``microbiome: error: <where>: <what is wrong>`` and an exit code (2 for usage and configuration
errors, 1 for data errors).
"""

from __future__ import annotations

import os


class MicrobiomeError(Exception):
    """Base class. ``exit_code`` is what the command line returns for it."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike | None = None,
        line: int | None = None,
        column: str | None = None,
        sample: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.line = line
        self.column = column
        self.sample = sample

    @property
    def location(self) -> str:
        """Where the problem is: ``file, line N, column C`` or ``sample S``, or ''."""
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.sample is not None:
            parts.append(f"sample {self.sample}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self):
        # Keep the location when an error crosses a process boundary (worker pools pickle it).
        return (
            _restore,
            (type(self), self.message, self.file, self.line, self.column, self.sample),
        )


def _restore(cls, message, file, line, column, sample):
    return cls(message, file=file, line=line, column=column, sample=sample)


class InputError(MicrobiomeError):
    """Bad input data: a malformed, truncated, empty or inconsistent reads or table file."""

    exit_code = 1


class ConfigError(MicrobiomeError):
    """Bad configuration or usage: config file, sample sheet, command-line flags."""

    exit_code = 2


class DatabaseError(MicrobiomeError):
    """A reference database that is missing, corrupt or of an incompatible version."""

    exit_code = 1


class ValidationErrors(MicrobiomeError):
    """Several problems found in one pass, all reported at once (one line each)."""

    def __init__(self, errors: list[MicrobiomeError]) -> None:
        if not errors:
            raise ValueError("ValidationErrors needs at least one error")
        super().__init__(f"{len(errors)} problem(s) found")
        self.errors = list(errors)
        self.exit_code = max(e.exit_code for e in self.errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def __reduce__(self):
        return (type(self), (self.errors,))


def combined(errors: list[MicrobiomeError]) -> MicrobiomeError:
    """The one error of ``errors`` itself, or a :class:`ValidationErrors` of all of them: what
    a check that collects every problem raises."""
    return errors[0] if len(errors) == 1 else ValidationErrors(errors)
