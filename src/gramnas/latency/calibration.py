"""The whole networks a lookup table's correction is fitted on, and how well a table predicts them.

``LutBackend.calibrate`` fits its correction on a few whole networks; they
should span the sizes the table will predict. ``calibration_networks`` takes
them from one meta-graph: networks derived at a spread of prune levels and
up-scales (sorted by MACs and taken evenly, so small and large ones both
count) and some sampled from it, all distinct and within a MACs range.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from gramnas.architecture import Architecture
from gramnas.counting import count_macs
from gramnas.errors import field_error, is_finite_number
from gramnas.metagraph import MetaGraph, reachable_edges
from gramnas.pruning import DEFAULT_MODE, derive

# Real candidates, each measured end to end within seconds (phones included).
MIN_MACS, MAX_MACS = 1_000_000, 120_000_000
UPSCALES = (1.0, 1.25, 1.5)  # the paper's up-scales
LEVEL_STEPS = 19  # levels derived per up-scale, from which the derived networks are taken


def distinct_networks(
    candidates: Iterable[Architecture],
    count: int,
    min_macs: int = MIN_MACS,
    max_macs: int = MAX_MACS,
) -> list[Architecture]:
    """The first ``count`` distinct networks (by id) of ``candidates`` within ``[min_macs, max_macs]``.

    Fewer where ``candidates`` runs out first; an endless iterator is read only as far as needed.
    """
    seen: set[str] = set()
    chosen: list[Architecture] = []
    if count <= 0:
        return chosen
    for arch in candidates:  # stops right after the last one: no draw beyond it
        if arch.id not in seen and min_macs <= count_macs(arch) <= max_macs:
            seen.add(arch.id)
            chosen.append(arch)
            if len(chosen) == count:
                break
    return chosen


def calibration_networks(
    metagraph: MetaGraph,
    count: int = 20,
    *,
    sampled: int | None = None,
    levels: tuple[float, float] = (0.0, 0.9),
    upscales: Sequence[float] = UPSCALES,
    seed: int = 0,
    min_macs: int = MIN_MACS,
    max_macs: int = MAX_MACS,
    mode: str = DEFAULT_MODE,
    max_channels: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    stem: tuple[int, ...] | None = None,
) -> list[Architecture]:
    """``count`` distinct networks of ``metagraph`` spanning sizes; fewer if it has no more in range.

    ``sampled`` of them (default a quarter) are drawn from the meta-graph's
    probabilities, each at one of ``upscales`` in turn; the rest are derived at
    ``LEVEL_STEPS`` levels from ``levels[0]`` to ``levels[1]`` at every
    up-scale, sorted by MACs and taken evenly from the smallest to the largest
    (topped up with more draws where the grid holds too few distinct ones).
    ``input_shape``, ``num_classes`` and ``stem`` adapt every network to the
    target data, as ``derive`` does.
    """
    if sampled is None:
        sampled = count // 4
    if not 0 <= sampled <= count:
        raise field_error("networks.sampled", f"must be in [0, {count}], got {sampled!r}")
    if not (
        len(levels) == 2
        and all(is_finite_number(v) for v in levels)
        and 0.0 <= levels[0] <= levels[1] <= 1.0
    ):
        raise field_error("networks.levels", f"must be [start, stop] in [0, 1], got {levels!r}")
    if not upscales or not all(is_finite_number(u) and u > 0 for u in upscales):
        raise field_error("networks.upscales", f"must be positive numbers, got {list(upscales)!r}")
    start, stop = levels
    adapt = {"input_shape": input_shape, "num_classes": num_classes, "stem": stem}
    grid = [
        derive(metagraph, float(level), float(upscale), max_channels, mode=mode, **adapt)
        for upscale in upscales
        for level in np.linspace(start, stop, LEVEL_STEPS)
    ]
    derived = sorted(distinct_networks(grid, len(grid), min_macs, max_macs), key=count_macs)
    wanted = min(count - sampled, len(derived))
    spread = [derived[int(i)] for i in np.linspace(0, len(derived) - 1, wanted).round()]
    rng = np.random.default_rng(seed)
    draws = (
        metagraph.to_architecture(
            reachable_edges(metagraph.draw_edges(rng), metagraph.space.nodes),
            float(upscale),
            max_channels,
            **adapt,
        )
        for upscale in itertools.islice(itertools.cycle(upscales), 50 * count)
    )  # bounded: a meta-graph whose draws all fall outside the range gives fewer networks
    return distinct_networks(itertools.chain(spread, draws), count, min_macs, max_macs)


def relative_errors(predicted: Sequence[float], measured: Sequence[float]) -> np.ndarray:
    """``(predicted - measured) / measured`` per network."""
    measured_ms = np.asarray(measured, float)
    return (np.asarray(predicted, float) - measured_ms) / measured_ms


def error_statistics(errors: np.ndarray) -> tuple[float, float, float]:
    """Median |error|, 90th percentile |error| and mean signed error of relative ``errors``."""
    absolute = np.abs(errors)
    return float(np.median(absolute)), float(np.percentile(absolute, 90)), float(np.mean(errors))
