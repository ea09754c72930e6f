"""Test a trained SwiftNet: ``python src/eval.py ckpt_path=<run>/checkpoints/best.ckpt data=cifar10``,
or a shipped one: ``python src/eval.py pretrained=swiftnet_effect_0.65_1.0.cifar10 data=cifar10``.

The checkpoint stores the Architecture, so it alone rebuilds the network; the
data's test split scores it. Writes ``metrics.json`` (test top-1, MACs,
parameters, latency from the configured backend) and ``model.onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from gramnas.cli import one_line_errors, print_config_tree
from gramnas.errors import GramError, field_error
from gramnas.model import SwiftNet
from gramnas.pretrained import load_pretrained
from gramnas.training.checkpoint import load_swiftnet
from gramnas.training.module import ClassificationModule
from gramnas.training.report import run_metrics, write_metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        print_config_tree(cfg)
        evaluate(cfg)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    model, source = trained_model(cfg)
    arch = model.architecture
    datamodule = instantiate(cfg.data)
    if (datamodule.input_shape, datamodule.num_classes) != (arch.input_shape, arch.num_classes):
        raise field_error(
            "data",
            f"gives {datamodule.input_shape} inputs in {datamodule.num_classes} classes, but the "
            f"checkpoint's network takes {arch.input_shape} in {arch.num_classes}",
            "test on the data it was trained for",
        )
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Testing never steps the optimizer; the module just needs a factory.
    module = ClassificationModule(
        model, arch.num_classes, torch.optim.SGD, channels_last=cfg.channels_last
    )
    trainer = instantiate(cfg.trainer, logger=False)
    test = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    if not trainer.is_global_zero:
        return test
    metrics = run_metrics(
        name=cfg.pretrained or f"swiftnet_{arch.id}",
        model=model,
        input_shape=arch.input_shape,
        test=test,
        latency=instantiate(cfg.latency) if cfg.get("latency") else None,
        run_dir=run_dir,
        extra={"data": type(datamodule).__name__, **source, **module.test_coverage()},
    )
    write_metrics(metrics, run_dir)
    return metrics


def trained_model(cfg: DictConfig) -> tuple[SwiftNet, dict[str, str]]:
    """The network of ``ckpt_path`` or of the shipped ``pretrained`` weights, and where it came from."""
    if bool(cfg.ckpt_path) == bool(cfg.pretrained):
        raise field_error(
            "ckpt_path",
            "give exactly one of ckpt_path and pretrained",
            "pass a training run's checkpoints/best.ckpt, or pretrained=<name> "
            "(gramnas.registry.list_models(pretrained=True))",
        )
    if cfg.pretrained:
        try:
            model = load_pretrained(cfg.pretrained, checkpoint_key="ckpt_path")
            return model, {"pretrained": cfg.pretrained}
        except GramError as exc:
            raise field_error("pretrained", str(exc).removeprefix("model: ")) from None
    try:
        return load_swiftnet(cfg.ckpt_path), {"checkpoint": str(cfg.ckpt_path)}
    except GramError as exc:
        raise field_error("ckpt_path", str(exc)) from None


if __name__ == "__main__":
    main()
