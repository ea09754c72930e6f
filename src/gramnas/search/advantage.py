"""Advantages: how far a candidate's reward is above what the search expects.

The update multiplies the sampled edges by exp(alpha * advantage). The paper's
advantage is reward - beta, in the reward's own units, so alpha's meaning
changes with the device and the reward (docs/search-dynamics.md). The
normalised advantage divides by a running scale, so one alpha means the same
step on every device.
"""

from __future__ import annotations

import math
from typing import Any

from gramnas.architecture import Architecture
from gramnas.errors import field_error, require_int
from gramnas.metagraph import MetaGraph


class PaperAdvantage:
    """Algorithm 1: advantage = reward - beta; beta is a moving average kept in the meta-graph."""

    def apply(self, metagraph: MetaGraph, arch: Architecture, reward: float) -> float:
        advantage = reward - metagraph.beta
        metagraph.update(arch, reward)
        return advantage

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class NormalizedAdvantage:
    """A = clip((R - b) / s, -clip, clip) with b and s^2 running moments of the reward.

    The first ``warmup`` candidates only initialise b and s^2 (their exact mean
    and variance) and leave the meta-graph unchanged; afterwards the moments
    move with ``momentum``, after the candidate's advantage is taken.
    """

    def __init__(self, momentum: float = 0.1, warmup: int = 20, clip: float = 3.0) -> None:
        if not (isinstance(momentum, (int, float)) and 0 < momentum <= 1):
            raise field_error("advantage.momentum", f"must be in (0, 1], got {momentum!r}")
        if not (isinstance(clip, (int, float)) and clip > 0 and math.isfinite(clip)):
            raise field_error("advantage.clip", f"must be a positive number, got {clip!r}")
        self.momentum = float(momentum)
        self.warmup = require_int("advantage.warmup", warmup, 2)
        self.clip = float(clip)
        self.count, self.mean, self.var = 0, 0.0, 0.0

    def apply(self, metagraph: MetaGraph, arch: Architecture, reward: float) -> float:
        if self.count < self.warmup:  # Welford: exact moments of the first rewards
            self.count += 1
            delta = reward - self.mean
            self.mean += delta / self.count
            self.var += (delta * (reward - self.mean) - self.var) / self.count
            metagraph.skip()
            return 0.0
        scale = math.sqrt(self.var) if self.var > 0 else 1.0
        advantage = max(-self.clip, min(self.clip, (reward - self.mean) / scale))
        metagraph.reinforce(arch, advantage)
        m = self.momentum
        self.var = (1 - m) * self.var + m * (reward - self.mean) ** 2
        self.mean = (1 - m) * self.mean + m * reward
        self.count += 1
        return advantage

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "var": self.var}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state.get("count", 0))
        self.mean = float(state.get("mean", 0.0))
        self.var = float(state.get("var", 0.0))
