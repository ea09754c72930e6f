"""What a search writes into its run directory, besides the meta-graph.

During the search: ``candidates.jsonl`` and ``search_log.csv`` (one line per
iteration) and ``probes.jsonl`` (one line per noise probe). Each iteration
appends (and fsyncs) its log lines *before* the meta-graph checkpoint is
replaced, each probe after the checkpoint of its iteration. A kill between the
two leaves log lines for an iteration the checkpoint does not hold;
:func:`truncate_logs` and :func:`truncate_probes` drop them on resume, so logs
and checkpoint always agree; they replace each log atomically, so a kill during
a resume leaves a run that can still be resumed. At the end: the level profile (CSV and Markdown)
and ``summary.md``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gramnas.errors import GramError
from gramnas.jsonio import write_text_atomic
from gramnas.metagraph import MetaGraph
from gramnas.search.diagnostics import (
    CORRELATION_MIN_RECORDS,
    CORRELATION_WINDOW,
    per_dag_signals,
    reward_correlations,
    spread,
)
from gramnas.summary import markdown_table

CANDIDATES = "candidates.jsonl"
SEARCH_LOG = "search_log.csv"
PROBES = "probes.jsonl"
CONFIG_CHANGES = "config_changes.jsonl"  # the config changes that resumes were allowed to make
LEVEL_PROFILE = "level_profile"  # .csv and .md
SUMMARY = "summary.md"
CSV_COLUMNS = (
    "iteration",
    "architecture_id",
    "status",
    "accuracy",
    "latency_ms",
    "macs",
    "params",
    "depth",  # conv layers on the longest input-to-head path
    "reward",
    "beta",
    "edges",
    "seconds",
    "effective_edges",  # mean over DAGs
    "max_pi",  # max over DAGs
    "min_effective_edges",
    "share_tried",  # mean over DAGs
    "tried_below_untried",  # mean over DAGs
    "corr_reward_accuracy",
    "corr_reward_neg_ln_latency",
)
LEVEL_PROFILE_HEADER = (
    "level", "MMACs", "K params", "depth", "MACs by resolution", "nodes", "edges",
    "latency (ms)", "architecture",
)  # fmt: skip
LEVEL_PROFILE_COLUMNS = (
    "level",
    "macs",
    "params",
    "nodes",
    "edges",
    "depth",
    "mac_share",
    "latency_ms",
    "architecture_id",
)


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _rewrite(path: Path, text: str) -> None:
    """Replace a log in one step: a kill during a resume must leave the old or the new log, never a part."""
    if text:
        write_text_atomic(path, text)
    else:
        path.unlink(missing_ok=True)


def _csv_rows(records: Iterable[dict[str, Any]], header: bool) -> str:
    rows = io.StringIO()
    writer = csv.DictWriter(rows, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows({k: "" if r.get(k) is None else r[k] for k in CSV_COLUMNS} for r in records)
    return rows.getvalue()


def _jsonl(entries: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(entry) + "\n" for entry in entries)


def append_record(run_dir: Path, record: dict[str, Any]) -> None:
    _append(run_dir / CANDIDATES, _jsonl([record]))
    _append(run_dir / SEARCH_LOG, _csv_rows([record], header=not (run_dir / SEARCH_LOG).exists()))


def append_probe(run_dir: Path, probe: dict[str, Any]) -> None:
    _append(run_dir / PROBES, _jsonl([probe]))


def append_config_change(run_dir: Path, change: dict[str, Any]) -> None:
    _append(run_dir / CONFIG_CHANGES, _jsonl([change]))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The lines of a log; a last line cut short by a kill is dropped (the checkpoint does not hold it)."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise GramError(
                f"{path}:{number}: corrupt line; the run directory is damaged"
            ) from None
    return entries


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(run_dir / CANDIDATES)


def truncate_logs(run_dir: Path, iterations: int) -> list[dict[str, Any]]:
    """Keep only the records of the first ``iterations`` iterations; return them."""
    records = [r for r in read_records(run_dir) if r["iteration"] < iterations]
    if len(records) < iterations:
        raise GramError(
            f"{run_dir / CANDIDATES}: holds {len(records)} of the {iterations} iterations in metagraph.json; "
            "the run directory is damaged"
        )
    _rewrite(run_dir / CANDIDATES, _jsonl(records))
    _rewrite(run_dir / SEARCH_LOG, _csv_rows(records, header=bool(records)))
    return records


def truncate_probes(run_dir: Path, iterations: int) -> list[dict[str, Any]]:
    """Keep only the probes taken after at most ``iterations`` iterations; return them."""
    probes = [p for p in read_jsonl(run_dir / PROBES) if p["iteration"] <= iterations]
    _rewrite(run_dir / PROBES, _jsonl(probes))
    return probes


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def write_level_profile(run_dir: Path, rows: list[dict[str, Any]], note: str) -> None:
    """``level_profile.csv`` (exact counts) and ``level_profile.md`` (readable, with ``note``)."""
    with open(run_dir / f"{LEVEL_PROFILE}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, LEVEL_PROFILE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: "" if row[k] is None else row[k] for k in LEVEL_PROFILE_COLUMNS} for row in rows
        )
    table = markdown_table(
        LEVEL_PROFILE_HEADER,
        (
            (
                f"{row['level']:.2f}",
                f"{row['macs'] / 1e6:.2f}",
                f"{row['params'] / 1e3:.1f}",
                row["depth"],
                row["mac_share"],
                row["nodes"],
                row["edges"],
                _number(row["latency_ms"], ".4f"),
                row["architecture_id"],
            )
            for row in rows
        ),
    )
    text = ["# Level profile", "", note, "", *table]
    (run_dir / f"{LEVEL_PROFILE}.md").write_text("\n".join(text) + "\n")


def write_summary(
    run_dir: Path,
    metagraph: MetaGraph,
    records: Sequence[dict[str, Any]],
    probes: Sequence[dict[str, Any]],
    profile_note: str,
) -> None:
    """``summary.md``: where each DAG ended, what the reward followed, and the proxy's seed noise."""
    statuses = ", ".join(
        f"{n} {s}" for s, n in sorted(Counter(r["status"] for r in records).items())
    )
    signals = per_dag_signals(metagraph)
    space = metagraph.space
    dags = markdown_table(
        (
            "DAG",
            f"effective edges (of {space.num_edges})",
            "max pi",
            "edges tried",
            "tried below untried",
        ),
        (
            (
                f"{k} (hierarchy {k // space.dags_per_hierarchy})",
                f"{signals['effective_edges'][k]:.1f}",
                f"{signals['max_pi'][k]:.3f}",
                f"{signals['share_tried'][k]:.0%}",
                f"{signals['tried_below_untried'][k]:.0%}",
            )
            for k in range(space.num_dags)
        ),
    )
    correlations = reward_correlations(records)
    count, mean, sd = spread([p["accuracy"] for p in probes])
    _, _, candidates_sd = spread([r["accuracy"] for r in records if r["status"] == "ok"])
    if count:
        noise = (
            f"The probe network ({probes[0]['architecture_id']}) trained {count} times with "
            f"different seeds: accuracy mean {_number(mean, '.4f')}, sd {_number(sd, '.4f')}. "
            f"That sd is the proxy's seed noise; the candidates' accuracy sd is "
            f"{_number(candidates_sd, '.4f')}. If the two are close, the proxy hardly tells "
            "the candidates apart."
        )
    else:
        noise = "No probe accuracy (search.probe_every is 0, or too few iterations): the seed noise is unknown."
    text = [
        "# Search summary",
        "",
        f"{metagraph.iteration} iterations" + (f" ({statuses})." if statuses else "."),
        "",
        "## Per DAG at the end",
        "",
        *dags,
        "",
        f"## What the reward follows (last {CORRELATION_WINDOW} ok candidates)",
        "",
        f"corr(reward, accuracy) = {_number(correlations['corr_reward_accuracy'], '.3f')}, "
        f"corr(reward, -ln latency) = {_number(correlations['corr_reward_neg_ln_latency'], '.3f')} "
        f"(n/a below {CORRELATION_MIN_RECORDS} ok candidates). A reward that follows latency and "
        "not accuracy makes the search minimise latency alone.",
        "",
        "## Proxy seed noise",
        "",
        noise,
        "",
        "## Level profile",
        "",
        profile_note,
    ]
    (run_dir / SUMMARY).write_text("\n".join(text) + "\n")
