"""Trained SwiftNets shipped with gramnas: ``create_model("swiftnet_0.65_1.0", pretrained=True)``.

Weights are named as timm names them, ``<model>.<dataset>``
(``swiftnet_0.65_1.0.cifar10``); a bare model name picks its first dataset.
``swiftnet_<L>_<U>`` is cut from the default meta-graph, as in the registry;
``swiftnet_mnas_<L>_<U>`` from ``cifar10-mnasnet-seed0``.
Each file holds the Architecture next to the weights, so it rebuilds its
network without a meta-graph. ``weights/index.json`` records for each one its
SHA-256 (checked on every load), the architecture id, how it was trained and
the test top-1 that ``src/eval.py`` reproduces. Publishing a training run:
``python -m gramnas.pretrained <run_dir> <model>.<dataset> --data ... --training ...``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from gramnas.errors import GramError
from gramnas.jsonio import write_text_atomic
from gramnas.model import SwiftNet

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class PretrainedWeights:
    """One shipped weights file and what its training measured."""

    name: str  # <model>.<dataset>
    file: str  # under WEIGHTS_DIR
    sha256: str
    architecture_id: str
    input_shape: tuple[int, int, int]
    num_classes: int
    top1: float  # % on the dataset's test split, as metrics.json reported it
    macs: int
    params: int
    data: str  # what it was trained and tested on
    training: str  # recipe, epochs, hardware, wall time
    model: dict[str, Any]  # the model's config (metagraph, level, upscale): how to derive it again


def pretrained_weights(index_dir: Path = WEIGHTS_DIR) -> dict[str, PretrainedWeights]:
    """Every shipped weights file by full name, from ``index.json``."""
    index = index_dir / "index.json"
    if not index.is_file():
        return {}
    entries = json.loads(index.read_text())
    return {
        name: PretrainedWeights(
            name=name,
            **{
                **entry,
                "input_shape": tuple(entry["input_shape"]),
            },
        )
        for name, entry in entries.items()
    }


def find_weights(name: str, index_dir: Path = WEIGHTS_DIR) -> PretrainedWeights:
    """The weights called ``name``, or the first (by dataset) of the model ``name``."""
    available = pretrained_weights(index_dir)
    if name in available:
        return available[name]
    matching = sorted(full for full in available if full.rsplit(".", 1)[0] == name)
    if not matching:
        raise GramError(
            f"model: no pretrained weights for {name!r}; published: "
            f"{', '.join(sorted(available)) or 'none'} (train it with src/train.py "
            "and pass checkpoint_path=<its best.ckpt>)"
        )
    return available[matching[0]]


def load_pretrained(name: str, index_dir: Path = WEIGHTS_DIR) -> SwiftNet:
    """The trained network, after checking the file's checksum and its architecture's id."""
    from gramnas.training.checkpoint import load_swiftnet  # torch only, no Lightning

    weights = find_weights(name, index_dir)
    path = index_dir / weights.file
    if not path.is_file():
        raise GramError(f"model: {path} is missing from the installation; reinstall gramnas")
    digest = sha256(path)
    if digest != weights.sha256:
        raise GramError(
            f"model: {path} has SHA-256 {digest[:12]}..., index.json says "
            f"{weights.sha256[:12]}...; the file is damaged, reinstall gramnas"
        )
    model = load_swiftnet(path)
    if model.architecture.id != weights.architecture_id:
        raise GramError(
            f"model: {path} holds architecture {model.architecture.id}, "
            f"index.json says {weights.architecture_id}"
        )
    return model


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(
    run_dir: Path, name: str, data: str, training: str, index_dir: Path = WEIGHTS_DIR
) -> PretrainedWeights:
    """Ship a training run's best checkpoint under ``name``, with its metrics, in the index.

    The file keeps the Architecture and the network's weights only (no
    optimizer state), in the layout :func:`~gramnas.training.checkpoint.load_swiftnet` reads.
    """
    from gramnas.training.checkpoint import load_swiftnet

    if "." not in name:
        raise GramError(f"name: {name!r} needs a dataset tag, e.g. swiftnet_0.65_1.0.cifar10")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model = load_swiftnet(metrics["checkpoint"])
    arch = model.architecture
    file = f"{name}.pt"
    index_dir.mkdir(parents=True, exist_ok=True)
    state = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    torch.save({"architecture": arch.to_dict(), "state_dict": state}, index_dir / file)
    weights = PretrainedWeights(
        name=name,
        file=file,
        sha256=sha256(index_dir / file),
        architecture_id=arch.id,
        input_shape=tuple(arch.input_shape),  # type: ignore[arg-type]
        num_classes=arch.num_classes,
        top1=round(float(metrics["top1"]), 2),
        macs=int(metrics["macs"]),
        params=int(metrics["params"]),
        data=data,
        training=training,
        model=metrics.get("config", {}),
    )
    entries = {n: w for n, w in pretrained_weights(index_dir).items() if n != name}
    entries[name] = weights
    index = {
        n: {k: v for k, v in asdict(w).items() if k != "name"} for n, w in sorted(entries.items())
    }
    write_text_atomic(index_dir / "index.json", json.dumps(index, indent=1) + "\n")
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish a training run's weights with gramnas.")
    parser.add_argument("run_dir", type=Path, help="a src/train.py run directory (metrics.json)")
    parser.add_argument("name", help="<model>.<dataset>, e.g. swiftnet_0.65_1.0.cifar10")
    parser.add_argument("--data", required=True, help="what it was trained and tested on")
    parser.add_argument("--training", required=True, help="recipe, epochs, hardware, wall time")
    args = parser.parse_args()
    weights = publish(args.run_dir, args.name, args.data, args.training)
    print(f"{weights.name}: top-1 {weights.top1}% -> {WEIGHTS_DIR / weights.file}")


if __name__ == "__main__":
    main()
