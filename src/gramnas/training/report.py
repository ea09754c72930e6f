"""What a finished training run reports: counts, latency, ONNX export checked in ONNX Runtime."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gramnas.counting import (
    count_macs,
    count_params,
    count_with_hooks,
    format_mac_share,
    mac_share_by_resolution,
)
from gramnas.export import export_onnx
from gramnas.latency import LatencyBackend
from gramnas.model import SwiftNet


def macs_and_params(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """Analytic for SwiftNets, forward hooks for any other model (same convention)."""
    if isinstance(model, SwiftNet):
        return count_macs(model.architecture), count_params(model.architecture)
    return count_with_hooks(model, input_shape)


def depth_and_mac_share(model: nn.Module) -> dict[str, Any]:
    """A SwiftNet's depth and MAC share per feature-map size; other models report none."""
    if not isinstance(model, SwiftNet):
        return {}
    arch = model.architecture
    return {"depth": arch.depth, "mac_share": mac_share_by_resolution(arch)}


def export_and_check(
    model: nn.Module, input_shape: tuple[int, int, int], path: str | os.PathLike[str]
) -> float:
    """Write ``model.onnx`` and return the largest |ONNX Runtime - PyTorch| output difference."""
    import onnxruntime as ort

    model = model.eval()
    data = export_onnx(model, input_shape, path)
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    return float(np.abs(got - expected).max())


def run_metrics(
    name: str,
    model: nn.Module,
    input_shape: tuple[int, int, int],
    test: dict[str, float],
    latency: LatencyBackend | None,
    run_dir: Path,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The content of ``metrics.json``: accuracy, size, density, latency, export check."""
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    macs, params = macs_and_params(model, input_shape)
    top1 = 100.0 * test["test/acc"]
    metrics: dict[str, Any] = {
        "model": name,
        "top1": top1,
        "macs": macs,
        "params": params,
        "accuracy_density": top1 / (macs / 1e6),  # top-1 % per MMAC (paper)
        **depth_and_mac_share(model),
    }
    if "test/acc_top5" in test:
        metrics["top5"] = 100.0 * test["test/acc_top5"]
    metrics["onnx_max_abs_diff"] = export_and_check(model, input_shape, run_dir / "model.onnx")
    if latency is not None:
        result = latency.measure(model, input_shape)
        metrics["latency_ms"] = result.median_ms
        metrics["latency"] = result.to_dict()
    metrics.update(extra)
    return metrics


def write_metrics(metrics: dict[str, Any], run_dir: Path) -> None:
    """Write ``metrics.json`` and print the line a user reads at the end of a run."""
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    shape = ""
    if "depth" in metrics:
        shape = f"depth {metrics['depth']} ({format_mac_share(metrics['mac_share'])})  "
    print(
        f"top-1 {metrics['top1']:.2f}%  {metrics['macs'] / 1e6:.2f} MMACs  {metrics['params']} params  "
        f"{shape}-> {run_dir}"
    )
