"""FBNet-style lookup-table latency: per-piece latencies measured once on the target, then summed, then corrected.

Each piece of a network (a conv -> BN -> ELU node at its channels, resolution
and stride; a concatenation; a max-pool; the head) is measured alone, as a
one-piece model, with a measuring backend (ONNX Runtime by default, or TFLite
or a phone over ADB). The raw prediction is the sum of the pieces' entries plus
a fixed per-inference overhead (the latency of a model that does almost
nothing). Missing entries are measured and added, so a table fills itself
during a search; it is a versioned JSON file that records device and runtime.

The sum of isolated pieces departs from the whole network in two ways,
which ``calibrate`` fits per device on a few whole networks measured end to end:

- A cost per piece: the raw sum falls short on networks of many small
  pieces, most likely because in context each piece runs as several
  operators (ONNX Runtime: Conv, a layout reorder, Elu) whose dispatch the
  one-piece model's overhead does not match.
- Memory-bound pieces (concatenations, max-pools, the head) timed alone pay
  layout changes that the whole network shares or skips: LiteRT wraps each
  NCHW one-piece model in two transposes, which doubles a max-pool's time.
  Conv pieces pay them in context too (LiteRT runs the ELU in NCHW).

(ONNX Runtime also joins a DAG's output concatenation into its hierarchy's;
those copies are under 1% of the sum.) The calibrated prediction is

    predicted_ms = a * conv_ms + b * other_ms + c * pieces        (a, b, c >= 0)

where ``conv_ms`` sums the conv pieces' entries, ``other_ms`` the fixed
overhead and the other pieces' entries, and ``pieces`` counts the pieces;
until calibrated, ``a = b = 1, c = 0``: the raw sum.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gramnas.architecture import Architecture, Piece
from gramnas.errors import GramError, field_error
from gramnas.jsonio import read_versioned_json, write_json_atomic
from gramnas.latency import get_backend
from gramnas.latency.base import LatencyBackend, LatencyResult, require_architecture
from gramnas.model import ConvBNELU

FORMAT = "gramnas.latency_lut"
VERSION = 2  # 2 adds "correction"; version 1 tables (no correction) still load
READABLE_VERSIONS = (1, 2)

# What the correction is linear in (see the module's docstring); IDENTITY leaves the raw sum.
FEATURES = ("conv_ms", "other_ms", "pieces")
IDENTITY = {"conv_ms": 1.0, "other_ms": 1.0, "pieces": 0.0}


class _Concat(nn.Module):
    """Concatenates ``inputs`` copies of its input: the cost of joining that many tensors."""

    def __init__(self, inputs: int) -> None:
        super().__init__()
        self.inputs = inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x] * self.inputs, dim=1)


class _Overhead(nn.Module):
    """Almost no work: what one inference costs beyond its layers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1, :1, :1] * 2.0


def overhead_key(input_shape: tuple[int, int, int]) -> str:
    return f"overhead @{'x'.join(map(str, input_shape))}"


def piece_key(piece: Piece) -> str:
    h, w = piece.in_size
    if piece.kind == "conv":
        return f"conv{piece.kernel}x{piece.kernel} s{piece.stride} {piece.in_channels}->{piece.out_channels} @{h}x{w}"
    if piece.kind == "concat":
        return f"concat x{piece.inputs} {piece.out_channels} @{h}x{w}"
    if piece.kind == "maxpool":
        return f"maxpool{piece.kernel} {piece.in_channels} @{h}x{w}"
    if piece.kind == "head":
        return f"head {piece.in_channels}->{piece.out_channels} @{h}x{w}"
    raise ValueError(f"unknown piece kind {piece.kind!r}")


