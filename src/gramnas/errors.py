"""One exception type for every mistake a user can make.

Entry points catch :class:`GramError` and print its one-line message instead of
a traceback, so each message names the offending field and how to fix it.
"""

from __future__ import annotations

import math


class GramError(ValueError):
    """Bad input (a config field, a file, a level) described in one line."""


def field_error(field: str, problem: str, fix: str | None = None) -> GramError:
    """Build the standard ``field: problem (fix)`` message."""
    message = f"{field}: {problem}"
    if fix:
        message += f"; {fix}"
    return GramError(message)


def require_int(field: str, value: object, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum``; else a field error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise field_error(field, f"must be an integer >= {minimum}, got {value!r}")
    return value


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) that is neither inf nor nan: a config number worth checking further."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
