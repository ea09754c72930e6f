"""The callback that applies the GRAM update after each proxy-trained candidate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

from gramnas.architecture import Architecture
from gramnas.counting import count_macs, count_params
from gramnas.latency import LatencyBackend, LatencyResult
from gramnas.metagraph import MetaGraph
from gramnas.search.reward import CandidateMetrics, Reward


@dataclass
class CandidateOutcome:
    metrics: CandidateMetrics
    reward: float
    latency: LatencyResult
    timings: dict[str, float] = field(default_factory=dict)


class MetaGraphUpdate(Callback):
    """On the end of a candidate's validation: measure latency, compute the reward, update the meta-graph.

    The math stays in :meth:`MetaGraph.update`; this callback only gathers its
    inputs. ``outcome`` holds the last candidate's result for the search log.
    """

    def __init__(self, metagraph: MetaGraph, latency: LatencyBackend, reward: Reward) -> None:
        self.metagraph = metagraph
        self.latency = latency
        self.reward = reward
        self.outcome: CandidateOutcome | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.VALIDATING:
            return  # validation inside fit is the user's business; the update follows Trainer.validate
        arch = pl_module.architecture
        self.outcome = self.apply(arch, float(trainer.callback_metrics["val/acc"]))

    def apply(self, arch: Architecture, accuracy: float) -> CandidateOutcome:
        """Reward and update for one candidate (also used for failed candidates, with accuracy 0)."""
        start = time.perf_counter()
        with torch.inference_mode(False), torch.no_grad():  # Lightning validates in inference mode
            latency = self.latency.measure(arch)
        measured = time.perf_counter()
        metrics = CandidateMetrics(
            accuracy, latency.median_ms, count_macs(arch), count_params(arch)
        )
        reward = self.reward(metrics)
        self.metagraph.update(arch, reward)
        timings = {"latency": measured - start, "update": time.perf_counter() - measured}
        return CandidateOutcome(metrics, reward, latency, timings)
