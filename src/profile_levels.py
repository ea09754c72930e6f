"""Profile a meta-graph: ``python src/profile_levels.py [metagraph=...] [latency=onnxruntime] [budget.macs=12e6]``.

Writes profile.csv and profile.png (MACs, parameters and latency against the
prune level, paper Figure 5); with a budget, prints the lowest level that fits
and saves that model's architecture.json.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path

import hydra
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from gramnas.cli import one_line_errors
from gramnas.errors import field_error, is_finite_number, require_int
from gramnas.plots import plot_level_profile
from gramnas.progress import number
from gramnas.pruning import fit_budget
from gramnas.registry import swiftnet_levels

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="profile")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        profile(cfg)


def profile(cfg: DictConfig) -> list[dict[str, float]]:
    levels = level_grid(cfg.levels)
    macs, params = (budget_value(f"budget.{k}", cfg.budget[k]) for k in ("macs", "params"))
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    profiles = swiftnet_levels(
        cfg.metagraph,
        levels,
        cfg.upscale,
        cfg.max_channels,
        cfg.stem,
        cfg.in_channels,
        cfg.num_classes,
        cfg.input_size,
        cfg.prune_mode,
    )
    latency = instantiate(cfg.latency) if cfg.get("latency") else None
    rows = []
    start = time.perf_counter()
    for p in profiles:
        row = p.row()
        if latency is not None:
            row["latency_ms"] = latency.measure(p.architecture).median_ms
        rows.append(row)
        log.info(  # on stdout also on a terminal: no progress bar draws here
            "level %g (%d/%d): %.2f MMACs, %d params, depth %d (%s), latency %s; %.1f s elapsed",
            p.level,
            len(rows),
            len(levels),
            p.macs / 1e6,
            p.params,
            row["depth"],
            row["mac_share"],
            number(row.get("latency_ms"), ".4g", " ms"),
            time.perf_counter() - start,
        )
    with open(run_dir / "profile.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_level_profile(
        rows,
        run_dir / "profile.png",
        f"{cfg.metagraph}, up-scale {cfg.upscale}, input {profiles[0].architecture.input_shape}",
    )
    print(f"profile of {len(rows)} levels: {run_dir / 'profile.csv'}")

    if macs is not None or params is not None:
        chosen = fit_budget(profiles, macs, params)
        level, arch = chosen.level, chosen.architecture
        arch.save(run_dir / "architecture.json")
        print(
            f"budget macs<={macs} params<={params}: level {level} -> {chosen.macs / 1e6:.2f} MMACs, "
            f"{chosen.params} params, depth {arch.depth}, {arch.num_nodes} nodes, {arch.num_edges} edges "
            f"(architecture {arch.id}: {run_dir / 'architecture.json'})"
        )
    return rows


def level_grid(levels: DictConfig) -> np.ndarray:
    """``levels.num`` prune levels from ``levels.start`` to ``levels.stop``, checked before any work."""
    num = require_int("levels.num", levels.num, 1)
    for name in ("start", "stop"):
        value = levels[name]
        if not is_finite_number(value) or not 0 <= value <= 1:
            raise field_error(f"levels.{name}", f"must be a level in [0, 1], got {value!r}")
    return np.linspace(levels.start, levels.stop, num).round(4)


def budget_value(field: str, value: object) -> int | None:
    """A budget given as 12e6, 12000000 or "12e6"; null: none."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise field_error(field, f"must be a positive number or null, got {value!r}")
    return int(number)


if __name__ == "__main__":
    main()
