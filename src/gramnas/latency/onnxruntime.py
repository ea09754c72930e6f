"""ONNX Runtime backend: export in memory, time batch-1 inference in a session.

One intra-op thread by default: on the 2-core reference machine it repeats
within 5-10%, while two threads vary up to 2x between processes.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import field_error
from gramnas.export import DEFAULT_OPSET, export_onnx
from gramnas.latency.base import (
    MIN_RUNS,
    RUNS,
    WARMUP,
    LatencyBackend,
    LatencyResult,
    TimingProtocol,
    cpu_description,
    resolve_model,
    summarise,
)

_OPT_LEVELS = ("disable", "basic", "extended", "all")


class OnnxRuntimeBackend(LatencyBackend):
    name = "onnxruntime"

    def __init__(
        self,
        threads: int = 1,
        optimization: str = "all",
        provider: str = "CPUExecutionProvider",
        opset: int = DEFAULT_OPSET,
        warmup: int = WARMUP,
        runs: int = RUNS,
        min_runs: int = MIN_RUNS,
        time_budget_s: float | None = None,
        batch_size: int = 1,
    ) -> None:
        import onnxruntime as ort

        if threads < 1:
            raise field_error("latency.threads", f"must be >= 1, got {threads}")
        if optimization not in _OPT_LEVELS:
            raise field_error(
                "latency.optimization",
                f"unknown level {optimization!r}",
                f"choose one of {_OPT_LEVELS}",
            )
        if provider not in ort.get_available_providers():
            raise field_error(
                "latency.provider",
                f"{provider!r} is not available in this onnxruntime build",
                f"available: {ort.get_available_providers()}",
            )
        self._ort = ort
        self.threads = threads
        self.optimization = optimization
        self.provider = provider
        self.opset = opset
        self.batch_size = batch_size
        self.protocol = TimingProtocol(warmup, runs, min_runs, time_budget_s)

    def session(self, onnx_bytes: bytes):  # -> ort.InferenceSession
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.optimization]
        return ort.InferenceSession(onnx_bytes, options, providers=[self.provider])

    def measure(
        self,
        model_or_architecture: nn.Module | Architecture,
        input_shape: tuple[int, ...] | None = None,
    ) -> LatencyResult:
        model, shape = resolve_model(model_or_architecture, input_shape)
        session = self.session(export_onnx(model, shape, opset=self.opset))
        feed = {
            session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(
                (self.batch_size, *shape), dtype=np.float32
            )
        }
        times = self.protocol.time(lambda: session.run(None, feed))
        device = cpu_description() if self.provider == "CPUExecutionProvider" else self.provider
        return summarise(
            times,
            backend=self.name,
            device=device,
            runtime_version=self._ort.__version__,
            threads=self.threads,
        )
