"""Full training: ``python src/train.py model=swiftnet_0.4_1.5 data=cifar10 trainer.max_epochs=200``.

Derives the model from its meta-graph for the chosen data, trains it with the
chosen recipe, tests the best checkpoint, and writes ``architecture.json``,
``architecture.png``, ``metrics.json``, ``model.onnx`` and the checkpoints
(``best.ckpt``, and ``last.ckpt``, which ``ckpt_path=<...>/last.ckpt`` resumes).
With ``trainer=ddp`` every device runs this script; only global rank 0 writes.
Every checkpoint is read with ``weights_only=True``, whatever torch's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.plugins import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from gramnas.cli import fields_under, one_line_errors, print_config_tree
from gramnas.drawing import draw_architecture
from gramnas.errors import GramError, field_error
from gramnas.model import SwiftNet
from gramnas.registry import variant_name
from gramnas.training.checkpoint import read_checkpoint, read_training_checkpoint
from gramnas.training.module import ClassificationModule, NonFiniteLoss
from gramnas.training.recipes import check_recipe
from gramnas.training.report import macs_and_params, run_metrics, write_metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns the run's ``optimized_metric``: what Hydra's sweepers (Optuna, Nevergrad) optimise.

    A model over ``budget.macs`` is not trained and returns ``budget.infeasible_value``.
    """
    with one_line_errors():
        print_config_tree(cfg)
        metrics = train(cfg)
        if metrics.get("over_budget"):
            return cfg.budget.infeasible_value
        return optimized_value(metrics, cfg.get("optimized_metric"))


def train(cfg: DictConfig) -> dict[str, Any]:
    if cfg.ckpt_path and not Path(cfg.ckpt_path).is_file():
        raise field_error(
            "ckpt_path",
            f"{cfg.ckpt_path} is not a file",
            "pass a run's checkpoints/last.ckpt to resume it, or best.ckpt with train=false",
        )
    if not cfg.train and not cfg.ckpt_path:
        raise field_error("ckpt_path", "train=false tests a checkpoint; set ckpt_path=<.ckpt>")
    optimizer, scheduler = instantiate(cfg.recipe.optimizer), instantiate(cfg.recipe.scheduler)
    check_recipe("recipe", optimizer, scheduler)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    shape = datamodule.input_shape
    with fields_under("model", list(cfg.model)):
        model = instantiate(
            cfg.model, in_channels=shape[0], num_classes=datamodule.num_classes, input_size=shape[1]
        )
    macs, _ = macs_and_params(model, shape)
    if cfg.budget.macs is not None and macs > cfg.budget.macs:
        print(f"not trained: {macs / 1e6:.2f} MMACs, over budget.macs={cfg.budget.macs:g}")
        return {"macs": macs, "over_budget": True}
    module = ClassificationModule(
        model,
        datamodule.num_classes,
        optimizer,
        scheduler,
        channels_last=cfg.channels_last,
        input_shape=shape,
        compile=cfg.compile,
    )
    if cfg.ckpt_path:
        try:  # before Lightning reads it, whose refusals are tracebacks
            read_training_checkpoint(cfg.ckpt_path, module)
        except GramError as exc:
            raise field_error("ckpt_path", str(exc)) from None
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values()]
    loggers = [instantiate(c) for c in (cfg.logger or {}).values()]
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[WeightsOnlyCheckpointIO()],
    )
    if cfg.train:
        fit(trainer, module, datamodule, cfg.ckpt_path)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    else:
        best = cfg.ckpt_path
    test = (
        trainer.test(module, datamodule=datamodule, ckpt_path=best or None, verbose=False)[0]
        if cfg.test
        else {}
    )
    if not trainer.is_global_zero:
        return {}  # the other DDP processes trained and tested; rank 0 reports
    if isinstance(model, SwiftNet):
        model.architecture.save(run_dir / "architecture.json")
        draw_architecture(model.architecture, run_dir / "architecture.png")
    if not cfg.test:
        return {}

    metrics = run_metrics(
        name=model_name(cfg.model, shape[1]),
        model=module.model,
        input_shape=shape,
        test=test,
        latency=instantiate(cfg.latency) if cfg.get("latency") else None,
        run_dir=run_dir,
        extra={
            "data": cfg.data._target_.rsplit(".", 1)[-1],
            "epochs": trainer.current_epoch,
            "world_size": trainer.world_size,
            "checkpoint": best,
            **best_validation(trainer),
            **module.test_coverage(),
            "tags": list(cfg.tags),
            "config": OmegaConf.to_container(cfg.model, resolve=True),
        },
    )
    write_metrics(metrics, run_dir)
    return metrics


class WeightsOnlyCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint reads (a resume, the best checkpoint it tests) with ``weights_only=True``.

    Lightning leaves it to torch's default (before Lightning 2.6 it cannot pass
    it), which torch < 2.6 and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turn off:
    a crafted checkpoint would then run its code.
    """

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(path)


def fit(
    trainer: L.Trainer, module: ClassificationModule, datamodule: Any, ckpt_path: str | None
) -> None:
    """``trainer.fit``; a diverged training (a NaN loss) is the recipe's to fix, said in one line."""
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except NonFiniteLoss as exc:
        raise field_error(
            "recipe.optimizer.lr", f"training diverged: {exc}", "lower the learning rate"
        ) from None


def best_validation(trainer: L.Trainer) -> dict[str, float]:
    """``val_top1``: the best validation top-1 (%) of the run, on which sweeps should select.

    Choosing level and up-scale by test accuracy would tune on the test split.
    """
    callback = trainer.checkpoint_callback
    if callback is None or callback.monitor != "val/acc" or callback.best_model_score is None:
        return {}
    return {"val_top1": 100.0 * float(callback.best_model_score)}


def optimized_value(metrics: dict[str, Any], name: str | None) -> float | None:
    """``metrics[name]``; None without a name or without metrics (``test=false``, DDP rank > 0)."""
    if not name or not metrics:
        return None
    if name not in metrics:
        raise field_error(
            "optimized_metric", f"{name!r} is not in metrics.json", f"its keys: {sorted(metrics)}"
        )
    return float(metrics[name])


def model_name(model_cfg: DictConfig, input_size: int) -> str:
    """``swiftnet_0.4_1.5`` (``swiftnet_96_...`` with a stem), ``mobilenetv2_0.35``: also inside sweeps.

    A registered model is its registry name; a network from a file is named
    after it: ``swiftnet_architecture_0.5``.
    """
    if "path" in model_cfg:
        return f"swiftnet_{Path(model_cfg.path).stem}"
    if "level" in model_cfg:
        resolution = input_size if model_cfg.get("stem") else None
        return variant_name(model_cfg.level, model_cfg.upscale, resolution)
    if "width_mult" in model_cfg:
        cifar = "_cifar" if model_cfg._target_.endswith("cifar_mobilenet_v2") else ""
        return f"mobilenetv2{cifar}_{model_cfg.width_mult:g}"
    if "name" in model_cfg:
        return model_cfg.name
    return model_cfg._target_.rsplit(".", 1)[-1]


if __name__ == "__main__":
    main()
