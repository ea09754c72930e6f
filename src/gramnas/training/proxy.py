"""Proxy training of one candidate: build -> Trainer.fit on the proxy set -> Trainer.validate.

Per-candidate overhead is kept small: tensors already in memory, whole-batch
slicing, and a Trainer with checkpointing, logging, progress bars, model
summary and the sanity check turned off. A Trainer cannot be re-fitted from
scratch, so one fixed configuration is instantiated per candidate.

:class:`Proxy` is what the executors call, whichever proxy scores the
candidates: this module's :class:`ProxyTrainer` (the paper's) or the one-shot
:class:`~gramnas.training.supernet_proxy.SupernetProxy`.
"""

from __future__ import annotations

import logging
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from gramnas.architecture import Architecture
from gramnas.errors import field_error, is_finite_number, require_int
from gramnas.model import build_model
from gramnas.training.data import ProxyData, tensor_loader
from gramnas.training.module import ClassificationModule, OptimizerFactory

VALIDATION_BATCH = 256

# Lightning's advice to add loader workers does not apply to in-memory tensors.
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
warnings.filterwarnings(
    "ignore", message=".*no `val_dataloader`.*"
)  # validation is a separate stage


@dataclass
class ProxyRecipe:
    """How each candidate is trained (paper: momentum SGD): a few epochs on fixed proxy sets.

    ``train_size`` and ``val_size`` are the sizes of the proxy sets, seeded,
    disjoint subsets of the training split. No defaults but Lightning's own
    ``trainer``: ``conf/proxy/default.yaml`` is the one place the recipe is
    set, and a search's ``config.yaml`` records it.
    """

    epochs: int
    batch_size: int
    optimizer: OptimizerFactory
    channels_last: bool
    train_size: int
    val_size: int
    trainer: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_int("proxy.train_size", self.train_size, 1)
        require_int("proxy.val_size", self.val_size, 1)
        require_int("proxy.epochs", self.epochs, 1)
        require_int("proxy.batch_size", self.batch_size, 1)
        lr = getattr(self.optimizer, "keywords", {}).get("lr")
        if lr is not None and not (is_finite_number(lr) and lr > 0):
            raise field_error("proxy.optimizer.lr", f"must be a positive number, got {lr!r}")
        try:  # every candidate would fail the same way
            self.optimizer([torch.zeros(1, requires_grad=True)])
        except (TypeError, ValueError) as exc:
            raise field_error("proxy.optimizer", str(exc)) from None


@dataclass
class ProxyRun:
    accuracy: float
    timings: dict[str, float]


class Proxy(ABC):
    """What the executors call: a proxy scores a candidate architecture with an accuracy.

    Its Lightning Trainer settings are checked once, before the first
    candidate. ``prepare`` does, in the search's own process and before any
    candidate is scored, the work that all candidates share: nothing for the
    paper's proxy, the supernet's training for the one-shot one.
    """

    def __init__(self, trainer: Mapping[str, Any], epochs: int) -> None:
        self.trainer_kwargs = {
            "accelerator": "cpu",
            "devices": 1,
            **trainer,
            "max_epochs": epochs,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
        }

    def check_trainer(self) -> None:
        """Build the candidates' Trainer once: a missing accelerator fails here, not in every candidate."""
        quiet_lightning()
        try:
            L.Trainer(**self.trainer_kwargs)
        except (MisconfigurationException, ImportError, TypeError, ValueError, RuntimeError) as exc:
            raise field_error(
                "proxy.trainer",
                str(exc).splitlines()[0],
                "set proxy.trainer.accelerator and devices to what this machine has",
            ) from None

    def prepare(self) -> None:  # noqa: B027 - the paper's proxy shares no work between candidates
        """Work that every candidate needs, done once in the search's process."""

    @abstractmethod
    def train(self, arch: Architecture, seed: int, callbacks: Sequence[Callback] = ()) -> ProxyRun:
        """The candidate's proxy accuracy; ``callbacks`` see its Trainer's stages."""


class ProxyTrainer(Proxy):
    """Trains candidates on fixed proxy tensors with one Trainer configuration."""

    def __init__(self, data: ProxyData, recipe: ProxyRecipe) -> None:
        super().__init__(recipe.trainer, recipe.epochs)
        self.recipe = recipe
        self.data = data.to(torch.channels_last) if recipe.channels_last else data

    def train(self, arch: Architecture, seed: int, callbacks: Sequence[Callback] = ()) -> ProxyRun:
        """Fit from scratch and validate; callbacks see both stages.

        The meta-graph update comes later, in the search's own process (``MetaGraphUpdate``).
        """
        start = time.perf_counter()
        quiet_lightning()
        torch.manual_seed(seed)
        module = ClassificationModule(
            build_model(arch),
            self.data.num_classes,
            self.recipe.optimizer,
            channels_last=self.recipe.channels_last,
        )
        built = time.perf_counter()
        trainer = L.Trainer(**self.trainer_kwargs, callbacks=list(callbacks))
        d = self.data
        trainer.fit(
            module,
            tensor_loader(d.train_x, d.train_y, self.recipe.batch_size, shuffle=True, seed=seed),
        )
        fitted = time.perf_counter()
        accuracy = validation_accuracy(trainer, module, d.val_x, d.val_y)
        validated = time.perf_counter()
        return ProxyRun(
            accuracy=accuracy,
            timings={"build": built - start, "fit": fitted - built, "validate": validated - fitted},
        )


def validation_accuracy(
    trainer: L.Trainer, module: ClassificationModule, x: torch.Tensor, y: torch.Tensor
) -> float:
    """Top-1 of ``module`` on ``(x, y)`` through ``trainer.validate``: what every proxy reports."""
    trainer.validate(module, tensor_loader(x, y, VALIDATION_BATCH, shuffle=False), verbose=False)
    return float(trainer.callback_metrics["val/acc"])


def quiet_lightning() -> None:
    """Hundreds of Trainers, in this process or a worker: their notices would drown the progress bar."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
