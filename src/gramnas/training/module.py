"""The LightningModule that trains any classifier, SwiftNet or baseline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from gramnas.architecture import Architecture
from gramnas.model import SwiftNet

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]

log = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    """Training diverged: the candidate gets the search's failure outcome."""


class ClassificationModule(L.LightningModule):
    """Cross-entropy training with top-1 accuracy; optimizer and schedule come as factories.

    ``optimizer`` is called with the parameters (e.g. ``functools.partial(torch.optim.SGD,
    lr=0.01, momentum=0.9)`` or a Hydra ``_partial_`` config); ``scheduler``, if
    given, with the optimizer and the number of epochs. ``input_shape`` (C, H, W)
    gives Lightning an example input, so its model summary shows each layer's
    shapes and the FLOPs. ``compile`` runs the network through ``torch.compile``;
    ``model`` stays the plain network, so checkpoints and ONNX export do not change.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        channels_last: bool = False,
        input_shape: tuple[int, int, int] | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if input_shape is not None:
            self.example_input_array = torch.zeros(1, *input_shape)
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.channels_last = channels_last
        # A compiled function, not a module, so the state dict holds the weights once.
        self.compiled = torch.compile(self.model.forward) if compile else None
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss = nn.CrossEntropyLoss()
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")
        # Top-5 only means something with many classes (ImageNet-style tables).
        self.test_top5 = (
            MulticlassAccuracy(num_classes, top_k=5, average="micro") if num_classes > 10 else None
        )
        self.num_classes = num_classes
        # Test images per class: a split without some class scores top-1 over the others only.
        self.register_buffer(
            "test_class_counts", torch.zeros(num_classes, dtype=torch.long), persistent=False
        )
        self.test_classes_missing: list[int] = []

    @property
    def architecture(self) -> Architecture | None:
        return self.model.architecture if isinstance(self.model, SwiftNet) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.compiled(x) if self.compiled is not None else self.model(x)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss(logits, y)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss.item()} at step {self.global_step}")
        self.log(
            "train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True
        )  # averaged over DDP processes once per epoch
        self.train_accuracy.update(logits.detach(), y)
        self.log("train/acc", self.train_accuracy, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_accuracy.update(logits, y)
        self.log("val/acc", self.val_accuracy, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(
            "val/loss",
            self.loss(logits, y),
            on_step=False,
            on_epoch=True,
            batch_size=len(y),
            sync_dist=True,
        )

    def on_test_epoch_start(self) -> None:
        self.test_class_counts.zero_()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_class_counts += torch.bincount(y, minlength=self.num_classes)[: self.num_classes]
        logits = self(x)
        self.test_accuracy.update(logits, y)
        self.log("test/acc", self.test_accuracy, on_step=False, on_epoch=True, batch_size=len(y))
        if self.test_top5 is not None:
            self.test_top5.update(logits, y)
            self.log(
                "test/acc_top5", self.test_top5, on_step=False, on_epoch=True, batch_size=len(y)
            )

    def on_test_epoch_end(self) -> None:
        """Warn when the test split lacks classes: its top-1 is not the dataset's."""
        counts = self.trainer.strategy.reduce(self.test_class_counts, reduce_op="sum")
        self.test_classes_missing = [int(c) for c in (counts == 0).nonzero().flatten()]
        missing = self.test_classes_missing
        if missing and self.trainer.is_global_zero:
            log.warning(
                "the test split has no images of class%s %s of %d: its top-1 is over the other %d",
                "es" if len(missing) > 1 else "",
                ", ".join(map(str, missing)),
                self.num_classes,
                self.num_classes - len(missing),
            )

    def test_coverage(self) -> dict[str, list[int]]:
        """For metrics.json: ``test_classes_missing``, the classes the last test had no image of."""
        missing = self.test_classes_missing
        return {"test_classes_missing": missing} if missing else {}

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        epochs = self.trainer.max_epochs if self.trainer is not None else 1
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer, epochs)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint alone rebuilds the network.
        if self.architecture is not None:
            checkpoint["architecture"] = self.architecture.to_dict()
