"""The one-shot proxy: a supernet trained once per search scores every candidate in about a second.

The :class:`~gramnas.supernet.SuperNet` of the search's meta-graph trains
through ``Trainer.fit`` with the usual :class:`ClassificationModule`; a
callback switches it to a freshly sampled sub-network before every step. It
trains on the training split less a held-out set, with the full-training
augmentation, sampling from the distribution the search starts from. A
candidate is then scored as the stand-alone network it inherits
(``SuperNet.export``): BatchNorm statistics recomputed on training images,
accuracy through ``Trainer.validate`` on the held-out images, never the test split.

Everything lives in ``<run dir>/supernet/``: the training's checkpoint,
replaced atomically after every epoch and deleted once training ends, and
the trained weights. A resumed search continues the training from its
checkpoint, or loads the weights; step t samples from (seed, t) alone and
the data order from (seed, epoch), so either way it scores with the weights
an uninterrupted search would have trained.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback

from gramnas.architecture import Architecture
from gramnas.errors import field_error, require_int
from gramnas.metagraph import MetaGraph
from gramnas.progress import PROGRESS
from gramnas.supernet import SuperNet, recalibrate_bn
from gramnas.training.callbacks import EpochLog
from gramnas.training.checkpoint import save_atomic
from gramnas.training.data import ImageDataModule
from gramnas.training.module import ClassificationModule, OptimizerFactory, SchedulerFactory
from gramnas.training.proxy import (
    VALIDATION_BATCH,
    Proxy,
    ProxyRun,
    quiet_lightning,
    validation_accuracy,
)
from gramnas.training.recipes import check_recipe
from gramnas.training.tensor_data import Augmentation, TensorLoader, to_input

SUPERNET_DIR = "supernet"  # in the search's run directory
CHECKPOINT = "training.ckpt"
WEIGHTS = "weights.pt"  # written when training ends: its presence means the supernet is trained
CHECKPOINT_SECONDS = 600.0  # a kill loses at most this much training, plus an epoch
# The third word of a training step's seed: search iterations use (seed, t), probes (seed, t, 1).
SAMPLING_STREAM = 2

log = logging.getLogger(__name__)


@dataclass
class SupernetRecipe:
    """How the supernet trains, and on how many images each candidate is scored.

    No defaults but Lightning's ``trainer``: ``conf/proxy/supernet.yaml`` is the
    one place they are set, and a search's ``config.yaml`` records them. The
    keys the paper's :class:`~gramnas.training.proxy.ProxyRecipe` shares mean
    the same here: ``val_size`` training images are held out to score
    candidates, the supernet trains on ``train_size`` others (null: all of
    them) for ``epochs`` epochs; ``calibration_size`` of its training images
    (at most all) recompute each candidate's BatchNorm statistics.
    """

    train_size: int | None
    val_size: int
    epochs: int
    batch_size: int
    optimizer: OptimizerFactory
    scheduler: SchedulerFactory | None
    channels_last: bool
    calibration_size: int
    trainer: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.train_size is not None:
            require_int("proxy.train_size", self.train_size, 1)
        for name in ("val_size", "epochs", "batch_size", "calibration_size"):
            require_int(f"proxy.{name}", getattr(self, name), 1)
        check_recipe("proxy", self.optimizer, self.scheduler, self.epochs)


@dataclass
class SupernetData:
    """A search's images for the one-shot proxy, all from the training split.

    ``train_x`` holds the images as decoded (uint8 pixels or normalised floats),
    normalised and augmented a batch at a time while the supernet trains;
    ``calibration_x`` (some of them) and ``val_x`` (held out from them) are
    normalised, channels_last.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    calibration_x: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augmentation: Augmentation | None
    num_classes: int


