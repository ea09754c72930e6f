"""Learning-rate schedules of the training recipes (the paper's two and a short-budget one), as factories of (optimizer, epochs).

A schedule built for a number of epochs is rebuilt when a resume changes that
number: a checkpoint restores the epoch the schedule is at, never the epochs
it was built for, so the added epochs run as an uninterrupted run of the new
length would run them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from gramnas.errors import field_error, is_finite_number


def check_recipe(
    field: str,
    optimizer: Callable[..., torch.optim.Optimizer],
    scheduler: Callable[..., Any] | None = None,
    epochs: int = 1,
) -> None:
    """Build the recipe once on a stand-in parameter: a bad setting fails in one line, before training.

    ``field`` is the recipe's config key (``recipe``); torch's own refusal
    comes mid-training, as a traceback.
    """
    lr = getattr(optimizer, "keywords", {}).get("lr")
    if lr is not None and not (is_finite_number(lr) and lr > 0):
        raise field_error(f"{field}.optimizer.lr", f"must be a positive number, got {lr!r}")
    try:
        built = optimizer([torch.zeros(1, requires_grad=True)])
    except (TypeError, ValueError) as exc:
        raise field_error(f"{field}.optimizer", str(exc)) from None
    if scheduler is None:
        return
    try:
        scheduler(built, epochs)
    except (TypeError, ValueError) as exc:
        raise field_error(f"{field}.scheduler", str(exc)) from None


class _AtRestoredEpoch:
    """Mixin: after a checkpoint's state, set the optimizer to this schedule's rate at the restored epoch.

    The optimizer's state, restored first, holds the rate of the schedule the
    checkpoint was written under; the first resumed epoch would run at it.
    """

    kept: tuple[
        str, ...
    ] = ()  # attributes that define this run's schedule, kept over a checkpoint's
    base_lrs: list[float]
    last_epoch: int
    optimizer: torch.optim.Optimizer

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        own = {name: getattr(self, name) for name in self.kept}
        super().load_state_dict(state_dict)  # type: ignore[misc]
        self.__dict__.update(own)
        rates = [self.rate(base) for base in self.base_lrs]
        for group, rate in zip(self.optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        self._last_lr = rates

    def rate(self, base_lr: float) -> float:
        raise NotImplementedError


class MultiStepAtFractions(_AtRestoredEpoch, torch.optim.lr_scheduler.MultiStepLR):
    """MultiStepLR whose milestones are this run's; a checkpoint's (another length's) are dropped."""

    kept = ("milestones", "gamma")

    def rate(self, base_lr: float) -> float:
        passed = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return base_lr * self.gamma**passed


class EpochFactor(_AtRestoredEpoch, torch.optim.lr_scheduler.LambdaLR):
    """LambdaLR of one factor of the epoch (LambdaLR keeps its own function over a checkpoint's)."""

    def rate(self, base_lr: float) -> float:
        return base_lr * self.lr_lambdas[0](self.last_epoch)


def multistep_at_fractions(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    fractions: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
) -> MultiStepAtFractions:
    """CIFAR recipe: decay by ``gamma`` at 50% and 75% of the epochs, whatever their number."""
    milestones = sorted({max(1, round(epochs * f)) for f in fractions})
    return MultiStepAtFractions(optimizer, milestones, gamma)


def step_every(
    optimizer: torch.optim.Optimizer, epochs: int, step_size: int = 2, gamma: float = 0.94
) -> torch.optim.lr_scheduler.StepLR:
    """ImageNet recipe (Inception-v3 style): multiply by 0.94 every 2 epochs."""
    del epochs  # the same rhythm whatever the length, so a resume changes nothing
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, epochs: int, warmup_epochs: int = 2
) -> EpochFactor:
    """Short-budget recipe: linear warm-up over ``warmup_epochs``, then a cosine decay to zero.

    A high learning rate (0.1) that a cold start cannot take, annealed toward
    zero over the remaining epochs whatever their number, as fast CIFAR trainers do.
    """
    warmup = min(warmup_epochs, max(epochs - 1, 0))

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / max(epochs - warmup, 1)))

    return EpochFactor(optimizer, factor)
