"""One candidate of a search, from its sampling to its line in the search's logs.

A single :class:`CandidateResult` travels the whole way: the executor fills in
its proxy accuracy and latency (in a worker process, if need be),
:class:`~gramnas.search.update.MetaGraphUpdate` its reward and the meta-graph
state it left, and :meth:`CandidateResult.to_record` turns it into the line of
``candidates.jsonl`` and ``search_log.csv``. A field added here reaches the log
without being copied through intermediate types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gramnas.architecture import Architecture
from gramnas.counting import mac_share_by_resolution
from gramnas.latency import LatencyResult
from gramnas.search.diagnostics import reward_correlations
from gramnas.search.reward import CandidateMetrics


@dataclass(frozen=True)
class Candidate:
    iteration: int
    architecture: Architecture
    seed: int  # torch seed of its proxy training


@dataclass
class CandidateResult:
    """What the search knows of one candidate; filled in as it goes, logged by :meth:`to_record`."""

    candidate: Candidate
    accuracy: float | None = None  # on the proxy validation set; None: training failed
    latency: LatencyResult | None = None  # None: not measured (or the measurement failed)
    error: str | None = None  # the first failure: training's, else the latency measurement's
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase, in order
    worker: str = "main"
    attempts: int = 1  # more than 1 when a worker died training it
    # Set by MetaGraphUpdate: metrics is the reward's input, None for a skipped candidate.
    metrics: CandidateMetrics | None = None
    reward: float | None = None
    advantage: float | None = None
    beta: float | None = None  # the meta-graph's after this candidate
    convergence: dict[str, np.ndarray] = field(default_factory=dict)  # per DAG, after it

    @property
    def architecture(self) -> Architecture:
        return self.candidate.architecture

    @property
    def status(self) -> str:
        """ok; failed (training failed, scored at the lowest accuracy); skipped (no update)."""
        if self.metrics is None:
            return "skipped"
        return "failed" if self.error else "ok"

    def to_record(self, earlier: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The log line; the reward correlations are over ``earlier`` records and this one."""
        arch, metrics, per_dag = self.architecture, self.metrics, self.convergence
        record = {
            "iteration": self.candidate.iteration,
            "status": self.status,
            "error": self.error,
            "architecture_id": arch.id,
            "accuracy": metrics.accuracy if metrics else None,
            "latency_ms": metrics.latency_ms if metrics else None,
            "macs": metrics.macs if metrics else None,
            "params": metrics.params if metrics else None,
            "depth": arch.depth,
            "reward": self.reward,
            "advantage": self.advantage,
            "beta": self.beta,
            "edges": arch.num_edges,
            "nodes": arch.num_nodes,
            "seconds": round(sum(self.timings.values()), 4),  # this candidate's own work
            "effective_edges": float(np.mean(per_dag["effective_edges"])),
            "max_pi": float(np.max(per_dag["max_pi"])),
            "min_effective_edges": float(np.min(per_dag["effective_edges"])),
            "share_tried": float(np.mean(per_dag["share_tried"])),
            "tried_below_untried": float(np.mean(per_dag["tried_below_untried"])),
        }
        record |= reward_correlations([*earlier, record])
        return record | {
            "timings": {k: round(v, 5) for k, v in self.timings.items()},
            "latency": self.latency.to_dict() if metrics and self.latency else None,
            "convergence": {k: v.tolist() for k, v in per_dag.items()},
            "mac_share": mac_share_by_resolution(arch),
            "architecture": arch.to_dict(),
            "worker": self.worker,
            "attempts": self.attempts,
        }