def supernet_data(datamodule: ImageDataModule, recipe: SupernetRecipe, seed: int) -> SupernetData:
    """The recipe's held-out, training and calibration images: seeded, disjoint from the held-out ones."""
    x, y = datamodule.decoded(train=True)
    train_size = recipe.train_size or len(y) - recipe.val_size
    if train_size < 1 or recipe.val_size + train_size > len(y):
        raise field_error(
            "proxy.train_size + proxy.val_size",
            f"{recipe.train_size or 'at least 1'} + {recipe.val_size} exceeds the "
            f"{len(y)} training samples",
            "use smaller sets",
        )
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    held_out, train = order[: recipe.val_size], order[recipe.val_size :][:train_size]
    mean = torch.tensor(datamodule.mean).view(-1, 1, 1)
    std = torch.tensor(datamodule.std).view(-1, 1, 1)
    return SupernetData(
        train_x=x[train],
        train_y=y[train],
        calibration_x=to_input(x[train[: recipe.calibration_size]], mean, std),
        val_x=to_input(x[held_out], mean, std),
        val_y=y[held_out],
        mean=tuple(datamodule.mean),
        std=tuple(datamodule.std),
        augmentation=datamodule.augmentation(),
        num_classes=datamodule.num_classes,
    )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through :func:`save_atomic` (Lightning's own rewrites the file in place)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        save_atomic(checkpoint, Path(path))


class EpochCheckpoint(Callback):
    """The training's checkpoint at an epoch's end, once ``every_seconds`` have passed since the last.

    Only at epoch ends: data order and augmentation come from (seed, epoch), so
    a training resumed there repeats what an uninterrupted one would do. Not at
    every one: a paper-space supernet's checkpoint is some 3 GB.
    """

    def __init__(self, path: Path, every_seconds: float) -> None:
        self.path, self.every_seconds = path, every_seconds
        self.saved = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if time.monotonic() - self.saved >= self.every_seconds:
            trainer.save_checkpoint(self.path)
            self.saved = time.monotonic()


class SampleSubnetworks(Callback):
    """Before every training step, the supernet switches to a freshly sampled sub-network.

    Step t samples from (seed, t) alone, as search iteration t does (on a
    stream of its own), so a resumed training samples what an uninterrupted
    one would have, with no generator state to save.
    """

    def __init__(
        self, metagraph: MetaGraph, seed: int, max_macs: int | None, max_redraws: int
    ) -> None:
        self.metagraph, self.seed = metagraph, seed
        self.max_macs, self.max_redraws = max_macs, max_redraws

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        sequence = np.random.SeedSequence([self.seed, trainer.global_step, SAMPLING_STREAM])
        arch = self.metagraph.sample(
            np.random.default_rng(sequence), self.max_macs, self.max_redraws
        )
        pl_module.model.set_active(arch)


class SupernetProxy(Proxy):
    """Scores candidates with the weights they inherit from one supernet, trained once per search.

    The supernet samples sub-networks as ``metagraph`` does at the search's
    start (its sampler, uniform edge weights, the search's ``max_macs``),
    whatever it has learned since, so a resumed search trains the same
    supernet. ``directory`` (the run directory's ``supernet/``) holds its
    checkpoint and weights.
    """

    def __init__(
        self,
        metagraph: MetaGraph,
        data: SupernetData,
        recipe: SupernetRecipe,
        directory: Path,
        max_macs: int | None,
        max_redraws: int,
    ) -> None:
        super().__init__(recipe.trainer, recipe.epochs)
        uniform = np.full_like(metagraph.weights, 1.0 / metagraph.space.num_edges)
        self.metagraph = replace(
            metagraph, weights=uniform, tried=None, advantage_sum=None, update_state={}, iteration=0
        )
        self.data, self.recipe, self.directory = data, recipe, Path(directory)
        self.max_macs, self.max_redraws = max_macs, max_redraws
        self.net: SuperNet | None = None

    def prepare(self) -> None:
        """Train the supernet, continue its training, or load it once trained."""
        if self.net is None:
            self.net = self._load() if (self.directory / WEIGHTS).is_file() else self._fit()

    def train(self, arch: Architecture, seed: int, callbacks: Sequence[Callback] = ()) -> ProxyRun:
        """Score ``arch`` as its inherited stand-alone network: recalibrate BatchNorm, validate.

        Nothing is trained, so ``seed`` changes nothing: a score is a function
        of the supernet and the architecture. ``callbacks`` see the validation.
        """
        if self.net is None:  # a worker process: the search's process trained it (prepare)
            self.net = self._load()
        start = time.perf_counter()
        module = ClassificationModule(
            self.net.export(arch),
            self.data.num_classes,
            self.recipe.optimizer,
            channels_last=self.recipe.channels_last,
        )
        recalibrate_bn(module.model, self.data.calibration_x, VALIDATION_BATCH)
        calibrated = time.perf_counter()
        quiet_lightning()
        trainer = L.Trainer(**self.trainer_kwargs, callbacks=list(callbacks))
        accuracy = validation_accuracy(trainer, module, self.data.val_x, self.data.val_y)
        return ProxyRun(
            accuracy=accuracy,
            timings={"calibrate": calibrated - start, "validate": time.perf_counter() - calibrated},
        )

    def _fit(self) -> SuperNet:
        recipe, data = self.recipe, self.data
        self.directory.mkdir(parents=True, exist_ok=True)
        checkpoint = self.directory / CHECKPOINT
        torch.manual_seed(self.metagraph.seed)
        net = SuperNet.from_metagraph(self.metagraph)
        module = ClassificationModule(
            net, data.num_classes, recipe.optimizer, recipe.scheduler, recipe.channels_last
        )
        sampler = SampleSubnetworks(
            self.metagraph, self.metagraph.seed, self.max_macs, self.max_redraws
        )
        quiet_lightning()
        trainer = L.Trainer(
            **self.trainer_kwargs,
            callbacks=[sampler, EpochCheckpoint(checkpoint, CHECKPOINT_SECONDS), EpochLog()],
            plugins=[AtomicCheckpointIO()],
        )
        loader = TensorLoader(
            data.train_x,
            data.train_y,
            recipe.batch_size,
            data.mean,
            data.std,
            shuffle=True,
            augmentation=data.augmentation,
            seed=self.metagraph.seed,
        )
        resume = checkpoint if checkpoint.is_file() else None
        log.info(
            "supernet: %s %d epoch(s) on %d images (%d parameters) in %s",
            "resuming" if resume else "training",
            recipe.epochs,
            len(data.train_y),
            sum(p.numel() for p in net.parameters()),
            self.directory,
            extra=PROGRESS,
        )
        start = time.perf_counter()
        trainer.fit(module, loader, ckpt_path=resume)
        save_atomic(net.state_dict(), self.directory / WEIGHTS)
        checkpoint.unlink(missing_ok=True)
        log.info("supernet: trained in %.0f s", time.perf_counter() - start, extra=PROGRESS)
        return net

    def _load(self) -> SuperNet:
        net = SuperNet.from_metagraph(self.metagraph)
        state = torch.load(self.directory / WEIGHTS, weights_only=True, mmap=True)
        net.load_state_dict(state)
        return net
