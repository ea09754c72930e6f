"""Trained SwiftNets shipped with gramnas: ``create_model("swiftnet_effect_0.65_1.0", pretrained=True)``.

Weights are named as timm names them, ``<model>.<dataset>``
(``swiftnet_effect_0.65_1.0.cifar10``); a bare model name picks its first dataset.
``swiftnet_<L>_<U>`` is cut from the default meta-graph, as in the registry;
``swiftnet_mnas_<L>_<U>`` from ``cifar10-mnasnet-seed0``.
Each file holds the Architecture next to the weights, so it rebuilds its
network without a meta-graph. ``weights/index.json`` records for each one its
SHA-256 (checked on every load), the architecture id, how it was trained and
the test top-1 that ``src/eval.py`` reproduces. Publishing a training run:
``python -m gramnas.pretrained <run_dir> <model>.<dataset> --data ... --training ... [--out DIR]``;
folders named in ``$GRAMNAS_WEIGHTS_PATH`` are read next to the package's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gramnas.errors import GramError, field_error, is_finite_number
from gramnas.jsonio import read_json, write_text_atomic
from gramnas.model import SwiftNet

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_PATH_ENV = "GRAMNAS_WEIGHTS_PATH"  # more folders of published weights, os.pathsep-separated

# The datasets a tag names: the data module a run's metrics.json names, and the input shape and
# classes its weights take (None: any, as synthetic data's).
DATASETS: dict[str, tuple[str, tuple[int, int, int] | None, int | None]] = {
    "cifar10": ("CIFAR10DataModule", (3, 32, 32), 10),
    "svhn": ("SVHNDataModule", (3, 32, 32), 10),
    "mnist": ("MNISTDataModule", (1, 28, 28), 10),
    "fashion_mnist": ("FashionMNISTDataModule", (1, 28, 28), 10),
    "digits": ("DigitsDataModule", (1, 8, 8), 10),
    "synthetic": ("SyntheticDataModule", None, None),
}
ANY_DATASET = (
    "ImageFolderDataModule"  # a folder (an offline copy of any dataset): the tag says which
)


@dataclass(frozen=True)
class PretrainedWeights:
    """One published weights file and what its training measured."""

    name: str  # <model>.<dataset>
    file: str  # in folder
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
    folder: Path  # where the file and its index.json are (not written into index.json)

    def index_entry(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "folder")}


# Each index.json entry's fields and their JSON types.
INDEX_FIELDS: dict[str, type | tuple[type, ...]] = {
    "file": str,
    "sha256": str,
    "architecture_id": str,
    "input_shape": list,
    "num_classes": int,
    "top1": (int, float),
    "macs": int,
    "params": int,
    "data": str,
    "training": str,
    "model": dict,
}


def weights_folders() -> list[Path]:
    """Where published weights are read: the package's folder, then each of ``$GRAMNAS_WEIGHTS_PATH``."""
    extra = os.environ.get(WEIGHTS_PATH_ENV, "").split(os.pathsep)
    return [WEIGHTS_DIR, *(Path(folder) for folder in extra if folder)]


def pretrained_weights(index_dir: Path | None = None) -> dict[str, PretrainedWeights]:
    """Published weights by full name: of ``index_dir``, or of every folder of :func:`weights_folders`.

    A name published in two folders is refused: which one loads would depend on their order.
    """
    if index_dir is not None:
        return read_index(index_dir)
    found: dict[str, PretrainedWeights] = {}
    for folder in weights_folders():
        for name, weights in read_index(folder).items():
            if name in found and found[name].folder.resolve() != folder.resolve():
                raise GramError(
                    f"model: {name} is published in both {found[name].folder} and {folder}; "
                    f"remove one of them (or its folder from {WEIGHTS_PATH_ENV})"
                )
            found[name] = weights
    return found


def read_index(folder: Path) -> dict[str, PretrainedWeights]:
    """One folder's ``index.json``, every entry checked (no index: no weights)."""
    index = folder / "index.json"
    if not index.is_file():
        return {}
    try:
        entries = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GramError(f"model: {index}: not valid JSON ({exc}); {_restore(folder)}") from None
    if not isinstance(entries, dict):
        raise GramError(
            f"model: {index}: holds a {type(entries).__name__}, not weights by name; "
            f"{_restore(folder)}"
        )
    return {name: _index_entry(index, name, entry) for name, entry in entries.items()}


