"""Progress lines: one log line per search iteration, training epoch or profiled level.

Off a terminal (nohup, SLURM, a pipe) no progress bar draws, so without these
lines a long run would print nothing for minutes and leave its log file empty.
They go through :mod:`logging` marked with ``extra=PROGRESS``: always into the
run's log file, and to stdout only where stdout is not a terminal, since there
a progress bar shows the same. Hydra's console handler carries
:class:`OffTerminalOnly` for that (``conf/hydra/default.yaml``).
"""

from __future__ import annotations

import logging
import sys

PROGRESS = {"progress": True}  # ``extra=`` of a progress line


class OffTerminalOnly(logging.Filter):
    """Let progress lines through only where stdout is not a terminal; pass every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(record, "progress", False) and sys.stdout.isatty())


def number(value: float | None, spec: str = ".4f", unit: str = "") -> str:
    """``value`` formatted for a progress line; ``-`` where there is none (a failed candidate)."""
    return "-" if value is None else f"{value:{spec}}{unit}"
