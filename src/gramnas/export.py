"""ONNX export shared by the latency backends and the training outputs."""

from __future__ import annotations

import io
import os

import torch
from torch import nn

DEFAULT_OPSET = 17


def export_onnx(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
) -> bytes:
    """Export ``model`` (in eval mode) for a batch-1 input; return the bytes, and write ``path`` if given.

    The TorchScript exporter (``dynamo=False``) honours opset 17 and needs no
    onnxscript; both exporters time the same in ONNX Runtime.
    """
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (torch.zeros(1, *input_shape),),
                buffer,
                opset_version=opset,
                input_names=["input"],
                output_names=["logits"],
                dynamo=False,
            )
    finally:
        model.train(was_training)
    data = buffer.getvalue()
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data
