"""Random architectures from a meta-graph's own space: the baseline a search must beat.

A searched SwiftNet is only worth its search if it beats networks drawn at
random from the same DAGs (same node operations) at the same cost. Random
networks here are Bernoulli draws from the meta-graph with uniform weights, at
sampling densities spread log-uniformly, kept when their MACs fall within a
tolerance of the target.
"""

from __future__ import annotations

import math

import numpy as np

from gramnas.architecture import Architecture
from gramnas.counting import count_macs
from gramnas.errors import GramError, field_error, require_int
from gramnas.metagraph import MetaGraph, reachable_edges

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
    found: dict[str, Architecture] = {}
    for _ in range(max_draws):
        uniform.density = math.exp(rng.uniform(low, high))
        arch = uniform.to_architecture(reachable_edges(uniform.draw_edges(rng), space.nodes))
        if abs(count_macs(arch) - macs) <= tolerance * macs:
            found.setdefault(arch.id, arch)
            if len(found) == count:
                return list(found.values())
    raise GramError(
        f"macs: found {len(found)} of {count} random networks within {tolerance:.0%} of "
        f"{macs / 1e6:.2f} MMACs in {max_draws} draws; widen the tolerance or change the target"
    )