def _index_entry(index: Path, name: str, entry: object) -> PretrainedWeights:
    fields = entry if isinstance(entry, dict) else {}
    wrong = [k for k, kind in INDEX_FIELDS.items() if not isinstance(fields.get(k), kind)]
    shape = fields.get("input_shape")
    if "input_shape" not in wrong and (
        len(shape) != 3 or not all(isinstance(x, int) for x in shape)
    ):
        wrong.append("input_shape")
    if wrong:
        raise GramError(
            f"model: {index}: {name!r} has no valid {', '.join(wrong)}; {_restore(index.parent)}"
        )
    known = {k: fields[k] for k in INDEX_FIELDS}
    return PretrainedWeights(
        name=name, folder=index.parent, **{**known, "input_shape": tuple(shape)}
    )


def _restore(folder: Path) -> str:
    """How to get a folder's weights back as published."""
    return "reinstall gramnas" if folder == WEIGHTS_DIR else "publish its weights again"


def find_weights(
    name: str, index_dir: Path | None = None, checkpoint_key: str = "checkpoint_path"
) -> PretrainedWeights:
    """The weights called ``name``, or the first (by dataset) of the model ``name``.

    ``checkpoint_key`` is how the caller loads a training checkpoint instead,
    for the hint of an unknown name.
    """
    available = pretrained_weights(index_dir)
    if name in available:
        return available[name]
    matching = sorted(full for full in available if full.rsplit(".", 1)[0] == name)
    if not matching:
        raise GramError(
            f"model: no pretrained weights for {name!r}; published: "
            f"{', '.join(sorted(available)) or 'none'} (train it with src/train.py "
            f"and pass {checkpoint_key}=<its best.ckpt>)"
        )
    return available[matching[0]]


def load_pretrained(
    name: str, index_dir: Path | None = None, checkpoint_key: str = "checkpoint_path"
) -> SwiftNet:
    """The trained network, after checking the file's checksum and its architecture's id."""
    from gramnas.training.checkpoint import load_swiftnet  # torch only, no Lightning

    weights = find_weights(name, index_dir, checkpoint_key)
    path = weights.folder / weights.file
    if not path.is_file():
        raise GramError(f"model: {path} is missing; {_restore(weights.folder)}")
    digest = sha256(path)
    if digest != weights.sha256:
        raise GramError(
            f"model: {path} has SHA-256 {digest[:12]}..., index.json says "
            f"{weights.sha256[:12]}...; the file is damaged, {_restore(weights.folder)}"
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
    run_dir: Path,
    name: str,
    data: str,
    training: str,
    index_dir: Path | None = None,
    overwrite: bool = False,
) -> PretrainedWeights:
    """Publish a training run's best checkpoint as ``name`` in ``index_dir`` (the package's folder).

    The file keeps the Architecture and the network's weights only (no
    optimizer state), in the layout :func:`~gramnas.training.checkpoint.load_swiftnet` reads.
    Refused before anything is written: a name published already (in that
    folder without ``overwrite``, or in any other folder weights are read
    from) and a dataset tag that is not the run's data.
    """
    from gramnas.training.checkpoint import load_swiftnet, save_atomic

    folder = WEIGHTS_DIR if index_dir is None else Path(index_dir)
    if "." not in name:
        raise field_error(
            "name", f"{name!r} needs a dataset tag, e.g. swiftnet_effect_0.65_1.0.cifar10"
        )
    metrics = run_metrics(run_dir)
    model = load_swiftnet(metrics["checkpoint"])
    arch = model.architecture
    published = [*pretrained_weights().values(), *read_index(folder).values()]
    _check_tag(name, arch.input_shape, arch.num_classes, metrics.get("data"), published)
    _check_name(name, folder, overwrite)
    file = f"{name}.pt"
    state = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    save_atomic({"architecture": arch.to_dict(), "state_dict": state}, folder / file)
    weights = PretrainedWeights(
        name=name,
        file=file,
        sha256=sha256(folder / file),
        architecture_id=arch.id,
        input_shape=tuple(arch.input_shape),  # type: ignore[arg-type]
        num_classes=arch.num_classes,
        top1=round(float(metrics["top1"]), 2),
        macs=int(metrics["macs"]),
        params=int(metrics["params"]),
        data=data,
        training=training,
        model=metrics.get("config") or {},
        folder=folder,
    )
    entries = {**read_index(folder), name: weights}
    index = {n: w.index_entry() for n, w in sorted(entries.items())}
    write_text_atomic(folder / "index.json", json.dumps(index, indent=1) + "\n")
    return weights


