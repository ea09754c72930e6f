"""Latency estimated from analytic MACs, for searches that cannot measure."""

from __future__ import annotations

from torch import nn

from gramnas.architecture import Architecture
from gramnas.counting import count_macs
from gramnas.errors import field_error
from gramnas.latency.base import LatencyBackend, LatencyResult, require_architecture


class MacsBackend(LatencyBackend):
    """latency_ms = overhead_ms + MACs / (gmacs_per_s * 1e9) * 1e3; deterministic, so resumes repeat exactly."""

    name = "macs"

    def __init__(self, gmacs_per_s: float = 10.0, overhead_ms: float = 0.0) -> None:
        if gmacs_per_s <= 0:
            raise field_error("latency.gmacs_per_s", f"must be > 0, got {gmacs_per_s}")
        self.gmacs_per_s = gmacs_per_s
        self.overhead_ms = overhead_ms

    def measure(
        self,
        model_or_architecture: nn.Module | Architecture,
        input_shape: tuple[int, ...] | None = None,
    ) -> LatencyResult:
        arch = require_architecture(model_or_architecture, "macs")
        ms = self.overhead_ms + count_macs(arch) / (self.gmacs_per_s * 1e9) * 1e3
        return LatencyResult(
            ms,
            None,
            0,
            self.name,
            f"model: {self.gmacs_per_s} GMAC/s",
            "analytic",
            statistic="predicted",
        )
