"""The ``ecomcrm`` command line: demo, import, analyze, segments, flows, export, erase.

Every sub-command is a thin shell over the library. Errors the library raises on purpose
(``EcomcrmError``) are printed as one clear line (plus the row-level report for imports) and
give a non-zero exit code, never a traceback.

Example:
    >>> from ecomcrm.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    ecomcrm ...
    0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ecomcrm._version import __version__
from ecomcrm.cli._commands import register_commands as _register_commands
from ecomcrm.errors import EcomcrmError

__all__ = ["build_parser", "main"]

_EXIT_OK = 0
_EXIT_ERROR = 2
_EXIT_REJECTED = 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ecomcrm`` command.

    Example:
        >>> build_parser().prog
        'ecomcrm'
    """
    parser = argparse.ArgumentParser(
        prog="ecomcrm",
        description="Embeddable e-commerce CRM: profiles, segments, churn, CLV and lifecycle flows.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Example:
        >>> main(["--version"])  # doctest: +ELLIPSIS
        ecomcrm ...
        0
    """
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.version:
        print(f"ecomcrm {__version__}")
        return _EXIT_OK
    if not getattr(args, "handler", None):
        parser.print_help()
        return _EXIT_ERROR
    try:
        code: int = args.handler(args)
    except EcomcrmError as exc:
        print(f"ecomcrm: error: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        print("ecomcrm: interrupted", file=sys.stderr)
        return 130
    return code