def piece_module(piece: Piece) -> tuple[nn.Module, tuple[int, int, int]]:
    """A one-piece model and its (C, H, W) input, to be timed alone."""
    h, w = piece.in_size
    if piece.kind == "conv":
        module: nn.Module = ConvBNELU(
            piece.in_channels, piece.out_channels, piece.kernel, piece.stride
        )
        return module, (piece.in_channels, h, w)
    if piece.kind == "concat":
        per_input = -(-piece.out_channels // piece.inputs)
        return _Concat(piece.inputs), (per_input, h, w)
    if piece.kind == "maxpool":
        return nn.MaxPool2d(piece.kernel, piece.stride), (piece.in_channels, h, w)
    head = nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(piece.in_channels, piece.out_channels)
    )
    return head, (piece.in_channels, h, w)


def fit_correction(features: np.ndarray, measured_ms: np.ndarray) -> dict[str, float]:
    """Non-negative coefficients that minimise the squared *relative* error.

    ``features`` has one row per network, columns in ``FEATURES`` order. The
    coefficients are costs (per table millisecond, per piece), so none may
    be negative; on few or noisy networks an unbounded fit trades one against
    another. The bounded optimum is the best non-negative solution among
    the least-squares problems that pin a subset of coefficients at zero.
    """
    features, measured_ms = np.asarray(features, float), np.asarray(measured_ms, float)
    if len(measured_ms) < len(FEATURES):
        raise field_error(
            "latency",
            f"calibration needs at least {len(FEATURES)} networks, got {len(measured_ms)}",
            "calibrate on 10-20 networks",
        )
    relative = features / measured_ms[:, None]  # row i / y_i: residuals become relative errors
    target = np.ones(len(measured_ms))
    best, best_residual = np.zeros(len(FEATURES)), np.inf
    for pinned_count in range(len(FEATURES)):
        for pinned in itertools.combinations(range(len(FEATURES)), pinned_count):
            free = [i for i in range(len(FEATURES)) if i not in pinned]
            coefficients = np.zeros(len(FEATURES))
            coefficients[free] = np.linalg.lstsq(relative[:, free], target, rcond=None)[0]
            residual = float(np.sum((relative @ coefficients - target) ** 2))
            if (coefficients >= 0).all() and residual < best_residual:
                best, best_residual = coefficients, residual
    return {name: float(c) for name, c in zip(FEATURES, best, strict=True)}


