"""The errors ecomcrm raises on purpose.

Every error the library raises deliberately derives from :class:`EcomcrmError`, so
``except ecomcrm.errors.EcomcrmError`` catches all of them. Where a builtin exception
is the natural thing to catch, the error also inherits it::

    EcomcrmError
     +-- ValidationError      (also ValueError)   bad input: names entity, field, value, row
     |    +-- ExpressionError                       a condition that does not parse or compile
     |    +-- SignatureError                        a webhook whose signature does not verify
     +-- NotFoundError        (also LookupError)  no such customer / order / record
     +-- ConflictError                            stale compare-and-set, duplicate key
     +-- StorageError                             the backing store failed or is not ours
     |    +-- SchemaVersionError                  the database was written by a newer version
     |    +-- StorageBusyError                    another writer held the lock too long (retryable)
     +-- ConvergenceError     (also ArithmeticError) a model fit that did not converge
     +-- ConfigurationError   (also ValueError)   an invalid flow, program or option

Errors carry structured fields (``entity``, ``field``, ``value``, ``row`` and, for
expressions, ``line``/``column``/``suggestion``) so callers can report them without
parsing messages.

Example:
    >>> from ecomcrm.errors import ValidationError, EcomcrmError
    >>> try:
    ...     raise ValidationError("must not be negative", entity="OrderLine", field="quantity", value=-1)
    ... except EcomcrmError as exc:
    ...     print(exc)
    OrderLine.quantity: must not be negative (got -1)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "ConvergenceError",
    "EcomcrmError",
    "ExpressionError",
    "NotFoundError",
    "SchemaVersionError",
    "SignatureError",
    "StorageBusyError",
    "StorageError",
    "ValidationError",
]

_MISSING: Any = object()


class EcomcrmError(Exception):
    """Root of every error ecomcrm raises on purpose.

    Args:
        message: What is wrong, in words.
        entity: The kind of thing concerned (a class name such as ``"Order"``, a file name).
        field: The field, column or argument concerned.
        value: The offending value (omit when there is none).
        row: The 0-based row index, or the 1-based line of a file, where it was found.

    Example:
        >>> err = EcomcrmError("boom", entity="Store")
        >>> err.entity, str(err)
        ('Store', 'Store: boom')
    """

    def __init__(
        self,
        message: str,
        *,
        entity: str | None = None,
        field: str | None = None,
        value: Any = _MISSING,
        row: int | None = None,
    ) -> None:
        self.message = message
        self.entity = entity
        self.field = field
        self.has_value = value is not _MISSING
        self.value = value if self.has_value else None
        self.row = row
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.entity and self.field:
            where = f"{self.entity}.{self.field}"
        elif self.entity or self.field:
            where = str(self.entity or self.field)
        text = f"{where}: {self.message}" if where else self.message
        if self.has_value:
            shown = repr(self.value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            text += f" (got {shown})"
        if self.row is not None:
            text += f" at row {self.row}"
        return text


class ValidationError(EcomcrmError, ValueError):
    """Input that breaks a documented rule: a naive datetime, a negative price, a bad email.

    Example:
        >>> isinstance(ValidationError("bad"), ValueError)
        True
    """


class ExpressionError(ValidationError):
    """A condition-language expression that does not parse, compile or evaluate.

    Args:
        message: What is wrong.
        source: The expression text.
        line: 1-based line of the problem.
        column: 1-based column of the problem.
        suggestion: A close valid name ("did you mean ...").

    Attributes:
        reason: The message on one line, with the suggestion but without the position
            and the caret lines (for a command line that prints the position itself).

    Example:
        >>> err = ExpressionError("unexpected ')'", source="a > )", line=1, column=5)
        >>> print(err)
        unexpected ')' at line 1, column 5
          a > )
              ^
        >>> err.reason, err.line, err.column
        ("unexpected ')'", 1, 5)
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        suggestion: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.suggestion = suggestion
        text = message
        if suggestion:
            text += f"; did you mean {suggestion!r}?"
        self.reason = " ".join(text.split())
        if line is not None and column is not None:
            text += f" at line {line}, column {column}"
            if source is not None:
                lines = source.splitlines() or [""]
                if 1 <= line <= len(lines):
                    shown = lines[line - 1]
                    text += f"\n  {shown}\n  {' ' * (column - 1)}^"
        super().__init__(text, field=field)


class SignatureError(ValidationError):
    """A webhook whose signature is missing or does not match its body and secret.

    Nothing of the request was read or written; answer it with HTTP 401.

    Example:
        >>> err = SignatureError("does not match", entity="shopify webhook", field="X-Shopify-Hmac-Sha256")
        >>> isinstance(err, ValidationError), err.field
        (True, 'X-Shopify-Hmac-Sha256')
    """


class NotFoundError(EcomcrmError, LookupError):
    """The requested customer, order or record does not exist.

    Example:
        >>> isinstance(NotFoundError("no such customer", entity="Customer", value="c1"), LookupError)
        True
    """


class ConflictError(EcomcrmError):
    """A write lost a race: a stale version in compare-and-set, or a duplicate key.

    Example:
        >>> print(ConflictError("stale version", entity="state", field="version", value=3))
        state.version: stale version (got 3)
    """


class StorageError(EcomcrmError):
    """The storage backend failed, or the file is not an ecomcrm database.

    Example:
        >>> print(StorageError("not an ecomcrm database", entity="/tmp/x.db"))
        /tmp/x.db: not an ecomcrm database
    """


class SchemaVersionError(StorageError):
    """The database was written by a newer ecomcrm schema than this version understands.

    Example:
        >>> isinstance(SchemaVersionError("too new"), StorageError)
        True
    """


class StorageBusyError(StorageError):
    """The backend stayed busy (another writer held its lock) past its own wait.

    Nothing was written; the same work may succeed when tried again, which is what the
    rules engine does (see :class:`ecomcrm.rules.Retry`).

    Example:
        >>> isinstance(StorageBusyError("database is locked", entity="crm.db"), StorageError)
        True
    """


class ConvergenceError(EcomcrmError, ArithmeticError):
    """A model fit that did not converge; carries the optimiser's message.

    Example:
        >>> print(ConvergenceError("ABNORMAL_TERMINATION_IN_LNSRCH", entity="BetaGeo"))
        BetaGeo: ABNORMAL_TERMINATION_IN_LNSRCH
    """


class ConfigurationError(EcomcrmError, ValueError):
    """An invalid flow, loyalty program, segment definition or option.

    Example:
        >>> print(ConfigurationError("unknown step type", entity="flow 'welcome'", field="steps[2].type", value="sned"))
        flow 'welcome'.steps[2].type: unknown step type (got 'sned')
    """
