"""Rebuild a trained SwiftNet from its Lightning checkpoint alone, or load weights into a model.

Every checkpoint a user names is read here, with ``weights_only=True`` passed
explicitly: torch's default differs between versions and
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns it off, but never an explicit ``True``.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError
from gramnas.jsonio import atomic_file
from gramnas.model import SwiftNet, build_model

LIGHTNING_VERSION_KEY = "pytorch-lightning_version"  # what marks a Lightning training checkpoint
_UNOPENED = (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR)  # the file itself is fine


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


def read_training_checkpoint(path: str | os.PathLike[str], module: nn.Module) -> dict[str, Any]:
    """A Lightning checkpoint of ``src/train.py`` whose weights fit ``module``, or a GramError.

    Checked before Lightning reads it, whose own refusals are a KeyError (shipped
    weights, a ``state_dict`` file) or a page of mismatched keys (another model).
    """
    checkpoint = read_checkpoint(path)
    if LIGHTNING_VERSION_KEY not in checkpoint or not isinstance(
        checkpoint.get("state_dict"), dict
    ):
        raise GramError(
            f"{path}: not a training checkpoint (no {LIGHTNING_VERSION_KEY}): shipped weights "
            "or a state_dict file; pass a run's checkpoints/last.ckpt or best.ckpt "
            "(shipped weights: src/eval.py pretrained=<name>)"
        )
    model = getattr(module, "model", module)
    try:
        require_fit(module.state_dict(), checkpoint["state_dict"], path, type(model).__name__)
    except GramError as exc:
        raise GramError(
            f"{exc}; set the model and data it was trained with (its run's .hydra/overrides.yaml)"
        ) from None
    return checkpoint


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file's dictionary, read with ``weights_only=True``.

    Tensors and plain data only: unpickling anything else can run code from
    whoever wrote the file. Any failure to read it is the file's (empty,
    truncated, text, another format), so each becomes one line.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a different type for each kind of damage
        raise GramError(f"{path}: cannot read the checkpoint {_reason(exc)}") from None
    if not isinstance(checkpoint, dict):
        raise GramError(
            f"{path}: holds a {type(checkpoint).__name__}, not a checkpoint or state_dict"
        )
    return checkpoint


def require_fit(
    expected: Mapping[str, Any], state: Mapping[str, Any], path: object, model_name: str
) -> None:
    """A GramError unless ``state`` has exactly ``expected``'s keys and shapes.

    torch's own mismatch report is a paragraph per key; this is one line.
    """
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
            f"{path}: its weights do not fit the {model_name}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(reshaped)} of another shape (first: {first})"
        )


def _load_state(model: nn.Module, checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Load the model's weights (a Lightning checkpoint keeps them under ``model.``), checked first."""
    state = checkpoint
    if isinstance(checkpoint.get("state_dict"), dict):
        prefix = "model."
        state = {
            k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
        }
    require_fit(model.state_dict(), state, path, type(model).__name__)
    model.load_state_dict(state)


def _reason(exc: BaseException) -> str:
    """Why torch refused, in one line (its weights-only refusal is a paragraph of advice)."""
    text = str(exc).strip()
    refused = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. |\n|$)", text)
    if refused and not refused.group(1).startswith("Unsupported operand"):  # operand: not a pickle
        return (
            f"(not tensors and plain data: {refused.group(1)}; other objects are refused "
            "because unpickling them can run code)"
        )
    if isinstance(exc, OSError) and exc.errno in _UNOPENED:
        return f"({exc.strerror or text})"
    first = text.splitlines()[0].split(". ")[0] if text else ""
    detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"({detail}): the file is empty, truncated or not a torch checkpoint; copy it again"


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`~gramnas.jsonio.atomic_file`: a kill mid-write leaves the previous file."""
    with atomic_file(path, binary=True) as f:
        torch.save(obj, f)