class LutBackend(LatencyBackend):
    """Predicts latency from a lookup table and its correction; measures and stores what the table lacks."""

    name = "lut"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        measure_with: str = "onnxruntime",
        measure_options: dict[str, Any] | None = None,
        measure_missing: bool = True,
    ) -> None:
        self.path = Path(path) if path else None
        self.measure_missing = measure_missing
        self.measure_with = measure_with
        self.measure_options = dict(measure_options or {})
        self._measurer: LatencyBackend | None = None
        self.entries: dict[str, float] = {}
        self.correction: dict[str, float] | None = None  # None: the raw sum (IDENTITY)
        self.calibration_networks = 0
        self.device = ""
        self.runtime = ""
        if self.path and self.path.exists():
            self._load(self.path)

    # --- the table ----------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        data = read_versioned_json(path, FORMAT, READABLE_VERSIONS)
        try:
            measured_with = data["measured_with"]
            if measured_with["backend"] != self.measure_with:
                raise GramError(
                    f"latency.path: {path} was measured with {measured_with['backend']}, "
                    f"not {self.measure_with}; use another table file"
                )
            self.entries = {str(k): float(v) for k, v in data["entries"].items()}
            self.device, self.runtime = str(data["device"]), str(data["runtime"])
            correction = data.get("correction")  # absent in version 1
            if correction is not None:
                self.correction = {
                    name: float(correction["coefficients"][name]) for name in FEATURES
                }
                self.calibration_networks = int(correction["networks"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GramError(f"{path}: malformed latency table ({exc!r})") from None

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        target = Path(path) if path else self.path
        if target is None:
            raise field_error("latency.path", "no file to save the table to", "pass path=...")
        correction = None
        if self.correction is not None:
            correction = {"coefficients": self.correction, "networks": self.calibration_networks}
        write_json_atomic(
            target,
            {
                "format": FORMAT,
                "version": VERSION,
                "device": self.device,
                "runtime": self.runtime,
                "measured_with": {"backend": self.measure_with, **self.measure_options},
                "correction": correction,
                "entries": dict(sorted(self.entries.items())),
            },
        )
        return target

    def _measure_model(
        self, module: nn.Module | Architecture, input_shape: tuple[int, ...] | None
    ) -> float:
        if self._measurer is None:
            self._measurer = get_backend(self.measure_with, **self.measure_options)
        result = self._measurer.measure(module, input_shape)
        self.device, self.runtime = result.device, f"{result.backend} {result.runtime_version}"
        return result.median_ms

    def _measure_entry(
        self, key: str, module: nn.Module, input_shape: tuple[int, int, int]
    ) -> float:
        if not self.measure_missing:
            raise field_error(
                "latency",
                f"the table has no entry {key!r}",
                "set measure_missing=true or fill the table",
            )
        return self._measure_model(module.eval(), input_shape)

    def overhead_ms(self, input_shape: tuple[int, int, int]) -> float:
        key = overhead_key(input_shape)
        if key not in self.entries:
            self.entries[key] = self._measure_entry(key, _Overhead(), input_shape)
        return self.entries[key]

    def entry_ms(self, piece: Piece, overhead_ms: float) -> float:
        """A piece's own latency: its one-piece model minus the fixed overhead (never below 0)."""
        key = piece_key(piece)
        if key not in self.entries:
            module, shape = piece_module(piece)
            self.entries[key] = max(self._measure_entry(key, module, shape) - overhead_ms, 0.0)
        return self.entries[key]

    # --- prediction ---------------------------------------------------------------------

    def features(self, arch: Architecture) -> dict[str, float]:
        """The ``FEATURES`` of ``arch`` from the table; missing entries are measured and saved."""
        size_before = len(self.entries)
        overhead = self.overhead_ms(arch.input_shape)
        features = {"conv_ms": 0.0, "other_ms": overhead, "pieces": float(len(arch.pieces))}
        for piece in arch.pieces:
            features["conv_ms" if piece.kind == "conv" else "other_ms"] += self.entry_ms(
                piece, overhead
            )
        if self.path and len(self.entries) > size_before:
            self.save()
        return features

    def predict(self, arch: Architecture, calibrated: bool = True) -> float:
        """``coefficients . features``: the table's raw sum, corrected if calibrated (and asked)."""
        coefficients = self.correction if calibrated and self.correction is not None else IDENTITY
        features = self.features(arch)
        return sum(coefficients[name] * features[name] for name in FEATURES)

    def measure_networks(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Whole networks measured end to end by ``measure_with``: the faster of two passes.

        Interference from other processes only ever adds time, and a burst of
        it during one pass would otherwise bias every prediction made with a
        correction fitted on them.
        """
        passes = [[self._measure_model(arch, None) for arch in archs] for _ in range(2)]
        return np.min(passes, axis=0)

    def calibrate(
        self, archs: Sequence[Architecture], measured_ms: Sequence[float] | None = None
    ) -> dict[str, float]:
        """Fit the correction on whole networks measured end to end (``measure_networks`` unless given)."""
        if measured_ms is None:
            measured_ms = self.measure_networks(archs)
        rows = [[features[name] for name in FEATURES] for features in map(self.features, archs)]
        self.correction = fit_correction(np.asarray(rows), np.asarray(measured_ms))
        self.calibration_networks = len(archs)
        if self.path:
            self.save()
        return self.correction

    def measure(
        self,
        model_or_architecture: nn.Module | Architecture,
        input_shape: tuple[int, ...] | None = None,
    ) -> LatencyResult:
        arch = require_architecture(model_or_architecture, "lut")
        ms = self.predict(arch)
        return LatencyResult(
            ms, None, 0, self.name, self.device, self.runtime, statistic="predicted"
        )
