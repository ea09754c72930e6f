"""The search callback that applies the GRAM update after each evaluated candidate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gramnas.architecture import Architecture
from gramnas.counting import count_macs, count_params
from gramnas.latency import LatencyResult
from gramnas.metagraph import MetaGraph
from gramnas.search.reward import CandidateMetrics, Reward


@dataclass
class CandidateOutcome:
    metrics: CandidateMetrics
    reward: float
    latency: LatencyResult
    timings: dict[str, float] = field(default_factory=dict)


class MetaGraphUpdate:
    """Turns a candidate's accuracy and latency into a reward and updates the meta-graph.

    It runs in the search's own process, in sample order, once per candidate:
    candidates may be trained in other processes or on other machines, but the
    meta-graph has one owner. The math stays in :meth:`MetaGraph.update`.
    """

    def __init__(self, metagraph: MetaGraph, reward: Reward) -> None:
        self.metagraph = metagraph
        self.reward = reward

    def on_candidate_end(
        self, arch: Architecture, accuracy: float, latency: LatencyResult
    ) -> CandidateOutcome:
        start = time.perf_counter()
        metrics = CandidateMetrics(
            accuracy, latency.median_ms, count_macs(arch), count_params(arch)
        )
        reward = self.reward(metrics)
        self.metagraph.update(arch, reward)
        return CandidateOutcome(metrics, reward, latency, {"update": time.perf_counter() - start})
