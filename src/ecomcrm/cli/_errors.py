"""Exit codes and the one-line messages the command prints for failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ecomcrm.errors import EcomcrmError, ExpressionError, ValidationError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_ERROR = 2
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe


def _got(exc: EcomcrmError) -> str:
    if not exc.has_value:
        return ""
    shown = repr(exc.value)
    return f" (got {shown[:77] + '...' if len(shown) > 80 else shown})"


def notes(exc: BaseException) -> str:
    """The exception's notes (PEP 678), such as where an interrupted import stopped."""
    added = [" ".join(str(n).split()) for n in getattr(exc, "__notes__", ()) if str(n).strip()]
    return f" ({'; '.join(added)})" if added else ""


def describe(exc: EcomcrmError) -> str:
    """The message of a deliberate error; an expression's is positioned, with a caret."""
    if isinstance(exc, ExpressionError):
        return describe_expression(exc)
    return str(exc) + notes(exc)


def describe_expression(exc: ExpressionError) -> str:
    """``expression: line N, column M: reason``, then the line and a caret under the spot."""
    if exc.line is None or exc.column is None:
        return f"expression: {exc.reason}"
    text = f"expression: line {exc.line}, column {exc.column}: {exc.reason}"
    lines = (exc.source or "").splitlines()
    if 1 <= exc.line <= len(lines):
        shown = lines[exc.line - 1].expandtabs(1)
        text += f"\n  {shown}\n  {' ' * (exc.column - 1)}^"
    return text


def describe_in_file(exc: EcomcrmError, file: str) -> str:
    """``file: line N: column: reason`` for an error met while reading ``file``."""
    if isinstance(exc, ExpressionError):
        return f"{file}: {describe_expression(exc)}"
    parts = [file]
    if exc.row is not None:
        parts.append(f"line {exc.row}")
    if exc.field:
        parts.append(exc.field)
    return ": ".join(parts) + f": {exc.message}{_got(exc)}{notes(exc)}"


def describe_os_error(exc: OSError) -> str:
    """``path: reason`` for a file the system refused."""
    reason = (exc.strerror or str(exc)) + notes(exc)
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason


def describe_rejection(rejection: Any) -> str:
    """One rejected row as ``file: line N: column: reason (got 'value')``."""
    parts = [str(rejection.file), f"line {rejection.line}"]
    if rejection.column:
        parts.append(str(rejection.column))
    got = f" (got {rejection.value!r})" if rejection.value is not None else ""
    return ": ".join(parts) + f": {rejection.reason}{got}"


@contextmanager
def currency_hint() -> Iterator[None]:
    """Re-word the store's mixed-currency errors in terms of ``--currency`` and ``--rates``."""
    try:
        yield
    except ValidationError as exc:
        if exc.entity not in ("order_facts", "line_facts") or exc.field not in (
            "currency",
            "rates",
        ):
            raise
        codes = [str(c) for c in exc.value] if isinstance(exc.value, list) else []
        example = ", ".join(f'"{c}": RATE' for c in codes)
        if exc.field == "currency":
            raise ValidationError(
                f"the data hold several currencies ({', '.join(codes)}) and amounts of "
                f"different currencies are never added: pass --currency CODE and "
                f"--rates '{{{example}}}' (units of CODE per unit of each)",
                field="--currency",
            ) from None
        if codes:
            raise ValidationError(
                f"{exc.message}: add {', '.join(codes)} to --rates ('{{{example}}}', "
                "units of the report currency per unit of each)",
                field="--rates",
            ) from None
        raise ValidationError(exc.message, field="--rates", value=exc.value) from None
