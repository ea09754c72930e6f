"""The meta-graph: K complete DAGs whose edge weights learn which connections pay off.

Implements phases A (sample) and C (update) of the paper's Algorithm 1 as
``docs/gram-spec.md`` reads them. Weights live in one ``(K, E)`` numpy array so
that sampling and updating a paper-sized meta-graph take microseconds.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from gramnas.architecture import Architecture, Dag, Node
from gramnas.counting import count_macs
from gramnas.errors import GramError, field_error, is_finite_number, require_int
from gramnas.jsonio import read_versioned_json, write_json_atomic
from gramnas.sampling import SamplerSettings, admit_within_budget, draw_budget, draw_paths
from gramnas.space import INPUT_OP, SearchSpace, parse_operation

FORMAT = "gramnas.metagraph"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 files carry no edge statistics and no update state


@cache
def edge_endpoints(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Source and target of every edge (i, j), i < j, in lexicographic order."""
    src, dst = np.triu_indices(nodes, k=1)
    src.flags.writeable = dst.flags.writeable = False
    return src, dst


@cache
def _incoming(nodes: int) -> tuple[np.ndarray, ...]:
    _, dst = edge_endpoints(nodes)
    return tuple(np.flatnonzero(dst == j) for j in range(nodes))


def edge_ids(nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Position of edges (src, dst) in the lexicographic edge order."""
    return src * (2 * nodes - src - 1) // 2 + (dst - src - 1)


def reachable_edges(chosen: np.ndarray, nodes: int) -> np.ndarray:
    """Keep the chosen edges whose source is reachable from node 0 (so both ends are active)."""
    src, _ = edge_endpoints(nodes)
    active = np.zeros((chosen.shape[0], nodes), dtype=bool)
    active[:, 0] = True
    for j, incoming in enumerate(_incoming(nodes)[1:], start=1):
        active[:, j] = (chosen[:, incoming] & active[:, src[incoming]]).any(axis=1)
    return chosen & active[:, src]


@dataclass
class MetaGraph:
    """K complete DAGs (node operations fixed, edge weights learned) plus the update state.

    ``alpha``, ``beta``, ``beta_momentum`` drive the update; ``sampler``
    chooses how candidates are drawn (:mod:`gramnas.sampling`); ``density``,
    ``pi_min``, ``pi_max`` set the paper's independent draw pi_e = clip(rho * E * w_e).
    ``tried`` and ``advantage_sum`` count, per edge, the sampled networks that
    contained it and the sum of their advantages: the search log's evidence
    that pruning scores read. ``update_state`` is the JSON state of the
    search's reward and advantage (running target, baseline), saved with the
    weights so that a resumed search continues exactly.
    """

    space: SearchSpace
    ops: list[list[str]]
    weights: np.ndarray
    seed: int = 0
    alpha: float = 0.9
    beta: float = 0.4
    beta_momentum: float = 0.1
    density: float = 0.02
    pi_min: float = 0.0
    pi_max: float = 1.0
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    iteration: int = 0
    tried: np.ndarray | None = None
    advantage_sum: np.ndarray | None = None
    update_state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.float64)
        k, e = self.space.num_dags, self.space.num_edges
        if self.weights.shape != (k, e):
            raise GramError(f"weights: expected shape ({k}, {e}), got {self.weights.shape}")
        self.tried = np.zeros((k, e), np.int64) if self.tried is None else np.asarray(self.tried)
        self.advantage_sum = (
            np.zeros((k, e))
            if self.advantage_sum is None
            else np.asarray(self.advantage_sum, float)
        )
        if self.tried.shape != (k, e) or self.advantage_sum.shape != (k, e):
            raise GramError(f"edge statistics: expected shape ({k}, {e})")
        if np.any(self.tried < 0) or not np.all(np.isfinite(self.advantage_sum)):
            raise GramError("edge statistics: counts must be >= 0 and sums finite")
        if not np.all(np.isfinite(self.weights)) or np.any(self.weights <= 0):
            raise GramError("weights: every edge weight must be finite and > 0")
        if len(self.ops) != k or any(len(ops) != self.space.nodes for ops in self.ops):
            raise GramError(f"ops: expected {k} DAGs of {self.space.nodes} operations each")
        for ops in self.ops:
            if ops[0] != INPUT_OP:
                raise GramError(f"ops: node 0 of every DAG must be {INPUT_OP!r}")
            for op in ops[1:]:
                parse_operation(op, "ops")
        require_int("iteration", self.iteration, 0)
        validate_hyperparameters(
            seed=self.seed,
            alpha=self.alpha,
            beta=self.beta,
            beta_momentum=self.beta_momentum,
            density=self.density,
            pi_min=self.pi_min,
            pi_max=self.pi_max,
        )

    @classmethod
    def create(cls, space: SearchSpace, seed: int = 0, **hyperparameters: Any) -> MetaGraph:
        """Random DAG instantiation: seeded node operations, uniform normalised weights."""
        rng = np.random.default_rng(require_int("search.seed", seed, 0))
        ops = [
            [
                INPUT_OP,
                *(
                    space.operations[i]
                    for i in rng.integers(len(space.operations), size=space.nodes - 1)
                ),
            ]
            for _ in range(space.num_dags)
        ]
        weights = np.full((space.num_dags, space.num_edges), 1.0 / space.num_edges)
        return cls(space=space, ops=ops, weights=weights, seed=seed, **hyperparameters)

    # --- phase A: sampling -------------------------------------------------------------

    def inclusion_probabilities(self) -> np.ndarray:
        """pi_e = clip(rho * E * w_e, pi_min, pi_max) for every DAG and edge."""
        scaled = self.density * self.space.num_edges * self.weights
        return np.clip(scaled, self.pi_min, self.pi_max)

    def draw_edges(self, rng: np.random.Generator) -> np.ndarray:
        """Independent Bernoulli(pi_e) draws for every edge, before reachability."""
        probabilities = self.inclusion_probabilities()
        return rng.random(probabilities.shape) < probabilities

    def sample(
        self, rng: np.random.Generator, max_macs: int | None = None, max_redraws: int = 20
    ) -> Architecture:
        """Draw a sub-network of at most ``max_macs`` MACs with the meta-graph's sampler.

        The paper's independent draw redraws up to ``max_redraws`` times and,
        if no draw fits, returns the smallest one drawn, so a too-tight budget
        never loops forever; the ``paths`` sampler fits the budget by construction.
        """
        if self.sampler.method == "paths":
            return self._sample_paths(rng, max_macs)
        best: Architecture | None = None
        for _ in range(max_redraws + 1 if max_macs is not None else 1):
            arch = self.to_architecture(reachable_edges(self.draw_edges(rng), self.space.nodes))
            if max_macs is None or count_macs(arch) <= max_macs:
                return arch
            if best is None or count_macs(arch) < count_macs(best):
                best = arch
        assert best is not None
        return best

    def _sample_paths(self, rng: np.random.Generator, max_macs: int | None) -> Architecture:
        """Weighted paths from every DAG's input, admitted while a drawn MACs budget holds."""
        nodes = self.space.nodes
        proposals = [
            (k, edge_ids(nodes, *np.asarray(path).T))
            for k, path in draw_paths(self.weights, edge_endpoints(nodes), self.sampler, rng)
        ]
        budget = draw_budget(max_macs, self.sampler, rng)
        kept = admit_within_budget(
            proposals,
            np.zeros(self.weights.shape, bool),
            lambda edges: count_macs(self.to_architecture(edges)),
            budget,
            rng,
        )
        return self.to_architecture(kept)

    def to_architecture(
        self,
        edges: np.ndarray,
        upscale: float = 1.0,
        max_channels: int | None = None,
        input_shape: tuple[int, int, int] | None = None,
        num_classes: int | None = None,
        stem: tuple[int, ...] | None = None,
    ) -> Architecture:
        """Turn a ``(K, E)`` mask of kept, reachable edges into an Architecture."""
        space = self.space
        src, dst = edge_endpoints(space.nodes)
        dags = []
        for k in range(space.num_dags):
            kept = np.flatnonzero(edges[k])
            node_ids = sorted(set(dst[kept].tolist()))
            nodes = tuple(
                Node(
                    v,
                    self.ops[k][v],
                    scale_channels(self._base_channels(k, v), upscale, max_channels),
                )
                for v in node_ids
            )
            dag_edges = tuple(zip(src[kept].tolist(), dst[kept].tolist(), strict=True))
            dags.append(
                Dag(k // space.dags_per_hierarchy, k % space.dags_per_hierarchy, nodes, dag_edges)
            )
        stem_channels = space.stem if stem is None else stem
        return Architecture(
            input_shape=input_shape or (space.in_channels, space.input_size, space.input_size),
            num_classes=num_classes or space.num_classes,
            dags=tuple(dags),
            stem=tuple(Node(i, f"conv3x3_{c}", c) for i, c in enumerate(stem_channels)),
            pool_size=space.pool_size,
        )

    def _base_channels(self, dag: int, node: int) -> int:
        return parse_operation(self.ops[dag][node]).channels

    # --- phase C: update ---------------------------------------------------------------

    def update(self, arch: Architecture, reward: float) -> None:
        """Algorithm 1, phase C: boost the sampled edges by exp(alpha (reward - beta)), renormalise, move beta."""
        if not math.isfinite(reward):
            raise GramError(f"reward: must be a finite number, got {reward}")
        self.reinforce(arch, reward - self.beta)
        self.beta = (1.0 - self.beta_momentum) * self.beta + self.beta_momentum * reward

    def reinforce(self, arch: Architecture, advantage: float) -> None:
        """Multiply the sampled edges by exp(alpha * advantage), renormalise, record the evidence.

        The paper's rule is the advantage reward - beta (:meth:`update`); other
        baselines (a normalised advantage) call this directly.
        """
        if not math.isfinite(advantage):
            raise GramError(f"advantage: must be a finite number, got {advantage}")
        factor = math.exp(self.alpha * advantage)
        for k, ids in self._edge_ids_of(arch):
            self.weights[k, ids] *= factor
            self.tried[k, ids] += 1
            self.advantage_sum[k, ids] += advantage
        self.weights /= self.weights.sum(axis=1, keepdims=True)
        self.iteration += 1

    def skip(self) -> None:
        """Count an iteration that changes nothing (a dropped candidate, a calibration step)."""
        self.iteration += 1

    def _edge_ids_of(self, arch: Architecture) -> list[tuple[int, np.ndarray]]:
        space = self.space
        if len(arch.dags) != space.num_dags:
            raise GramError(
                f"architecture has {len(arch.dags)} DAGs but the meta-graph has {space.num_dags}; "
                "it was not sampled from this meta-graph"
            )
        result = []
        for dag in arch.dags:
            k = dag.hierarchy * space.dags_per_hierarchy + dag.index
            for node in dag.nodes:
                if node.id >= space.nodes or node.op != self.ops[k][node.id]:
                    raise GramError(
                        f"architecture node {node.id} of DAG {k} ({node.op}) does not match the "
                        "meta-graph; it was not sampled from this meta-graph"
                    )
            if dag.edges:
                pairs = np.asarray(dag.edges)
                result.append((k, edge_ids(space.nodes, pairs[:, 0], pairs[:, 1])))
        return result

    # --- inspection ---------------------------------------------------------------------

    def strengths(self) -> np.ndarray:
        """s_e = w_e / max(w) per DAG: what structure-level pruning thresholds."""
        return self.weights / self.weights.max(axis=1, keepdims=True)

    def convergence(self) -> dict[str, np.ndarray]:
        """Per-DAG signals that show whether the search has settled (spec, open points)."""
        w = self.weights
        entropy = -(w * np.log(w)).sum(axis=1)
        pi = self.inclusion_probabilities()
        return {
            "entropy": entropy,
            "effective_edges": np.exp(entropy),
            "max_pi": pi.max(axis=1),
            "edges_pi_ge_half": (pi >= 0.5).sum(axis=1),
        }

    # --- persistence --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        src, dst = edge_endpoints(self.space.nodes)
        return {
            "format": FORMAT,
            "version": VERSION,
            "space": self.space.to_dict(),
            "seed": self.seed,
            "alpha": self.alpha,
            "beta": self.beta,
            "beta_momentum": self.beta_momentum,
            "sampling": {
                "density": self.density,
                "pi_min": self.pi_min,
                "pi_max": self.pi_max,
                **self.sampler.to_dict(),
            },
            "iteration": self.iteration,
            "update_state": self.update_state,
            "dags": [
                {
                    "hierarchy": k // self.space.dags_per_hierarchy,
                    "index": k % self.space.dags_per_hierarchy,
                    "ops": list(self.ops[k]),
                    "edges": [
                        [i, j, w]
                        for i, j, w in zip(
                            src.tolist(), dst.tolist(), self.weights[k].tolist(), strict=True
                        )
                    ],
                    "tried": self.tried[k].tolist(),
                    "advantage_sum": self.advantage_sum[k].tolist(),
                }
                for k in range(self.space.num_dags)
            ],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically: a kill mid-write leaves the previous file."""
        write_json_atomic(path, self.to_dict())
        return Path(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "metagraph") -> MetaGraph:
        try:
            space = SearchSpace.from_dict(data["space"])
            src, dst = edge_endpoints(space.nodes)
            weights = []
            for k, dag in enumerate(data["dags"]):
                edges = np.asarray(dag["edges"], dtype=np.float64)
                if edges.shape != (space.num_edges, 3) or not (
                    np.array_equal(edges[:, 0], src) and np.array_equal(edges[:, 1], dst)
                ):
                    raise GramError(
                        f"dags[{k}].edges must list all {space.num_edges} edges (i < j) in order"
                    )
                weights.append(edges[:, 2])
            sampling = data["sampling"]
            dags = data["dags"]
            has_stats = data.get("version", VERSION) >= 2
            return cls(
                space=space,
                ops=[list(dag["ops"]) for dag in data["dags"]],
                weights=np.stack(weights) if weights else np.zeros((0, space.num_edges)),
                seed=int(data["seed"]),
                alpha=float(data["alpha"]),
                beta=float(data["beta"]),
                beta_momentum=float(data["beta_momentum"]),
                density=float(sampling["density"]),
                pi_min=float(sampling["pi_min"]),
                pi_max=float(sampling["pi_max"]),
                sampler=SamplerSettings.from_dict(sampling),
                iteration=int(data["iteration"]),
                tried=np.array([d["tried"] for d in dags], np.int64) if has_stats else None,
                advantage_sum=np.array([d["advantage_sum"] for d in dags]) if has_stats else None,
                update_state=dict(data.get("update_state") or {}),
            )
        except GramError as exc:
            raise GramError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise GramError(
                f"{where}: malformed meta-graph ({exc!r}); the file is corrupt"
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MetaGraph:
        return cls.from_dict(read_versioned_json(path, FORMAT, READABLE_VERSIONS), str(path))


def scale_channels(channels: int, upscale: float, max_channels: int | None) -> int:
    """Node-wise channel up-scaling, then the optional maximum filter depth."""
    scaled = max(1, round(channels * upscale))
    return min(scaled, max_channels) if max_channels else scaled


def validate_hyperparameters(
    seed: int,
    alpha: float,
    beta: float,
    beta_momentum: float,
    density: float,
    pi_min: float,
    pi_max: float,
) -> None:
    require_int("search.seed", seed, 0)
    if not is_finite_number(beta):
        raise field_error("search.beta", f"must be a finite number, got {beta!r}")
    if not (isinstance(alpha, (int, float)) and alpha > 0 and math.isfinite(alpha)):
        raise field_error("search.alpha", f"must be a positive number, got {alpha!r}")
    if not (isinstance(beta_momentum, (int, float)) and 0 <= beta_momentum <= 1):
        raise field_error("search.beta_momentum", f"must be in [0, 1], got {beta_momentum!r}")
    if not (isinstance(density, (int, float)) and 0 < density <= 1):
        raise field_error("search.density", f"must be in (0, 1], got {density!r}")
    if not (0 <= pi_min < pi_max <= 1):
        raise field_error(
            "search.pi_min/pi_max", f"need 0 <= pi_min < pi_max <= 1, got {pi_min!r}, {pi_max!r}"
        )
