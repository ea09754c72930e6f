"""Pluggable rewards: what the meta-graph update maximises.

The paper's reward (eq. 2) is accuracy minus gamma x latency in milliseconds;
MACs and parameter penalties extend it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gramnas.errors import field_error


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
    """eta' = accuracy - gamma * latency_ms - per_mmac * MMACs - per_mparam * M parameters."""

    gamma: float = 1.0
    per_mmac: float = 0.0
    per_mparam: float = 0.0

    def __post_init__(self) -> None:
        for name in ("gamma", "per_mmac", "per_mparam"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise field_error(f"search.{name}", f"must be a number >= 0, got {value!r}")

    def __call__(self, metrics: CandidateMetrics) -> float:
        return (
            metrics.accuracy
            - self.gamma * metrics.latency_ms
            - self.per_mmac * metrics.macs / 1e6
            - self.per_mparam * metrics.params / 1e6
        )
