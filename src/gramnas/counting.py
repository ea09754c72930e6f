"""Analytic MACs and parameter counts, from an Architecture alone.

Convention (docs/gram-spec.md): MACs of convolutions and the linear head;
BatchNorm, activations and pooling are excluded. Parameters are everything
trainable: conv weights (no bias, BN follows), BN scale and shift, the head.
"""

from __future__ import annotations

import torch
from torch import nn

from gramnas.architecture import Architecture, Piece


def count_macs(arch: Architecture) -> int:
    return sum(piece_macs(piece) for piece in arch.pieces)


def count_params(arch: Architecture) -> int:
    return sum(piece_params(piece) for piece in arch.pieces)


def mac_share_by_resolution(arch: Architecture) -> dict[str, float]:
    """Fraction of the MACs computed at each feature-map size ("16x16": 0.4, ...), largest first.

    Depth at low resolution is cheap: where the MACs sit says as much about a
    network as its total (the head counts at 1x1).
    """
    per_size: dict[tuple[int, int], int] = {}
    for piece in arch.pieces:
        macs = piece_macs(piece)
        if macs:
            per_size[piece.out_size] = per_size.get(piece.out_size, 0) + macs
    total = sum(per_size.values())
    return {
        f"{h}x{w}": per_size[(h, w)] / total
        for h, w in sorted(per_size, key=lambda size: size[0] * size[1], reverse=True)
    }


def format_mac_share(share: dict[str, float]) -> str:
    """``16x16 31% / 8x8 32% / 4x4 37%``: the MAC share of each feature-map size (head left out)."""
    return " / ".join(f"{size} {100 * part:.0f}%" for size, part in share.items() if size != "1x1")


def piece_macs(piece: Piece) -> int:
    if piece.kind == "conv":
        positions = piece.out_size[0] * piece.out_size[1]
        return piece.kernel**2 * piece.in_channels * piece.out_channels * positions
    if piece.kind == "head":
        return piece.in_channels * piece.out_channels
    return 0


def piece_params(piece: Piece) -> int:
    if piece.kind == "conv":  # weights (no bias: BN follows), BN scale and shift
        return piece.kernel**2 * piece.in_channels * piece.out_channels + 2 * piece.out_channels
    if piece.kind == "head":
        return (piece.in_channels + 1) * piece.out_channels
    return 0


def count_with_hooks(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """MACs and parameters measured by forward hooks on a real model: the reference the analytic counts must equal."""
    macs = 0

    def conv_hook(module: nn.Conv2d, inputs: object, output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        per_position = kh * kw * (module.in_channels // module.groups) * module.out_channels
        macs += per_position * output.shape[2] * output.shape[3]

    def linear_hook(module: nn.Linear, inputs: object, output: torch.Tensor) -> None:
        nonlocal macs
        macs += module.in_features * module.out_features

    handles = [
        module.register_forward_hook(conv_hook if isinstance(module, nn.Conv2d) else linear_hook)
        for module in model.modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return macs, sum(p.numel() for p in model.parameters())
