"""Baselines a search must beat, drawn from a meta-graph's own space at equal MACs.

A searched SwiftNet is only worth its search if it beats networks drawn at
random from the same DAGs (same node operations) at the same cost:

- :func:`random_architectures`: Bernoulli draws from the meta-graph with
  uniform weights, at sampling densities spread log-uniformly, kept when their
  MACs fall within a tolerance of the target.
- :func:`shuffled_derivations`: the search's own pruning applied to its own
  evidence shuffled among the edges it tried. These networks share how a
  derived SwiftNet is shaped (only tried edges, pruned per DAG); only the
  search's choice of which tried edges paid off is replaced by chance.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np

from gramnas.architecture import Architecture
from gramnas.counting import count_macs
from gramnas.errors import GramError, field_error, require_int
from gramnas.metagraph import MetaGraph, reachable_edges
from gramnas.pruning import profile_levels

DENSITY_RANGE = (0.003, 0.3)


def random_architectures(
    metagraph: MetaGraph,
    macs: int,
    count: int = 5,
    tolerance: float = 0.2,
    seed: int = 0,
    max_draws: int = 200_000,
) -> list[Architecture]:
    """``count`` distinct random networks of ``metagraph``'s space with MACs within ``tolerance`` of ``macs``."""
    require_int("count", count, 1)
    if not 0 < tolerance < 1:
        raise field_error("tolerance", f"must be in (0, 1), got {tolerance!r}")
    space = metagraph.space
    uniform = MetaGraph(
        space=space,
        ops=metagraph.ops,
        weights=np.full((space.num_dags, space.num_edges), 1.0 / space.num_edges),
    )
    rng = np.random.default_rng(seed)
    low, high = (math.log(d) for d in DENSITY_RANGE)

    def draw() -> Architecture | None:
        uniform.density = math.exp(rng.uniform(low, high))
        arch = uniform.to_architecture(reachable_edges(uniform.draw_edges(rng), space.nodes))
        return arch if abs(count_macs(arch) - macs) <= tolerance * macs else None

    found = distinct_draws(draw, count, max_draws)
    if len(found) == count:
        return found
    raise GramError(
        f"macs: found {len(found)} of {count} random networks within {tolerance:.0%} of "
        f"{macs / 1e6:.2f} MMACs in {max_draws} draws; widen the tolerance or change the target"
    )


def distinct_draws(
    draw: Callable[[], Architecture | None], count: int, attempts: int
) -> list[Architecture]:
    """Up to ``count`` distinct networks, in the order first drawn, from at most ``attempts`` draws (None: rejected).

    Stops at the ``count``-th, so the draws consumed, and with them the
    generator's state, depend only on the arguments.
    """
    found: dict[str, Architecture] = {}
    for _ in range(attempts):
        arch = draw()
        if arch is not None:
            found.setdefault(arch.id, arch)
            if len(found) == count:
                break
    return list(found.values())


def shuffle_evidence(metagraph: MetaGraph, rng: np.random.Generator) -> MetaGraph:
    """A copy whose evidence (tries and advantage sums together) is permuted among each DAG's tried edges."""
    shuffled = copy.deepcopy(metagraph)
    for k in range(metagraph.space.num_dags):
        tried = np.flatnonzero(metagraph.tried[k])
        order = rng.permutation(tried)
        shuffled.tried[k, tried] = metagraph.tried[k, order]
        shuffled.advantage_sum[k, tried] = metagraph.advantage_sum[k, order]
    return shuffled


def shuffled_derivations(
    metagraph: MetaGraph,
    macs: int,
    count: int = 2,
    tolerance: float = 0.2,
    seed: int = 0,
    max_shuffles: int = 200,
) -> list[Architecture]:
    """``count`` distinct networks derived from shuffled evidence, each at the level whose MACs come closest to ``macs``."""
    require_int("count", count, 1)
    if not metagraph.tried.any():
        raise field_error(
            "metagraph", "records no evidence to shuffle", "pass a searched meta-graph"
        )
    rng = np.random.default_rng(seed)

    def draw() -> Architecture | None:
        profiles = profile_levels(shuffle_evidence(metagraph, rng))
        closest = min(profiles, key=lambda p: abs(p.macs - macs))
        return closest.architecture if abs(closest.macs - macs) <= tolerance * macs else None

    found = distinct_draws(draw, count, max_shuffles)
    if len(found) == count:
        return found
    raise GramError(
        f"macs: {len(found)} of {count} shuffled derivations came within {tolerance:.0%} of "
        f"{macs / 1e6:.2f} MMACs in {max_shuffles} shuffles; widen the tolerance"
    )
