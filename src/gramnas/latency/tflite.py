"""TFLite (LiteRT) backend: convert with litert-torch, time the LiteRT interpreter locally.

litert-torch converts a PyTorch module directly (no ONNX detour), keeps the
NCHW input layout, and is the converter Google maintains for PyTorch; the
``adb`` backend reuses its ``.tflite`` files on phones.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError
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

INSTALL_HINT = "pip install 'gramnas[tflite]'"


def convert_to_tflite(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """A batch-1 ``.tflite`` flatbuffer of ``model`` in eval mode."""
    try:
        import litert_torch
    except ImportError:
        raise GramError(
            f"latency: the tflite converter litert-torch is not installed; {INSTALL_HINT}"
        ) from None
    model = model.eval()
    sample = (torch.zeros(1, *input_shape),)
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):  # progress lines
        edge_model = litert_torch.convert(model, sample)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            edge_model.export(str(path))
        return path.read_bytes()


def tflite_interpreter(content: bytes, threads: int):  # -> ai_edge_litert.interpreter.Interpreter
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise GramError(
            f"latency: the LiteRT interpreter ai-edge-litert is not installed; {INSTALL_HINT}"
        ) from None
    interpreter = Interpreter(model_content=content, num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def run_tflite(interpreter, x: np.ndarray) -> np.ndarray:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def max_abs_difference(model: nn.Module, content: bytes, input_shape: tuple[int, ...]) -> float:
    """How far the converted model's output lies from PyTorch's on one random input."""
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    got = run_tflite(tflite_interpreter(content, threads=1), x.numpy())
    return float(np.abs(got - expected).max())


class TFLiteBackend(LatencyBackend):
    name = "tflite"

    def __init__(
        self,
        threads: int = 1,
        warmup: int = WARMUP,
        runs: int = RUNS,
        min_runs: int = MIN_RUNS,
        time_budget_s: float | None = None,
        check_tolerance: float | None = 1e-3,
    ) -> None:
        for module, package in (
            ("litert_torch", "litert-torch"),
            ("ai_edge_litert", "ai-edge-litert"),
        ):
            if importlib.util.find_spec(module) is None:
                raise GramError(f"latency.name=tflite: {package} is not installed; {INSTALL_HINT}")
        self.threads = threads
        self.protocol = TimingProtocol(warmup, runs, min_runs, time_budget_s)
        self.check_tolerance = check_tolerance

    def measure(
        self,
        model_or_architecture: nn.Module | Architecture,
        input_shape: tuple[int, ...] | None = None,
    ) -> LatencyResult:
        model, shape = resolve_model(model_or_architecture, input_shape)
        content = convert_to_tflite(model, shape)
        if self.check_tolerance is not None:
            difference = max_abs_difference(model, content, shape)
            if not difference <= self.check_tolerance:
                raise GramError(
                    f"latency: the TFLite conversion differs from PyTorch by {difference:.2e} "
                    f"(> {self.check_tolerance}); the converted model is wrong"
                )
        interpreter = tflite_interpreter(content, self.threads)
        x = np.random.default_rng(0).standard_normal((1, *shape), dtype=np.float32)
        times = self.protocol.time(lambda: run_tflite(interpreter, x))
        return summarise(
            times,
            backend=self.name,
            device=cpu_description(),
            runtime_version=f"ai-edge-litert {version('ai-edge-litert')}",
            threads=self.threads,
        )
