"""Phase A of the search: how a candidate network is drawn from the meta-graph's edge weights.

Two samplers (``search.sampler``):

- ``independent`` (the paper's draw): every edge enters with probability
  pi_e = clip(rho * E * w_e, pi_min, pi_max), independently; an edge counts
  when its source is reachable from node 0. At rho = 0.02 node 0 expects
  0.6 children, so sampled networks are 2-4 conv layers deep.
- ``paths`` (the default): every DAG draws a Poisson number of paths from its
  input. A path of length L (uniform in 1..``max_path_length``) is drawn with
  probability proportional to the product of its edges' weights among all
  length-L paths from node 0, so under uniform weights every set of L nodes is
  equally likely, and an edge the update has boosted is proportionally more
  likely to be walked. The paths are then admitted in random order while the
  network stays within a per-candidate MACs budget, drawn log-uniformly in
  [max_macs / budget_range, max_macs], so candidates span sizes and no draw
  is wasted on a redraw. Each candidate's edges are the union of its paths:
  the update reinforces exactly those, as the paper's update does.

docs/search.md gives the depth and MACs distributions each sampler draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gramnas.errors import field_error, is_finite_number

SAMPLERS = ("independent", "paths")


@dataclass(frozen=True)
class SamplerSettings:
    """Settings of the ``paths`` sampler; ``method`` names the sampler the meta-graph uses."""

    method: str = "independent"
    paths_per_dag: float = 1.5  # Poisson mean of the paths each DAG draws
    max_path_length: int = 8  # path lengths are uniform in 1..max_path_length
    budget_range: float = 20.0  # budgets are log-uniform in [max_macs / budget_range, max_macs]

    def __post_init__(self) -> None:
        if self.method not in SAMPLERS:
            raise field_error(
                "search.sampler", f"unknown sampler {self.method!r}", f"choose one of {SAMPLERS}"
            )
        if not is_finite_number(self.paths_per_dag) or self.paths_per_dag <= 0:
            raise field_error(
                "search.paths_per_dag", f"must be a positive number, got {self.paths_per_dag!r}"
            )
        if isinstance(self.max_path_length, bool) or not (
            isinstance(self.max_path_length, int) and self.max_path_length >= 1
        ):
            raise field_error(
                "search.max_path_length", f"must be an integer >= 1, got {self.max_path_length!r}"
            )
        if not is_finite_number(self.budget_range) or self.budget_range < 1:
            raise field_error(
                "search.budget_range", f"must be a number >= 1, got {self.budget_range!r}"
            )
        # A YAML 20 and a JSON 20.0 are one setting: saved files must not depend on which.
        object.__setattr__(self, "paths_per_dag", float(self.paths_per_dag))
        object.__setattr__(self, "budget_range", float(self.budget_range))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, sampling: dict[str, Any]) -> SamplerSettings:
        """From a meta-graph's ``sampling`` block; files written before samplers existed drew
        edges independently."""
        defaults = cls()
        return cls(
            method=str(sampling.get("method", "independent")),
            paths_per_dag=float(sampling.get("paths_per_dag", defaults.paths_per_dag)),
            max_path_length=int(sampling.get("max_path_length", defaults.max_path_length)),
            budget_range=float(sampling.get("budget_range", defaults.budget_range)),
        )


def weighted_path(
    weights: np.ndarray, length: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """A path of ``length`` edges from node 0, drawn with probability proportional to the
    product of its edge weights (``weights`` is the DAG's n x n upper-triangular matrix).

    Forward: the weighted number of paths of each length to each node; backward:
    the end node, then each predecessor, in proportion to those numbers. A DAG
    too small for ``length`` gives its longest possible path.
    """
    n = weights.shape[0]
    reach = [np.eye(n)[0]]
    for _ in range(length):
        step = reach[-1] @ weights
        total = step.sum()
        if total <= 0:
            break
        reach.append(step / total)  # normalised: long paths of small weights never underflow
    node = int(rng.choice(n, p=reach[-1]))
    path = []
    for before in reversed(reach[:-1]):
        p = before * weights[:, node]
        source = int(rng.choice(n, p=p / p.sum()))
        path.append((source, node))
        node = source
    return path[::-1]


def draw_paths(
    weights: np.ndarray,
    endpoints: tuple[np.ndarray, np.ndarray],
    settings: SamplerSettings,
    rng: np.random.Generator,
) -> list[tuple[int, list[tuple[int, int]]]]:
    """Every DAG's paths, as ``(dag, [(i, j), ...])``, before any budget."""
    src, dst = endpoints
    nodes = int(dst.max()) + 1
    proposals = []
    for k in range(weights.shape[0]):
        matrix = np.zeros((nodes, nodes))
        matrix[src, dst] = weights[k]
        for _ in range(rng.poisson(settings.paths_per_dag)):
            length = int(rng.integers(1, settings.max_path_length + 1))
            proposals.append((k, weighted_path(matrix, length, rng)))
    return proposals


def admit_within_budget(
    proposals: list[tuple[int, np.ndarray]],
    empty: np.ndarray,
    macs_of: Callable[[np.ndarray], int],
    budget: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """The union of the proposals (``(dag, edge ids)``), taken in random order, each kept
    only if the network stays within ``budget`` MACs; all of them without a budget."""
    mask = empty.copy()
    for index in rng.permutation(len(proposals)):
        dag, ids = proposals[index]
        trial = mask.copy()
        trial[dag, ids] = True
        if budget is None or macs_of(trial) <= budget:
            mask = trial
    return mask


def draw_budget(
    max_macs: int | None, settings: SamplerSettings, rng: np.random.Generator
) -> float | None:
    """This candidate's MACs budget, log-uniform in [max_macs / budget_range, max_macs]."""
    if max_macs is None:
        return None
    low = math.log(max_macs / settings.budget_range)
    return math.exp(rng.uniform(low, math.log(max_macs)))
