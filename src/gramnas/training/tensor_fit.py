"""Short fixed-budget training on in-memory tensors: the yardstick that compares architectures.

Studies that train many networks identically (proxy fidelity, search against
random networks) need a loop with no loader or framework cost: images held as
one tensor, augmentation as batched tensor ops, channels_last, one-cycle SGD.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gramnas.architecture import Architecture
from gramnas.model import build_model
from gramnas.training.tensor_data import augment_batch


@dataclass(frozen=True)
class TensorRecipe:
    """SGD momentum 0.9 with a one-cycle learning rate, flips and pad-crops."""

    epochs: int = 4
    batch_size: int = 128
    max_lr: float = 0.1
    weight_decay: float = 5e-4
    augment: bool = True


def fit(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: TensorRecipe, seed: int
) -> None:
    """Train ``model`` in place for ``recipe.epochs`` over (x, y)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.max_lr, momentum=0.9, weight_decay=recipe.weight_decay
    )
    steps = math.ceil(len(y) / recipe.batch_size) * recipe.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.max_lr, total_steps=steps, cycle_momentum=False
    )
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(recipe.epochs):
        for idx in torch.randperm(len(y), generator=generator).split(recipe.batch_size):
            batch = augment_batch(x[idx], generator) if recipe.augment else x[idx]
            loss = loss_fn(model(batch.contiguous(memory_format=torch.channels_last)), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
            logits = model(xb.contiguous(memory_format=torch.channels_last))
            correct += int((logits.argmax(1) == yb).sum())
    return correct / len(y)


def train_and_evaluate(
    network: Architecture | Callable[[], nn.Module],
    train: tuple[torch.Tensor, torch.Tensor],
    evaluation: tuple[torch.Tensor, torch.Tensor],
    recipe: TensorRecipe,
    seed: int,
) -> float:
    """Build ``network`` (an architecture or a model factory) from seed, train it, return its accuracy."""
    torch.manual_seed(seed)
    model = build_model(network) if isinstance(network, Architecture) else network()
    model = model.to(memory_format=torch.channels_last)
    fit(model, *train, recipe, seed)
    return accuracy(model, *evaluation)
