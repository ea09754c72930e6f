"""The search callback: the one owner of meta-graph changes, update and skip alike."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gramnas.architecture import Architecture
from gramnas.counting import count_macs, count_params
from gramnas.latency import LatencyResult
from gramnas.metagraph import MetaGraph
from gramnas.search.advantage import PaperAdvantage
from gramnas.search.reward import CandidateMetrics, Reward


@dataclass
class CandidateOutcome:
    metrics: CandidateMetrics
    reward: float
    advantage: float
    latency: LatencyResult
    timings: dict[str, float] = field(default_factory=dict)


class MetaGraphUpdate:
    """Turns a candidate's accuracy and latency into a reward and an advantage, and updates the meta-graph.

    It runs in the search's own process, in sample order, once per candidate:
    candidates may be trained in other processes or on other machines, but the
    meta-graph has one owner, and the search loop never changes it. The state
    of the reward (a calibrated target) and of the advantage (running moments)
    lives in ``metagraph.update_state``, so it is checkpointed with the weights.
    """

    def __init__(self, metagraph: MetaGraph, reward: Reward, advantage: Any = None) -> None:
        self.metagraph = metagraph
        self.reward = reward
        self.advantage = advantage if advantage is not None else PaperAdvantage()
        for name, part in self._stateful_parts():
            part.load_state_dict(metagraph.update_state.get(name, {}))

    def on_candidate_end(
        self, arch: Architecture, accuracy: float, latency: LatencyResult
    ) -> CandidateOutcome:
        start = time.perf_counter()
        metrics = CandidateMetrics(
            accuracy, latency.median_ms, count_macs(arch), count_params(arch)
        )
        reward = self.reward(metrics)
        advantage = self.advantage.apply(self.metagraph, arch, reward)
        for name, part in self._stateful_parts():
            self.metagraph.update_state[name] = part.state_dict()
        elapsed = time.perf_counter() - start
        return CandidateOutcome(metrics, reward, advantage, latency, {"update": elapsed})

    def on_candidate_skipped(self) -> None:
        """A candidate without a reward (failed and skipped, or no latency): count it, change nothing."""
        self.metagraph.skip()

    def _stateful_parts(self) -> list[tuple[str, Any]]:
        parts = [("reward", self.reward), ("advantage", self.advantage)]
        return [(name, part) for name, part in parts if hasattr(part, "state_dict")]
