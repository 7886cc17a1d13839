"""The ``ecomcrm`` command line: demo, import, analyze, report, segments, flows, export, erase.

Every sub-command is a thin shell over the library. Every failure ends in one line on
standard error and a documented exit code, never a traceback:

====  ==================================================================================
0     success
1     internal error: a bug in ecomcrm (the line says so and how to see the traceback)
2     error: bad arguments, bad or missing input file or database, unknown customer,
      mixed currencies without rates, a store or file the system refused
3     an import finished but rejected some rows (listed by file, line and column)
130   interrupted (Ctrl-C)
141   standard output was closed early (``ecomcrm ... | head -1``); nothing is printed
====  ==================================================================================

Example:
    >>> from ecomcrm.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    ecomcrm ...
    0
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

from ecomcrm._version import __version__
from ecomcrm.cli._errors import EXIT_ERROR as _EXIT_ERROR
from ecomcrm.cli._errors import EXIT_INTERNAL as _EXIT_INTERNAL
from ecomcrm.cli._errors import EXIT_INTERRUPTED as _EXIT_INTERRUPTED
from ecomcrm.cli._errors import EXIT_OK as _EXIT_OK
from ecomcrm.cli._errors import EXIT_PIPE as _EXIT_PIPE
from ecomcrm.cli._errors import describe as _describe
from ecomcrm.cli._errors import describe_os_error as _describe_os_error
from ecomcrm.cli._errors import notes as _notes
from ecomcrm.cli._parser import register_commands as _register_commands
from ecomcrm.errors import EcomcrmError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ecomcrm`` command.

    Example:
        >>> build_parser().prog
        'ecomcrm'
    """
    parser = argparse.ArgumentParser(
        prog="ecomcrm",
        description="Embeddable e-commerce CRM: profiles, segments, churn, CLV and lifecycle flows.",
        epilog="Exit codes: 0 success, 1 internal error, 2 error, 3 import with rejected rows, "
        "130 interrupted, 141 output closed early. See docs/cli.md.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_commands(sub)
    return parser


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout is not a file
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Example:
        >>> main(["--version"])  # doctest: +ELLIPSIS
        ecomcrm ...
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return exc.code if isinstance(exc.code, int) else _EXIT_ERROR
    if args.version:
        print(f"ecomcrm {__version__}")
        return _EXIT_OK
    if not getattr(args, "handler", None):
        parser.print_help()
        return _EXIT_ERROR
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return _EXIT_PIPE
    except EcomcrmError as exc:
        _error(_describe(exc))
        return _EXIT_ERROR
    except OSError as exc:
        _error(_describe_os_error(exc))
        return _EXIT_ERROR
    except KeyboardInterrupt as exc:
        _error("interrupted" + _notes(exc))
        return _EXIT_INTERRUPTED
    except MemoryError:
        _error("out of memory")
        return _EXIT_INTERNAL
    except Exception as exc:  # everything else is a bug: one line, and how to see more
        if os.environ.get("ECOMCRM_DEBUG"):
            traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0] + _notes(exc)
        print(
            f"ecomcrm: internal error: {type(exc).__name__}: {first} "
            "(a bug in ecomcrm: please report it with the command you ran; "
            "ECOMCRM_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return _EXIT_INTERNAL
    return code


def _error(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr closed too
        print(f"ecomcrm: error: {message}", file=sys.stderr)
