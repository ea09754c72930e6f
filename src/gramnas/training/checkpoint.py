"""Rebuild a trained SwiftNet from its Lightning checkpoint alone."""

from __future__ import annotations

import os
import pickle
import re

import torch

from gramnas.architecture import Architecture
from gramnas.errors import GramError
from gramnas.model import SwiftNet, build_model


def load_swiftnet(path: str | os.PathLike[str]) -> SwiftNet:
    """The checkpoint stores the Architecture next to the weights, so nothing else is needed.

    It is read with ``weights_only=True``: tensors and plain data only, since
    unpickling anything else can run code from whoever wrote the file.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
        raise GramError(f"{path}: cannot read the checkpoint ({_reason(exc)})") from None
    if "architecture" not in checkpoint:
        raise GramError(f"{path}: holds no architecture; it was not written by gramnas training")
    model = build_model(Architecture.from_dict(checkpoint["architecture"], str(path)))
    prefix = "model."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    model.load_state_dict(state)
    return model.eval()


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