RUN_NUMBERS = ("top1", "macs", "params")  # what publishing reads of metrics.json, with checkpoint


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """A finished ``src/train.py`` run's ``metrics.json``, with what publishing reads checked."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise field_error(
            "run_dir", f"{run_dir} is not a folder", "pass a src/train.py run directory"
        )
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise GramError(f"{path}: not found; publish a finished src/train.py run (with test=true)")
    metrics = read_json(path, "the run is damaged")
    fields = metrics if isinstance(metrics, dict) else {}
    wrong = [] if isinstance(fields.get("checkpoint"), str) else ["checkpoint"]
    wrong += [k for k in RUN_NUMBERS if not is_finite_number(fields.get(k))]
    if wrong:
        raise GramError(f"{path}: no valid {', '.join(wrong)}; the run is unfinished or damaged")
    return fields


def _check_tag(
    name: str,
    shape: tuple[int, int, int],
    classes: int,
    run_data: str | None,
    published: list[PretrainedWeights],
) -> None:
    """The dataset tag names the run's data, and a network for that data's inputs and classes.

    ``run_data`` is the data module metrics.json names (older runs: none); the
    inputs and classes are the dataset's, or those of weights published with the tag.
    """
    tag = name.rsplit(".", 1)[1]
    run_tag = next((t for t, (module, _, _) in DATASETS.items() if module == run_data), None)
    if run_tag is not None and run_tag != tag:
        raise field_error(
            "name",
            f"tag {tag!r}, but the run trained on {run_data}",
            f"publish it as {name.rsplit('.', 1)[0]}.{run_tag}",
        )
    expected = [(s, c) for t, (_, s, c) in DATASETS.items() if t == tag and s is not None]
    expected += [(w.input_shape, w.num_classes) for w in published if w.name.endswith(f".{tag}")]
    if expected and expected[0] != (tuple(shape), classes):
        raise field_error(
            "name",
            f"{tag} weights take {expected[0][0]} inputs in {expected[0][1]} classes, "
            f"the run's network {tuple(shape)} in {classes}",
            "tag it with the dataset it was trained on",
        )


def _check_name(name: str, folder: Path, overwrite: bool) -> None:
    """Never replace published weights silently: only in their own folder, and only asked to."""
    for other in [folder, *weights_folders()]:
        if name not in read_index(other):
            continue
        if other.resolve() != folder.resolve():
            raise field_error(
                "name", f"{name} is already published in {other}", "choose another name"
            )
        if not overwrite:
            raise field_error(
                "name",
                f"{name} is already published in {other}",
                "pass --overwrite (overwrite=True) to replace it, or choose another name",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish a training run's weights with gramnas.")
    parser.add_argument("run_dir", type=Path, help="a src/train.py run directory (metrics.json)")
    parser.add_argument("name", help="<model>.<dataset>, e.g. swiftnet_effect_0.65_1.0.cifar10")
    parser.add_argument("--data", required=True, help="what it was trained and tested on")
    parser.add_argument("--training", required=True, help="recipe, epochs, hardware, wall time")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"publish into this folder, not the package's; read it with {WEIGHTS_PATH_ENV}=<DIR>",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace weights published under this name"
    )
    args = parser.parse_args()
    from gramnas.cli import one_line_errors  # Hydra and rich: only for the command line

    with one_line_errors():
        weights = publish(
            args.run_dir, args.name, args.data, args.training, args.out, args.overwrite
        )
    print(f"{weights.name}: top-1 {weights.top1}% -> {weights.folder / weights.file}")
    if all(weights.folder.resolve() != f.resolve() for f in weights_folders()):
        print(f"load it with {WEIGHTS_PATH_ENV}={weights.folder}")


if __name__ == "__main__":
    main()
