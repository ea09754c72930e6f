"""Pluggable rewards: what the meta-graph update maximises.

The paper's reward (eq. 2) is accuracy minus gamma x latency in milliseconds;
its scale, and with it the update's step size, depends on the device's units.
The other two are built around a target cost T (latency in ms, MACs or
parameters) and are unit-free: MnasNet's soft constraint and TuNAS's absolute
reward. Without a configured target, T is the median cost of the first
candidates, so a search needs no knowledge of the device to start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gramnas.errors import GramError, field_error, is_finite_number, require_int

COST_METRICS = ("latency_ms", "macs", "params")


@dataclass(frozen=True)
class CandidateMetrics:
    accuracy: float  # fraction in [0, 1] on the proxy validation set
    latency_ms: float
    macs: int
    params: int


class Reward(Protocol):
    def __call__(self, metrics: CandidateMetrics) -> float: ...


@dataclass(frozen=True)
class PenalizedAccuracy:
    """The paper: eta' = accuracy - gamma * latency_ms - per_mmac * MMACs - per_mparam * M parameters."""

    gamma: float = 1.0
    per_mmac: float = 0.0
    per_mparam: float = 0.0

    def __post_init__(self) -> None:
        for name in ("gamma", "per_mmac", "per_mparam"):
            value = getattr(self, name)
            if not is_finite_number(value) or value < 0:
                raise field_error(f"reward.{name}", f"must be a number >= 0, got {value!r}")

    def __call__(self, metrics: CandidateMetrics) -> float:
        return (
            metrics.accuracy
            - self.gamma * metrics.latency_ms
            - self.per_mmac * metrics.macs / 1e6
            - self.per_mparam * metrics.params / 1e6
        )


class TargetedReward:
    """A reward of accuracy and the ratio cost / T; T given, or calibrated on the first candidates.

    While calibrating, T is the median cost of the candidates seen so far
    (this one included); after ``calibration`` candidates it stays fixed. The
    costs seen are the reward's state, saved with the meta-graph.
    """

    def __init__(
        self, metric: str = "latency_ms", target: float | None = None, calibration: int = 20
    ) -> None:
        if metric not in COST_METRICS:
            raise field_error(
                "reward.metric", f"unknown cost {metric!r}", f"choose one of {COST_METRICS}"
            )
        if target is not None and (not is_finite_number(target) or target <= 0):
            raise field_error("reward.target", f"must be a positive number or null, got {target!r}")
        self.metric = metric
        self.target = target
        self.calibration = require_int("reward.calibration", calibration, 1)
        self.costs_seen: list[float] = []

    def current_target(self, cost: float | None = None) -> float:
        """T for a candidate of this cost (a calibrating reward records the cost)."""
        if self.target is not None:
            return float(self.target)
        if cost is not None and len(self.costs_seen) < self.calibration:
            self.costs_seen.append(float(cost))
        if not self.costs_seen:
            raise GramError("reward.target: no target yet; set one or evaluate a candidate first")
        return float(np.median(self.costs_seen))

    def __call__(self, metrics: CandidateMetrics) -> float:
        cost = float(getattr(metrics, self.metric))
        if not (math.isfinite(cost) and cost > 0):
            raise GramError(
                f"reward.metric: {self.metric} must be > 0 to build a ratio, got {cost}"
            )
        return self.combine(metrics.accuracy, cost / self.current_target(cost))

    def combine(self, accuracy: float, ratio: float) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"costs_seen": list(self.costs_seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.costs_seen = [float(c) for c in state.get("costs_seen", [])]


class SoftConstraint(TargetedReward):
    """MnasNet (Tan et al. 2019): accuracy * (cost / T) ** exponent, exponent < 0.

    With exponent -0.07, halving the cost is worth about 5% of relative accuracy.
    """

    def __init__(self, exponent: float = -0.07, **target: Any) -> None:
        super().__init__(**target)
        if not is_finite_number(exponent) or exponent >= 0:
            raise field_error("reward.exponent", f"must be a negative number, got {exponent!r}")
        self.exponent = float(exponent)

    def combine(self, accuracy: float, ratio: float) -> float:
        return accuracy * ratio**self.exponent


class AbsoluteReward(TargetedReward):
    """TuNAS (Bender et al. 2020): accuracy + penalty * |cost / T - 1|, penalty < 0.

    Unlike the soft constraint it also penalises networks cheaper than T, so
    the search aims at the target rather than below it.
    """

    def __init__(self, penalty: float = -0.07, **target: Any) -> None:
        super().__init__(**target)
        if not is_finite_number(penalty) or penalty >= 0:
            raise field_error("reward.penalty", f"must be a negative number, got {penalty!r}")
        self.penalty = float(penalty)

    def combine(self, accuracy: float, ratio: float) -> float:
        return accuracy + self.penalty * abs(ratio - 1.0)
