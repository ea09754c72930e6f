"""The search's append-only logs: ``candidates.jsonl`` and ``search_log.csv``.

Each iteration appends (and fsyncs) its log lines *before* the meta-graph
checkpoint is replaced. A kill between the two leaves log lines for an
iteration the checkpoint does not hold; :func:`truncate_logs` drops them on
resume, so logs and checkpoint always agree.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from gramnas.errors import GramError

CANDIDATES = "candidates.jsonl"
SEARCH_LOG = "search_log.csv"
CSV_COLUMNS = (
    "iteration",
    "architecture_id",
    "status",
    "accuracy",
    "latency_ms",
    "macs",
    "params",
    "reward",
    "beta",
    "edges",
    "seconds",
    "effective_edges",
    "max_pi",
)


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def append_record(run_dir: Path, record: dict[str, Any]) -> None:
    _append(run_dir / CANDIDATES, json.dumps(record) + "\n")
    row = io.StringIO()
    writer = csv.DictWriter(row, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    if not (run_dir / SEARCH_LOG).exists():
        writer.writeheader()
    writer.writerow({k: "" if record.get(k) is None else record[k] for k in CSV_COLUMNS})
    _append(run_dir / SEARCH_LOG, row.getvalue())


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / CANDIDATES
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # a last line cut short by a kill; the checkpoint does not hold it
            raise GramError(
                f"{path}:{number}: corrupt line; the run directory is damaged"
            ) from None
    return records


def truncate_logs(run_dir: Path, iterations: int) -> list[dict[str, Any]]:
    """Keep only the records of the first ``iterations`` iterations; return them."""
    records = [r for r in read_records(run_dir) if r["iteration"] < iterations]
    if len(records) < iterations:
        raise GramError(
            f"{run_dir / CANDIDATES}: holds {len(records)} of the {iterations} iterations in metagraph.json; "
            "the run directory is damaged"
        )
    for name in (CANDIDATES, SEARCH_LOG):
        (run_dir / name).unlink(missing_ok=True)
    for record in records:
        append_record(run_dir, record)
    return records
