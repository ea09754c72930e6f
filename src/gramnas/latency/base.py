"""The latency interface every backend implements, and the measurement protocol.

Protocol: export or build the model once, run ``warmup`` untimed inferences,
then ``runs`` timed ones (stopping early once ``time_budget_s`` is spent, but
never under ``min_runs``), batch 1 by default; report the median and p90.
"""

from __future__ import annotations

import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import field_error
from gramnas.model import SwiftNet, build_model


@dataclass(frozen=True)
class LatencyResult:
    """One latency figure; ``median_ms`` is what rewards and tables read.

    Runtimes that report only a mean and a standard deviation (TFLite's
    ``benchmark_model``) put the mean there, set ``statistic="mean"`` and
    leave ``p90_ms`` empty; predictions set ``statistic="predicted"``.
    """

    median_ms: float
    p90_ms: float | None
    runs: int
    backend: str
    device: str
    runtime_version: str
    threads: int | None = None
    std_ms: float | None = None
    statistic: str = "median"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The protocol's defaults, for every measuring backend; conf/latency/*.yaml do not repeat them.
WARMUP = 10
RUNS = 50
MIN_RUNS = 10


@dataclass(frozen=True)
class TimingProtocol:
    warmup: int = WARMUP
    runs: int = RUNS
    min_runs: int = MIN_RUNS
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.min_runs < 1:
            raise field_error(
                "latency", f"need warmup >= 0, runs >= 1 and min_runs >= 1, got {self}"
            )
        object.__setattr__(self, "min_runs", min(self.min_runs, self.runs))

    def time(self, run_once: Callable[[], object]) -> np.ndarray:
        """Milliseconds of each timed call of ``run_once``."""
        for _ in range(self.warmup):
            run_once()
        times = []
        deadline = None if self.time_budget_s is None else time.perf_counter() + self.time_budget_s
        for i in range(self.runs):
            start = time.perf_counter()
            run_once()
            times.append((time.perf_counter() - start) * 1e3)
            if deadline is not None and i + 1 >= self.min_runs and time.perf_counter() > deadline:
                break
        return np.asarray(times)


def summarise(times_ms: np.ndarray, **fields: Any) -> LatencyResult:
    return LatencyResult(
        median_ms=float(np.median(times_ms)),
        p90_ms=float(np.percentile(times_ms, 90)),
        runs=len(times_ms),
        **fields,
    )


class LatencyBackend(ABC):
    """Measures (or predicts) inference latency of a model on one target."""

    name: str

    @abstractmethod
    def measure(
        self,
        model_or_architecture: nn.Module | Architecture,
        input_shape: tuple[int, ...] | None = None,
    ) -> LatencyResult:
        """Latency of one batch-1 inference; ``input_shape`` is (C, H, W), taken from the Architecture if omitted."""


def resolve_model(
    model_or_architecture: nn.Module | Architecture, input_shape: tuple[int, ...] | None
) -> tuple[nn.Module, tuple[int, ...]]:
    """Build an Architecture if needed and settle the (C, H, W) input shape."""
    if isinstance(model_or_architecture, Architecture):
        return build_model(model_or_architecture), input_shape or model_or_architecture.input_shape
    if input_shape is None:
        raise field_error(
            "input_shape", "is required when measuring an nn.Module", "pass (C, H, W)"
        )
    return model_or_architecture, tuple(input_shape)


def require_architecture(
    model_or_architecture: nn.Module | Architecture, backend: str
) -> Architecture:
    """Predicting backends work from the Architecture: given, or carried by a SwiftNet."""
    if isinstance(model_or_architecture, SwiftNet):
        return model_or_architecture.architecture
    if not isinstance(model_or_architecture, Architecture):
        raise field_error(
            "latency",
            f"the {backend} backend predicts from an Architecture or a SwiftNet, "
            f"not a {type(model_or_architecture).__name__}",
        )
    return model_or_architecture


@lru_cache(maxsize=1)
def cpu_description() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
