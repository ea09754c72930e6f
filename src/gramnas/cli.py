"""What the entry points share: one-line errors instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from gramnas.errors import GramError


def _gram_error_in(exc: BaseException) -> GramError | None:
    """The GramError that caused ``exc``, also when Hydra's instantiate wrapped it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GramError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn bad input (a GramError, possibly wrapped) into ``error: ...`` and exit status 2."""
    try:
        yield
    except Exception as exc:
        gram_error = _gram_error_in(exc)
        if gram_error is None:
            raise
        print(f"error: {gram_error}", file=sys.stderr)
        sys.exit(2)
