"""Lightning callbacks of full training."""

from __future__ import annotations

import logging
import time

import lightning as L

from gramnas.progress import PROGRESS, number

log = logging.getLogger(__name__)


class EpochLog(L.Callback):
    """One progress line per training epoch (:mod:`gramnas.progress`): loss and top-1 of both splits.

    Lightning's progress bar draws only on a terminal; a training under nohup or
    SLURM would otherwise say nothing until it ends. Global rank 0 logs.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        top1 = {k: 100 * metrics[k] if k in metrics else None for k in ("train/acc", "val/acc")}
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        log.info(
            "epoch %d%s: train loss %s, top-1 %s; val loss %s, top-1 %s; %.1f s",
            trainer.current_epoch + 1,
            total,
            number(metrics.get("train/loss")),
            number(top1["train/acc"], ".2f", "%"),
            number(metrics.get("val/loss")),
            number(top1["val/acc"], ".2f", "%"),
            time.perf_counter() - self.started,
            extra=PROGRESS,
        )
