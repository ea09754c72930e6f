"""Shipped weights and meta-graphs: publishing a run, checksums, and what ships with gramnas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import compose_config
from gramnas import MetaGraph, derive, preset_space
from gramnas.errors import GramError
from gramnas.model import build_model
from gramnas.pretrained import find_weights, load_pretrained, pretrained_weights, publish
from gramnas.registry import (
    METAGRAPHS_DIR,
    available_metagraphs,
    create_model,
    list_models,
    load_metagraph,
    swiftnet_architecture,
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished training run: a checkpoint as src/train.py writes it and its metrics.json."""
    arch = derive(MetaGraph.create(preset_space("small"), seed=0), 0.3)
    torch.manual_seed(0)
    model = build_model(arch)
    checkpoint = tmp_path / "run" / "checkpoints" / "best.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save(
        {
            "architecture": arch.to_dict(),
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        },
        checkpoint,
    )
    metrics = {"top1": 41.234, "macs": 1000, "params": 10, "checkpoint": str(checkpoint)}
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(metrics))
    return tmp_path / "run"


def test_published_weights_load_with_their_checksum_and_architecture(run_dir, tmp_path):
    index = tmp_path / "weights"
    published = publish(run_dir, "swiftnet_small.synthetic", "generated", "none", index_dir=index)
    assert published.top1 == 41.23
    assert find_weights("swiftnet_small", index).name == "swiftnet_small.synthetic"
    model = load_pretrained("swiftnet_small.synthetic", index).eval()
    original = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    x = torch.randn(2, *model.architecture.input_shape)
    reference = build_model(model.architecture)
    reference.load_state_dict({k[6:]: v for k, v in original["state_dict"].items()})
    assert torch.equal(model(x), reference.eval()(x))

    damaged = index / published.file
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(GramError, match=r"SHA-256 .* the file is damaged"):
        load_pretrained("swiftnet_small.synthetic", index)
    with pytest.raises(GramError, match="no pretrained weights for 'resnet50'"):
        find_weights("resnet50", index)
    with pytest.raises(GramError, match="needs a dataset tag"):
        publish(run_dir, "swiftnet_small", "generated", "none", index_dir=index)


def test_publishing_never_replaces_weights_silently(run_dir, tmp_path):
    index = tmp_path / "weights"
    publish(run_dir, "swiftnet_small.synthetic", "generated", "first", index_dir=index)
    with pytest.raises(GramError, match=r"^name: .* already published .*--overwrite"):
        publish(run_dir, "swiftnet_small.synthetic", "generated", "second", index_dir=index)
    assert find_weights("swiftnet_small.synthetic", index).training == "first"
    publish(
        run_dir, "swiftnet_small.synthetic", "generated", "second", index_dir=index, overwrite=True
    )
    assert find_weights("swiftnet_small.synthetic", index).training == "second"


def test_weights_published_elsewhere_load_through_gramnas_weights_path(
    run_dir, tmp_path, monkeypatch
):
    mine = tmp_path / "mine"
    publish(run_dir, "swiftnet_small.synthetic", "generated", "none", index_dir=mine)
    monkeypatch.delenv("GRAMNAS_WEIGHTS_PATH", raising=False)
    assert "swiftnet_small.synthetic" not in list_models(pretrained=True)
    monkeypatch.setenv("GRAMNAS_WEIGHTS_PATH", f"{tmp_path / 'missing'}:{mine}")
    names = list_models(pretrained=True)
    assert "swiftnet_small.synthetic" in names and "swiftnet_effect_0.65_1.0.cifar10" in names
    model = create_model("swiftnet_small", pretrained=True)
    assert model.architecture.id == find_weights("swiftnet_small.synthetic").architecture_id
    shutil.copy(mine / "index.json", tmp_path / "index.json")  # the same name in two folders
    shutil.copy(mine / "swiftnet_small.synthetic.pt", tmp_path)
    monkeypatch.setenv("GRAMNAS_WEIGHTS_PATH", f"{mine}:{tmp_path}")
    with pytest.raises(GramError, match=r"swiftnet_small\.synthetic .* both"):
        list_models(pretrained=True)


def test_pretrained_refuses_what_would_change_its_network():
    with pytest.raises(GramError, match="drop num_classes"):
        create_model("swiftnet_effect_0.65_1.0", pretrained=True, num_classes=100)


@pytest.mark.parametrize("name", sorted(pretrained_weights()))
def test_shipped_weights_are_the_networks_their_names_derive(name):
    """Each shipped file loads, and its network is what its model config derives today."""
    weights = pretrained_weights()[name]
    model = create_model(name, pretrained=True)
    assert model.architecture.id == weights.architecture_id
    derive = ("level", "upscale", "metagraph", "prune_mode")
    settings = {k: v for k, v in weights.model.items() if k in derive}
    registry_name = weights.model.get("name")
    if registry_name:  # a registry variant: its own settings
        rebuilt = create_model(registry_name, input_size=weights.input_shape[1]).architecture
    else:
        channels, size, _ = weights.input_shape
        rebuilt = swiftnet_architecture(
            in_channels=channels, input_size=size, num_classes=weights.num_classes, **settings
        )
    assert rebuilt.id == weights.architecture_id
    out = model(torch.zeros(1, *weights.input_shape))
    assert out.shape == (1, weights.num_classes)


def test_the_package_ships_weights():
    assert list_models(pretrained=True), "gramnas/weights/index.json lists no weights"


def test_eval_names_the_field_for_unknown_or_doubled_weights(tmp_path):
    from eval import evaluate

    for overrides, field in (
        (["pretrained=resnet50"], "pretrained"),
        (["pretrained=swiftnet_effect_0.65_1.0", "ckpt_path=best.ckpt"], "ckpt_path"),
    ):
        with pytest.raises(GramError, match=rf"^{field}: "):
            evaluate(compose_config("eval", tmp_path, overrides))


@pytest.mark.parametrize("name", available_metagraphs())
def test_every_shipped_metagraph_loads_and_has_its_card(name):
    """A shipped meta-graph is a record: its card says how it was searched and what it gives."""
    metagraph = load_metagraph(name)
    assert metagraph.tried.any(), "format 2: the evidence the default prune score needs"
    card = (METAGRAPHS_DIR / name / "README.md").read_text()
    assert "Reproduce" in card and "wall time" in card
