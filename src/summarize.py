"""Summarise a training sweep: ``python src/summarize.py multirun/train/<date> [--out DIR]``.

Writes results.md, results.csv and accuracy_vs_macs.png (default: into the sweep directory).
A run whose ``metrics.json`` cannot be read (damaged, binary, without a finite
top-1) is named and left out; only a sweep without any readable run fails.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

from gramnas.cli import one_line_errors
from gramnas.errors import GramError
from gramnas.summary import collect_runs, runs_without_metrics, write_summary

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sweep_dir", help="a multirun directory (or any folder holding runs with metrics.json)"
    )
    parser.add_argument("--out", help="where to write the table and plot (default: sweep_dir)")
    args = parser.parse_args()
    logging.basicConfig(format="%(levelname)s: %(message)s")  # the runs it skips, one line
    with one_line_errors():
        rows = readable_runs(args.sweep_dir)
        for path in write_summary(rows, args.out or args.sweep_dir):
            print(path)
        print(f"{len(rows)} runs")


def readable_runs(sweep_dir: str) -> list[dict[str, Any]]:
    """:func:`collect_runs` run by run, so that one unreadable run is named and skipped, not fatal.

    Smallest model first, as collect_runs orders them; a sweep whose runs are
    all unreadable fails with the first one's reason.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        return collect_runs(root)  # its one line: not a folder
    rows, unreadable = [], []
    for path in sorted(root.rglob("metrics.json")):
        try:  # a run's own metrics.json only: runs nested in it come in their turn
            run = [row for row in collect_runs(path.parent) if row["run"] == "."]
            rows += [
                _finite(row, path) | {"run": str(path.parent.relative_to(root))} for row in run
            ]
        except (GramError, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, GramError) else f"{path}: not text ({exc.reason})"
            unreadable.append(reason)
    if not unreadable and not rows:
        return collect_runs(root)  # its one line: no metrics.json at all
    if not rows:
        raise GramError(f"{unreadable[0]} (no run of {root} is readable)")
    for reason in unreadable:
        log.warning("skipped: %s", reason)
    skipped = runs_without_metrics(root)
    if skipped:
        log.warning(
            "skipped %d run(s) without metrics.json (unfinished, failed, over budget or test=false): %s",
            len(skipped),
            ", ".join(skipped),
        )
    return sorted(rows, key=lambda r: (r["macs"], r["model"]))


def _finite(row: dict[str, Any], path: Path) -> dict[str, Any]:
    """``row`` if its top-1 and MACs are finite numbers: a NaN top-1 would print as a result."""
    bad = [key for key in ("top1", "macs") if not math.isfinite(row[key])]
    if bad:
        raise GramError(f"{path}: {', '.join(bad)} is not a finite number; the run is damaged")
    return row


if __name__ == "__main__":
    main()
