"""The search callback: the one owner of meta-graph changes, update and skip alike."""

from __future__ import annotations

import time
from typing import Any

from gramnas.counting import count_macs, count_params
from gramnas.metagraph import MetaGraph
from gramnas.search.advantage import PaperAdvantage
from gramnas.search.candidate import CandidateResult
from gramnas.search.diagnostics import per_dag_signals
from gramnas.search.reward import CandidateMetrics, Reward


class MetaGraphUpdate:
    """Turns a candidate's accuracy and latency into a reward and an advantage, and updates the meta-graph.

    It runs in the search's own process, in sample order, once per candidate:
    candidates may be trained in other processes or on other machines, but the
    meta-graph has one owner, and the search loop never changes it. The state
    of the reward (a calibrated target) and of the advantage (running moments)
    lives in ``metagraph.update_state``, so it is checkpointed with the weights.
    Each call records in the candidate's result what it did and the meta-graph
    state it left (beta, per-DAG convergence), which the log reports.
    """

    def __init__(self, metagraph: MetaGraph, reward: Reward, advantage: Any = None) -> None:
        self.metagraph = metagraph
        self.reward = reward
        self.advantage = advantage if advantage is not None else PaperAdvantage()
        for name, part in self._stateful_parts():
            part.load_state_dict(metagraph.update_state.get(name, {}))

    def on_candidate_end(self, result: CandidateResult) -> None:
        """Score a candidate with an accuracy and a latency, and update the meta-graph with it."""
        if result.accuracy is None or result.latency is None:
            raise ValueError("a candidate without accuracy or latency is skipped, not scored")
        start = time.perf_counter()
        arch = result.architecture
        result.metrics = CandidateMetrics(
            result.accuracy, result.latency.median_ms, count_macs(arch), count_params(arch)
        )
        result.reward = self.reward(result.metrics)
        result.advantage = self.advantage.apply(self.metagraph, arch, result.reward)
        for name, part in self._stateful_parts():
            self.metagraph.update_state[name] = part.state_dict()
        result.timings["update"] = time.perf_counter() - start
        self._record_state(result)

    def on_candidate_skipped(self, result: CandidateResult) -> None:
        """A candidate without a reward (failed and skipped, or no latency): count it, change nothing."""
        self.metagraph.skip()
        self._record_state(result)

    def _record_state(self, result: CandidateResult) -> None:
        result.beta = self.metagraph.beta
        result.convergence = per_dag_signals(self.metagraph)

    def _stateful_parts(self) -> list[tuple[str, Any]]:
        parts = [("reward", self.reward), ("advantage", self.advantage)]
        return [(name, part) for name, part in parts if hasattr(part, "state_dict")]
