"""Summarise a training sweep: ``python src/summarize.py multirun/train/<date> [--out DIR]``.

Writes results.md, results.csv and accuracy_vs_macs.png (default: into the sweep directory).
A run whose ``metrics.json`` cannot be read (damaged, binary, without a finite
top-1) is named and left out; only a sweep without any readable run fails.
"""

from __future__ import annotations

import argparse
import logging

from gramnas.cli import one_line_errors
from gramnas.summary import collect_runs, write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sweep_dir", help="a multirun directory (or any folder holding runs with metrics.json)"
    )
    parser.add_argument("--out", help="where to write the table and plot (default: sweep_dir)")
    args = parser.parse_args()
    logging.basicConfig(format="%(levelname)s: %(message)s")  # the runs it skips, one line
    with one_line_errors():
        rows = collect_runs(args.sweep_dir)
        for path in write_summary(rows, args.out or args.sweep_dir):
            print(path)
        print(f"{len(rows)} runs")


if __name__ == "__main__":
    main()
