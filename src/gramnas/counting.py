"""Analytic MACs and parameter counts, from an Architecture alone.

Convention (docs/gram-spec.md): MACs of convolutions and the linear head;
BatchNorm, activations and pooling are excluded. Parameters are everything
trainable: conv weights (no bias, BN follows), BN scale and shift, the head.
"""

from __future__ import annotations

import torch
from torch import nn

from gramnas.architecture import Architecture


def count_macs(arch: Architecture) -> int:
    macs = sum(
        layer.kernel**2
        * layer.in_channels
        * layer.out_channels
        * layer.out_size[0]
        * layer.out_size[1]
        for _, layer in arch.layers
    )
    return macs + arch.head_in_features * arch.num_classes


def count_params(arch: Architecture) -> int:
    params = sum(
        layer.kernel**2 * layer.in_channels * layer.out_channels + 2 * layer.out_channels
        for _, layer in arch.layers
    )
    return params + (arch.head_in_features + 1) * arch.num_classes


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
