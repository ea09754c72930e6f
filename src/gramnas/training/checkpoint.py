"""Rebuild a trained SwiftNet from its Lightning checkpoint alone, or load weights into a model."""

from __future__ import annotations

import os
import pickle
import re
from typing import Any

import torch
from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError
from gramnas.model import SwiftNet, build_model


def load_swiftnet(path: str | os.PathLike[str]) -> SwiftNet:
    """The checkpoint stores the Architecture next to the weights, so nothing else is needed."""
    checkpoint = read_checkpoint(path)
    if "architecture" not in checkpoint:
        raise GramError(f"{path}: holds no architecture; it was not written by gramnas training")
    model = build_model(Architecture.from_dict(checkpoint["architecture"], str(path)))
    _load_state(model, checkpoint, path)
    return model.eval()


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Weights from a gramnas training checkpoint or a plain ``state_dict`` file into ``model``."""
    _load_state(model, read_checkpoint(path), path)
    return model


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file's dictionary, read with ``weights_only=True``.

    Tensors and plain data only: unpickling anything else can run code from
    whoever wrote the file.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
        raise GramError(f"{path}: cannot read the checkpoint ({_reason(exc)})") from None
    if not isinstance(checkpoint, dict):
        raise GramError(
            f"{path}: holds a {type(checkpoint).__name__}, not a checkpoint or state_dict"
        )
    return checkpoint


def _load_state(model: nn.Module, checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Load the model's weights (a Lightning checkpoint keeps them under ``model.``), checked first.

    torch's own mismatch report is a paragraph per key; this is one line.
    """
    state = checkpoint
    if isinstance(checkpoint.get("state_dict"), dict):
        prefix = "model."
        state = {
            k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
        }
    expected = model.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    reshaped = sorted(
        k
        for k in expected.keys() & state.keys()
        if getattr(state[k], "shape", None) != expected[k].shape
    )
    if missing or unexpected or reshaped:
        first = (missing or unexpected or reshaped)[0]
        raise GramError(
            f"{path}: its weights do not fit the {type(model).__name__}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(reshaped)} of another shape (first: {first})"
        )
    model.load_state_dict(state)


def _reason(exc: BaseException) -> str:
    """Why torch refused, in one line: its weights-only refusal is a paragraph of advice."""
    text = str(exc).strip()
    refused = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. |\n|$)", text)
    if refused:
        return (
            f"not tensors and plain data: {refused.group(1)}; other objects are refused "
            "because unpickling them can run code"
        )
    return text.splitlines()[0] if text else type(exc).__name__
