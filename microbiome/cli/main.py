"""Entry point of the ``microbiome`` command and the package's one error boundary.

Subcommand modules import their library code inside ``run`` so that each command loads only
what it uses (start-up time and memory).

``main(argv)`` parses, dispatches to a subcommand module and turns the package's exceptions into
one line per problem on stderr (``microbiome: error: <where>: <what is wrong>``) and an exit code:
2 for usage and configuration errors, 1 for data errors. A system error (``OSError``: a full
disk, a read-only folder, stdout to a full device) is one line too, naming the path and the
system's reason, exit 1. ``--debug`` shows tracebacks instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from microbiome import __version__, progress
from microbiome.cli import (
    classify,
    classify_import,
    db,
    diversity,
    import_profiles,
    integrate,
    kmer,
    profile_merge,
    qc,
    report,
    run,
    sample_status,
    stats,
    validate,
)
from microbiome.errors import MicrobiomeError, ValidationErrors
from microbiome.io.atomic import STDOUT_NAME, stdout_errors

SUBCOMMANDS = (
    validate,
    stats,
    qc,
    kmer,
    db,
    classify,
    classify_import,
    profile_merge,
    diversity,
    run,
    import_profiles,
    integrate,
    sample_status,
    report,
)

log = logging.getLogger("microbiome")


class _Parser(argparse.ArgumentParser):
    """Usage errors become exit code 2 with one line, as every other error."""

    def error(self, message: str) -> None:
        # Printed after "microbiome: error: ", so the command's name without "microbiome".
        command = self.prog.removeprefix("microbiome").strip()
        raise UsageError(f"{command}: {message}" if command else message)


class UsageError(Exception):
    pass


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """--debug, --verbose, --quiet, --progress on a parser and every subparser below it."""
    group = parser.add_argument_group("general options")
    group.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="more messages on stderr",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only warnings and errors on stderr",
    )
    group.add_argument(
        "--progress",
        action="store_true",
        default=argparse.SUPPRESS,
        help="progress lines of long steps on stderr even when it is not a terminal (default:"
        " only on a terminal)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_common_options(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="microbiome",
        description="Gut-microbiome shotgun metagenomics: from raw reads to clinical reports.",
    )
    parser.add_argument("--version", action="version", version=f"microbiome {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    _add_common_options(parser)
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.INFO
    if getattr(args, "verbose", False):
        level = logging.DEBUG
    if getattr(args, "quiet", False):
        level = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("microbiome: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _print_error(text: str) -> None:
    print(f"microbiome: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: sys.argv[1:]); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        _print_error(str(exc))
        return 2
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    _setup_logging(args)
    # --progress wins; --quiet (only warnings and errors) silences progress on a terminal too
    forced = getattr(args, "progress", False)
    progress.configure(True if forced else False if getattr(args, "quiet", False) else None)
    try:
        code = int(args.func(args) or 0)
        with stdout_errors():
            sys.stdout.flush()  # a full disk behind stdout shows here, not at exit
        return code
    except MicrobiomeError as exc:
        if debug:
            raise
        errors = exc.errors if isinstance(exc, ValidationErrors) else [exc]
        for error in errors:
            _print_error(str(error))
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if debug:
            raise
        _print_error(os_error_text(exc))
        if exc.filename == STDOUT_NAME:
            _discard_stdout()
        return 1


def os_error_text(exc: OSError) -> str:
    """One line for a system error: ``<path>: <the system's reason>``."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def _discard_stdout() -> None:
    """Drop what stdout still holds, so that the interpreter's exit does not fail on it again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (tests capture it)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
