"""Calibrate a latency lookup table: ``python src/calibrate_latency.py [latency.path=...] [latency.measure_with=adb]``.

Draws ``networks.count`` whole networks of a meta-graph that span sizes
(derived at a spread of prune levels and up-scales, plus some sampled), fills
the table's missing entries, measures the networks end to end with the
table's ``measure_with`` backend, fits the table's correction
(``LutBackend.calibrate``) and saves the table. Prints the coefficients and
the networks' median |relative error| before and after, and writes
``calibration.csv`` (one row per network).
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from gramnas.architecture import Architecture
from gramnas.cli import one_line_errors
from gramnas.counting import count_macs
from gramnas.errors import field_error, is_finite_number, require_int
from gramnas.latency.calibration import calibration_networks, error_statistics, relative_errors
from gramnas.latency.lut import FEATURES
from gramnas.registry import adaptation, load_metagraph

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../conf", config_name="calibrate_latency")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        calibrate(cfg)


def calibrate(cfg: DictConfig) -> dict[str, float]:
    """The fitted coefficients; the table is saved to ``latency.path``."""
    backend = (cfg.get("latency") or {}).get("name")
    if backend != "lut":
        raise field_error(
            "latency",
            f"calibrates a lookup table, not the {backend!r} backend",
            "pass latency=lut latency.measure_with=<the backend to calibrate against>",
        )
    if not cfg.latency.get("path"):
        raise field_error("latency.path", "no file to save the calibrated table to")
    archs = choose_networks(cfg)
    lut = instantiate(cfg.latency)
    start = time.perf_counter()
    for i, arch in enumerate(archs, 1):
        lut.features(arch)  # measures and saves the entries the table lacks
        log.info(
            "table entries for network %d/%d: %d in the table", i, len(archs), len(lut.entries)
        )
    log.info(
        "table filled in %.1f s; measuring %d networks end to end",
        time.perf_counter() - start,
        len(archs),
    )
    measured = lut.measure_networks(archs)
    before = [lut.predict(arch) for arch in archs]
    was = "its previous correction" if lut.correction is not None else "raw sum"
    coefficients = lut.calibrate(archs, measured)
    after = [lut.predict(arch) for arch in archs]
    path = lut.save()

    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_rows(run_dir / "calibration.csv", archs, measured, before, after)
    macs = [count_macs(arch) for arch in archs]
    print(
        f"calibrated {path} on {len(archs)} networks ({min(macs) / 1e6:.1f}-{max(macs) / 1e6:.1f} MMACs,"
        f" measured with {cfg.latency.measure_with}): "
        + ", ".join(f"{name} {value:.4g}" for name, value in coefficients.items())
    )
    for label, predicted in ((f"before ({was})", before), ("after", after)):
        median, p90, mean = error_statistics(relative_errors(predicted, measured))
        print(f"  {label}: median |error| {median:.1%}, p90 {p90:.1%}, mean {mean:+.1%}")
    print(f"  per network: {run_dir / 'calibration.csv'}")
    return coefficients


def choose_networks(cfg: DictConfig) -> list[Architecture]:
    """``networks.count`` networks of ``cfg.metagraph`` spanning sizes, checked before any measuring."""
    count = require_int("networks.count", cfg.networks.count, len(FEATURES))
    sampled = (
        None
        if cfg.networks.sampled is None
        else require_int("networks.sampled", cfg.networks.sampled, 0)
    )
    min_macs, max_macs = (
        macs_bound(f"networks.{k}", cfg.networks[k]) for k in ("min_macs", "max_macs")
    )
    if min_macs > max_macs:
        raise field_error(
            "networks.min_macs", f"is above networks.max_macs ({min_macs:g} > {max_macs:g})"
        )
    metagraph = load_metagraph(cfg.metagraph)
    archs = calibration_networks(
        metagraph,
        count,
        sampled=sampled,
        levels=tuple(cfg.networks.levels),
        upscales=tuple(cfg.networks.upscales),
        seed=cfg.seed,
        min_macs=int(min_macs),
        max_macs=int(max_macs),
        mode=cfg.prune_mode,
        max_channels=cfg.max_channels,
        **adaptation(metagraph.space, cfg.in_channels, cfg.num_classes, cfg.input_size, cfg.stem),
    )
    if len(archs) < count:
        log.warning(
            "%s has only %d distinct networks within the MACs range", cfg.metagraph, len(archs)
        )
    if len(archs) < len(FEATURES):
        raise field_error(
            "networks",
            f"found {len(archs)} networks within {min_macs}-{max_macs} MACs, need {len(FEATURES)}",
            "widen networks.min_macs/max_macs or networks.levels",
        )
    return archs


def write_rows(path: Path, archs: list[Architecture], *columns_ms: Sequence[float]) -> None:
    """One row per network: its id, MACs and pieces, and its measured, before and after ms."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["architecture_id", "macs", "pieces", "measured_ms", "before_ms", "after_ms"]
        )
        for arch, *ms in zip(archs, *columns_ms, strict=True):
            writer.writerow(
                [arch.id, count_macs(arch), len(arch.pieces), *(f"{v:.6g}" for v in ms)]
            )


def macs_bound(field: str, value: object) -> float:
    """A MACs bound given as 1.2e8 or 120000000."""
    if not is_finite_number(value) or value < 0:
        raise field_error(field, f"must be a number of MACs >= 0, got {value!r}")
    return float(value)


if __name__ == "__main__":
    main()
