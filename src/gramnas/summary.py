"""Collect finished training runs into one table and the accuracy-versus-MACs plot (paper Figure 1)."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gramnas.errors import GramError
from gramnas.plots import plot_accuracy_vs_macs

COLUMNS = (
    "model",
    "top1",
    "macs",
    "params",
    "depth",
    "accuracy_density",
    "latency_ms",
    "epochs",
    "data",
    "run",
)
REQUIRED = {"model": str, "top1": (int, float), "macs": (int, float)}  # the table's order, the plot

log = logging.getLogger(__name__)


def collect_runs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable ``metrics.json`` under ``sweep_dir``, smallest model first.

    A run whose file cannot be read (damaged, binary, unfinished, without a
    finite top-1) is named in a warning and left out; only a sweep without any
    readable run fails, with the first one's reason.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise GramError(f"{root}: not a folder; pass a sweep or run directory")
    rows, unreadable = [], []
    for path in sorted(root.rglob("metrics.json")):
        try:
            metrics = read_run_metrics(path)
        except GramError as exc:
            unreadable.append(str(exc))
            continue
        rows.append(
            {**{k: metrics.get(k) for k in COLUMNS}, "run": str(path.parent.relative_to(root))}
        )
    if not rows:
        if unreadable:
            raise GramError(f"{unreadable[0]} (no run of {root} is readable)")
        raise GramError(f"{root}: holds no metrics.json; is it a finished training sweep?")
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


def read_run_metrics(path: Path) -> dict[str, Any]:
    """One run's ``metrics.json``, checked: text, JSON, a model name and finite top-1 and MACs."""
    try:
        metrics = json.loads(path.read_text())
    except UnicodeDecodeError as exc:
        raise GramError(f"{path}: not text ({exc.reason})") from None
    except json.JSONDecodeError:
        raise GramError(f"{path}: not valid JSON; the run is damaged") from None
    missing = [
        key
        for key, kind in REQUIRED.items()
        if not isinstance(metrics, dict) or not isinstance(metrics.get(key), kind)
    ]
    if missing:
        raise GramError(
            f"{path}: no {', '.join(missing)}; the run is unfinished or damaged, move it out"
        )
    bad = [key for key in ("top1", "macs") if not math.isfinite(metrics[key])]
    if bad:
        raise GramError(f"{path}: {', '.join(bad)} is not a finite number; the run is damaged")
    return metrics


def runs_without_metrics(root: Path) -> list[str]:
    """The Hydra runs under ``root`` (folders holding ``.hydra/``) that wrote no ``metrics.json``."""
    runs = (d.parent for d in root.rglob(".hydra") if d.is_dir())
    return sorted(
        str(run.relative_to(root)) for run in runs if not (run / "metrics.json").is_file()
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.1f}"
    return "" if value is None else str(value)


def write_summary(rows: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """``results.csv``, ``results.md`` and ``accuracy_vs_macs.png`` in ``out_dir``."""
    out = Path(out_dir)
    if not out.is_dir():
        raise GramError(f"{out}: not a folder; create it, or write into the sweep directory")
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    header = (
        "model", "top-1 (%)", "MMACs", "params", "depth", "density (%/MMAC)", "latency (ms)",
        "epochs", "data", "run",
    )  # fmt: skip
    cells = (
        (r["model"], r["top1"], (r["macs"] or 0) / 1e6, r["params"], r["depth"], r["accuracy_density"],
         r["latency_ms"], r["epochs"], r["data"], r["run"])
        for r in rows
    )  # fmt: skip
    lines = markdown_table(header, ([_cell(c) for c in row] for row in cells))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    return [
        out / "results.csv",
        out / "results.md",
        plot_accuracy_vs_macs(rows, out / "accuracy_vs_macs.png"),
    ]
