"""Rebuild a trained SwiftNet from its Lightning checkpoint alone."""

from __future__ import annotations

import os

import torch

from gramnas.architecture import Architecture
from gramnas.errors import GramError
from gramnas.model import SwiftNet, build_model


def load_swiftnet(path: str | os.PathLike[str]) -> SwiftNet:
    """The checkpoint stores the Architecture next to the weights, so nothing else is needed."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as exc:
        raise GramError(f"{path}: cannot read the checkpoint ({exc})") from None
    if "architecture" not in checkpoint:
        raise GramError(f"{path}: holds no architecture; it was not written by gramnas training")
    model = build_model(Architecture.from_dict(checkpoint["architecture"], str(path)))
    prefix = "model."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    model.load_state_dict(state)
    return model.eval()
