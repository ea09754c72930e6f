"""Learning-rate schedules of the training recipes (the paper's two and a short-budget one), as factories of (optimizer, epochs)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def multistep_at_fractions(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    fractions: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
) -> torch.optim.lr_scheduler.MultiStepLR:
    """CIFAR recipe: decay by ``gamma`` at 50% and 75% of the epochs, whatever their number."""
    milestones = sorted({max(1, round(epochs * f)) for f in fractions})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma)


def step_every(
    optimizer: torch.optim.Optimizer, epochs: int, step_size: int = 2, gamma: float = 0.94
) -> torch.optim.lr_scheduler.StepLR:
    """ImageNet recipe (Inception-v3 style): multiply by 0.94 every 2 epochs."""
    del epochs  # the same rhythm whatever the length
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, epochs: int, warmup_epochs: int = 2
) -> torch.optim.lr_scheduler.LambdaLR:
    """Short-budget recipe: linear warm-up over ``warmup_epochs``, then a cosine decay to zero.

    A high learning rate (0.1) that a cold start cannot take, annealed toward
    zero over the remaining epochs whatever their number, as fast CIFAR trainers do.
    """
    warmup = min(warmup_epochs, max(epochs - 1, 0))

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / max(epochs - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
