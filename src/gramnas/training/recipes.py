"""Learning-rate schedules of the paper's two training recipes, as factories of (optimizer, epochs)."""

from __future__ import annotations

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
