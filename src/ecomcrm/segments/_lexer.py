"""A hand-written, linear-time lexer for the condition language."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ecomcrm.errors import ExpressionError

#: Longest expression text accepted (characters).
MAX_LENGTH = 10_000


class Tok(enum.Enum):
    """Token kinds."""

    NUMBER = "number"
    DURATION = "duration"
    STRING = "string"
    IDENT = "name"
    KEYWORD = "keyword"
    OP = "operator"
    EOF = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text, its value and where it starts."""

    kind: Tok
    text: str
    value: object
    pos: int


KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "now"})

#: Duration units: fixed units in microseconds, calendar units in months.
FIXED_UNITS = {
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
}
CALENDAR_UNITS = {"mo": 1, "y": 12}

_TWO_CHAR = frozenset({"==", "!=", "<=", ">="})
_ONE_CHAR = frozenset("<>+-*/%()[],")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_MISTAKES = {
    "=": "'=' is not an operator; use '==' to compare",
    "&&": "use 'and'",
    "||": "use 'or'",
    "!": "use 'not' (or '!=' to compare)",
    "&": "use 'and'",
    "|": "use 'or'",
    ".": "there is no attribute access; refer to fields by name",
}
_MAX_INT = 2**53

#: Longest duration literal: 10,000 years of 366 days (microseconds).
MAX_DURATION_LITERAL_US = 10_000 * 366 * FIXED_UNITS["d"]
#: Longest calendar duration literal: 10,000 years (months).
MAX_MONTHS_LITERAL = 12 * 10_000
_TOO_MANY_MONTHS = MAX_MONTHS_LITERAL + 1
_LIMIT_HINT = " (the limit is 10,000 years)"


def line_col(source: str, pos: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = source.count("\n", 0, pos) + 1
    start = source.rfind("\n", 0, pos) + 1
    return line, pos - start + 1


def error_at(source: str, pos: int, message: str, suggestion: str | None = None) -> ExpressionError:
    """An :class:`ExpressionError` pointing at ``pos`` in ``source``."""
    line, col = line_col(source, pos)
    return ExpressionError(message, source=source, line=line, column=col, suggestion=suggestion)


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_ident_char(ch: str) -> bool:
    return _is_ident_start(ch) or ("0" <= ch <= "9")


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens; every character is looked at a bounded number of times.

    Raises:
        ExpressionError: Text that is too long, an unknown character, an unterminated string.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is {len(source)} characters long; the limit is {MAX_LENGTH}"
        )
    tokens: list[Token] = []
    n = len(source)
    i = 0
    while i < n:
        ch = source[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        start = i
        if _is_digit(ch) or (ch == "." and i + 1 < n and _is_digit(source[i + 1])):
            i = _number(source, i, tokens)
            continue
        if _is_ident_start(ch):
            while i < n and _is_ident_char(source[i]):
                i += 1
            word = source[start:i]
            kind = Tok.KEYWORD if word in KEYWORDS else Tok.IDENT
            tokens.append(Token(kind, word, word, start))
            continue
        if ch in "'\"":
            i = _string(source, i, tokens)
            continue
        two = source[i : i + 2]
        if two in _TWO_CHAR:
            tokens.append(Token(Tok.OP, two, two, start))
            i += 2
            continue
        if two in _MISTAKES:
            raise error_at(source, start, f"unexpected {two!r}: {_MISTAKES[two]}")
        if ch in _ONE_CHAR:
            tokens.append(Token(Tok.OP, ch, ch, start))
            i += 1
            continue
        if ch in _MISTAKES:
            raise error_at(source, start, f"unexpected {ch!r}: {_MISTAKES[ch]}")
        raise error_at(source, start, f"unexpected character {ch!r}")
    tokens.append(Token(Tok.EOF, "", None, n))
    return tokens


def _number(source: str, i: int, tokens: list[Token]) -> int:
    n = len(source)
    start = i
    while i < n and _is_digit(source[i]):
        i += 1
    is_float = False
    if i < n and source[i] == "." and i + 1 < n and _is_digit(source[i + 1]):
        is_float = True
        i += 1
        while i < n and _is_digit(source[i]):
            i += 1
    if i < n and source[i] in "eE":
        j = i + 1
        if j < n and source[j] in "+-":
            j += 1
        if j < n and _is_digit(source[j]):
            is_float = True
            i = j
            while i < n and _is_digit(source[i]):
                i += 1
    digits = source[start:i]
    # a unit suffix makes a duration literal
    unit_start = i
    while i < n and _is_ident_char(source[i]):
        i += 1
    unit = source[unit_start:i]
    if unit:
        if unit in FIXED_UNITS:
            micros = float(digits) * FIXED_UNITS[unit]  # inf when the number overflows
            if not micros <= MAX_DURATION_LITERAL_US:
                raise error_at(
                    source, start, f"duration {_shown(digits + unit)} is too long{_LIMIT_HINT}"
                )
            tokens.append(Token(Tok.DURATION, source[start:i], ("us", round(micros)), start))
            return i
        if unit in CALENDAR_UNITS:
            if is_float:
                raise error_at(
                    source,
                    start,
                    f"calendar durations take whole numbers, not {_shown(digits + unit)}",
                )
            # bounded before int(): Python refuses to convert strings of 4,300+ digits
            months = int(digits) * CALENDAR_UNITS[unit] if len(digits) <= 7 else _TOO_MANY_MONTHS
            if months > MAX_MONTHS_LITERAL:
                raise error_at(
                    source, start, f"duration {_shown(digits + unit)} is too long{_LIMIT_HINT}"
                )
            tokens.append(Token(Tok.DURATION, source[start:i], ("months", months), start))
            return i
        raise error_at(
            source,
            unit_start,
            f"unknown duration unit {_shown(unit)!r}; use s, m, h, d, w, mo or y",
        )
    value: int | float
    if is_float or len(digits) > 16:
        # float() has no digit limit (int() has one of 4,300 digits) and works in linear time
        value = _finite(source, start, digits)
    else:
        value = int(digits)
        if value > _MAX_INT:
            value = float(value)
    tokens.append(Token(Tok.NUMBER, digits, value, start))
    return i


def _shown(text: str) -> str:
    """``text`` shortened for a message (a literal may be thousands of digits long)."""
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def _finite(source: str, start: int, digits: str) -> float:
    """The value of a number literal; an ExpressionError when it overflows a float64."""
    value = float(digits)
    if not math.isfinite(value):
        raise error_at(
            source,
            start,
            f"number {_shown(digits)} is too large (the largest number is about 1.8e308)",
        )
    return value


def _string(source: str, i: int, tokens: list[Token]) -> int:
    n = len(source)
    quote = source[i]
    start = i
    i += 1
    parts: list[str] = []
    while True:
        if i >= n:
            raise error_at(source, start, "unterminated string")
        ch = source[i]
        if ch == quote:
            i += 1
            break
        if ch == "\\":
            if i + 1 >= n:
                raise error_at(source, start, "unterminated string")
            esc = source[i + 1]
            if esc not in _ESCAPES:
                raise error_at(source, i, f"unknown escape '\\{esc}'")
            parts.append(_ESCAPES[esc])
            i += 2
            continue
        if ch == "\n":
            raise error_at(source, start, "unterminated string (strings cannot span lines)")
        parts.append(ch)
        i += 1
    tokens.append(Token(Tok.STRING, source[start:i], "".join(parts), start))
    return i
