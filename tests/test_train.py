"""Models, full training, checkpoints, export, profiling and sweep summaries on tiny generated data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from conftest import ROOT, compose_config, run_entry_point
from gramnas import Architecture, GramError
from gramnas.model import SwiftNet
from gramnas.plots import point_labels
from gramnas.registry import (
    create_model,
    list_models,
    load_architecture,
    load_metagraph,
    swiftnet_architecture,
)
from gramnas.summary import collect_runs, write_summary
from gramnas.training.checkpoint import load_swiftnet

TINY_DATA = [
    "data=synthetic",
    "data.train_samples=160",
    "data.test_samples=40",
    "data.batch_size=32",
    "logger=none",
]

# A few steps on the 8x8 digits: a whole run in about a second.
DIGITS = [
    "data=digits",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
]


def run_train(out: Path, *overrides: str, data: list[str] = TINY_DATA) -> dict:
    from train import train

    return train(
        compose_config(
            "train",
            out,
            [
                *data,
                "trainer.max_epochs=2",
                "trainer.accelerator=cpu",
                "trainer.enable_progress_bar=false",
                *overrides,
            ],
        )
    )


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> Path:
    sweep = tmp_path_factory.mktemp("sweep")
    run_train(sweep / "0", "model=swiftnet_0.4_1.0")
    run_train(sweep / "1", "model=mobilenetv2_035")
    return sweep


@pytest.mark.parametrize("config", sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")))
def test_every_model_config_composes_and_builds(tmp_path, config):
    size = int(config.split("_")[1]) if config.split("_")[1:2] in (["96"], ["128"]) else 32
    overrides = [f"model={config}", "data=synthetic", f"data.input_size={size}"]
    if config == "architecture":
        overrides.append(f"model.path={swiftnet_architecture().save(tmp_path / 'arch.json')}")
    cfg = compose_config("train", tmp_path, overrides)
    model = instantiate(cfg.model, in_channels=3, num_classes=10, input_size=size)
    assert model.eval()(torch.randn(2, 3, size, size)).shape == (2, 10)


def test_registry_creates_every_named_variant():
    names = list_models()
    assert "swiftnet_0.4_1.5" in names and "swiftnet_96_0.5_1.0" in names and len(names) == 26
    assert list_models("swiftnet_96_*") == [
        "swiftnet_96_0.4_1.0",
        "swiftnet_96_0.4_1.5",
        "swiftnet_96_0.5_1.0",
        "swiftnet_96_0.5_1.5",
    ]
    assert list_models("mobilenetv2_*") == ["mobilenetv2_035"] + [
        f"mobilenetv2_cifar_{w}" for w in ("0.25", "0.35", "0.5", "0.75", "1")
    ]
    assert list_models("resnet*") == []
    model = create_model("swiftnet_0.4_1.5", num_classes=100, in_channels=1, input_size=28)
    assert model.architecture.input_shape == (1, 28, 28) and model(
        torch.randn(1, 1, 28, 28)
    ).shape == (1, 100)
    big = create_model("swiftnet_128_0.4_1.5")
    assert big.architecture.input_shape == (3, 128, 128) and big.architecture.num_classes == 1000
    with pytest.raises(GramError, match="unknown model"):
        create_model("swiftnet_0.99_9")
    with pytest.raises(GramError, match=r"^model: no pretrained weights for .swiftnet_0.4_1.5."):
        create_model("swiftnet_0.4_1.5", pretrained=True)
    cifar = create_model("mobilenetv2_cifar_0.25", num_classes=7, in_chans=1).eval()
    assert cifar(torch.randn(1, 1, 32, 32)).shape == (1, 7)
    assert create_model("mobilenetv2_035").classifier[-1].out_features == 10


def test_named_model_configs_are_the_registry_names():
    """Each ``conf/model/swiftnet_*`` file only names its variant; the registry holds the settings."""
    from omegaconf import OmegaConf

    from train import model_name

    folder = ROOT / "conf" / "model"
    named = sorted(p.stem for p in folder.glob("swiftnet_*.yaml"))
    assert named == list_models("swiftnet_*")
    for name in named:
        cfg = OmegaConf.load(folder / f"{name}.yaml")
        assert (cfg._target_, cfg.name, set(cfg)) == (
            "gramnas.registry.create_model",
            name,
            {"_target_", "name", "metagraph"},
        )
        assert model_name(cfg, 96) == name
    generic = OmegaConf.load(folder / "swiftnet.yaml")
    generic.level, generic.upscale = 0.5, 1.25
    assert model_name(generic, 32) == "swiftnet_0.5_1.25"
    assert model_name(OmegaConf.load(folder / "mobilenetv2_cifar.yaml"), 32) in list_models()


@pytest.mark.parametrize(
    "sweep", sorted(p.stem for p in (ROOT / "conf" / "hparams_search").glob("*.yaml"))
)
def test_every_sweep_varies_keys_of_its_model(tmp_path, sweep):
    from omegaconf import OmegaConf

    swept = OmegaConf.load(ROOT / "conf" / "hparams_search" / f"{sweep}.yaml").hydra.sweeper.params
    cfg = compose_config("train", tmp_path, [f"hparams_search={sweep}"])
    for key in swept:
        assert OmegaConf.select(cfg, key) is not None, key


def test_create_model_loads_a_checkpoint_or_a_state_dict(finished_runs, tmp_path):
    best = finished_runs / "0" / "checkpoints" / "best.ckpt"  # model=swiftnet_0.4_1.0, 10 classes
    trained = load_swiftnet(best)
    loaded = create_model("swiftnet_0.4_1.0", num_classes=10, checkpoint_path=best).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), trained(x))
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    again = create_model(
        "swiftnet_0.4_1.0", num_classes=10, checkpoint_path=tmp_path / "weights.pt"
    )
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x), trained(x))
    with pytest.raises(GramError, match="weights do not fit the SwiftNet") as error:
        create_model("swiftnet_0.4_1.5", num_classes=10, checkpoint_path=best)
    assert str(best) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(GramError, match="cannot read the checkpoint"):
        create_model("swiftnet_0.4_1.0", checkpoint_path=tmp_path / "missing.pt")
    with pytest.raises(GramError, match=r"^metagraph: no-such-metagraph"):
        load_metagraph("no-such-metagraph")


def test_training_end_to_end_writes_every_output(finished_runs):
    run = finished_runs / "0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "swiftnet_0.4_1.0" and metrics["epochs"] == 2
    assert 0 <= metrics["top1"] <= 100 and metrics["macs"] > 0 and metrics["params"] > 0
    assert metrics["accuracy_density"] == pytest.approx(metrics["top1"] / (metrics["macs"] / 1e6))
    assert metrics["latency"]["backend"] == "onnxruntime" and metrics["latency_ms"] > 0
    assert metrics["onnx_max_abs_diff"] < 1e-4
    assert "top5" not in metrics  # 10 classes
    for name in ("architecture.json", "architecture.png", "model.onnx", "checkpoints/best.ckpt"):
        assert (run / name).is_file(), name
    baseline = json.loads((finished_runs / "1" / "metrics.json").read_text())
    assert baseline["model"] == "mobilenetv2_0.35" and baseline["macs"] > 0


def test_checkpoint_alone_rebuilds_the_network(finished_runs):
    run = finished_runs / "0"
    model = load_swiftnet(run / "checkpoints" / "best.ckpt")
    assert isinstance(model, SwiftNet)
    assert model.architecture.to_dict() == json.loads((run / "architecture.json").read_text())
    again = load_swiftnet(run / "checkpoints" / "best.ckpt")
    x = torch.randn(3, *model.architecture.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), again(x))
    import onnxruntime as ort

    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x[:1]).numpy()
    torch.testing.assert_close(
        torch.from_numpy(session.run(None, {"input": x[:1].numpy()})[0]),
        torch.from_numpy(expected),
        atol=1e-4,
        rtol=1e-4,
    )


def test_sweep_summary_of_two_finished_runs(finished_runs, tmp_path):
    rows = collect_runs(finished_runs)
    assert [r["run"] for r in sorted(rows, key=lambda r: r["run"])] == ["0", "1"]
    paths = write_summary(rows, tmp_path)
    table = (tmp_path / "results.md").read_text().splitlines()
    assert (
        len(table) == 4
        and "swiftnet_0.4_1.0" in "".join(table)
        and "mobilenetv2_0.35" in "".join(table)
    )
    assert all(p.is_file() for p in paths)
    with pytest.raises(GramError, match=r"no metrics\.json"):
        collect_runs(tmp_path)


def test_sweep_summary_names_the_runs_it_skips_and_merges_labels_of_one_point(tmp_path, caplog):
    metrics = {"model": "swiftnet_0.4_1.0", "top1": 90.0, "macs": 2e6}
    for run, written in (("0", metrics), ("1", metrics), ("2", None), ("3", None)):
        (tmp_path / run / ".hydra").mkdir(parents=True)
        if written:
            (tmp_path / run / "metrics.json").write_text(json.dumps(written))
    with caplog.at_level("WARNING"):
        rows = collect_runs(tmp_path)
    assert len(rows) == 2
    assert "skipped 2 run(s) without metrics.json" in caplog.text and ": 2, 3" in caplog.text
    other = {"model": "mobilenetv2_0.35", "top1": 80.0, "macs": 3e6}
    assert point_labels([*rows, other]) == {
        (2.0, 90.0): "0.4_1.0 x2",
        (3.0, 80.0): "mobilenetv2_0.35",
    }


def test_trains_an_architecture_file_adapted_to_the_data(tmp_path):
    searched = swiftnet_architecture(level=0.5, num_classes=100)  # CIFAR-100's shape
    path = searched.save(tmp_path / "architecture_0.5.json")
    metrics = run_train(tmp_path / "run", "model=architecture", f"model.path={path}", data=DIGITS)
    trained = Architecture.load(tmp_path / "run" / "architecture.json")
    assert metrics["model"] == "swiftnet_architecture_0.5" and 0 <= metrics["top1"] <= 100
    assert trained.input_shape == (1, 8, 8) and trained.num_classes == 10
    assert trained.dags == searched.dags and trained.stem == searched.stem
    assert load_architecture(tmp_path / "run").dags == searched.dags  # a run directory
    (tmp_path / "corrupt.json").write_text("{")
    for bad in (None, tmp_path / "missing.json", tmp_path / "corrupt.json"):
        with pytest.raises(GramError, match=r"^model\.path: ") as error:
            load_architecture(bad)
        assert "\n" not in str(error.value)


def test_resume_continues_an_interrupted_run(tmp_path):
    run_train(tmp_path / "first", data=DIGITS)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    metrics = run_train(
        tmp_path / "resumed", f"ckpt_path={last}", "trainer.max_epochs=3", data=DIGITS
    )
    with open(tmp_path / "resumed" / "csv" / "metrics.csv") as f:
        trained = {int(row["epoch"]) for row in csv.DictReader(f) if row["train/loss"]}
    assert trained == {2} and metrics["epochs"] == 3  # one more epoch, not three from 0
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["epoch"] == 2 and resumed["global_step"] == 3 * 3  # 3 batches per epoch
    with pytest.raises(GramError, match=r"^ckpt_path: "):
        run_train(tmp_path / "bad", f"ckpt_path={tmp_path / 'missing.ckpt'}", data=DIGITS)


LR_MONITOR = [
    "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor",
    "+callbacks.lr_monitor.logging_interval=epoch",
]


def learning_rates(run: Path) -> dict[int, float]:
    """Each epoch's learning rate, by the step LearningRateMonitor logged it at: the epoch's first."""
    with open(run / "csv" / "metrics.csv") as f:
        return {int(r["step"]): float(r["lr-SGD"]) for r in csv.DictReader(f) if r["lr-SGD"]}


@pytest.mark.parametrize("recipe", ["cifar", "cosine"])
def test_a_longer_resume_follows_the_schedule_of_its_new_length(tmp_path, recipe):
    """Epochs added by a resume run as an uninterrupted run of the new length would run them."""
    settings = [f"recipe={recipe}", *LR_MONITOR]
    run_train(tmp_path / "first", *settings, data=DIGITS)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    longer = [*settings, "trainer.max_epochs=4"]
    run_train(tmp_path / "resumed", *longer, f"ckpt_path={last}", data=DIGITS)
    run_train(tmp_path / "straight", *longer, data=DIGITS)
    resumed, straight = learning_rates(tmp_path / "resumed"), learning_rates(tmp_path / "straight")
    assert sorted(resumed) == [6, 9]  # epochs 2 and 3, of 3 steps each
    assert resumed == pytest.approx({step: straight[step] for step in (6, 9)})


def test_eval_tests_a_checkpoint_alone(tmp_path):
    from eval import evaluate

    trained = run_train(tmp_path / "train", data=DIGITS)
    steps = ["trainer.accelerator=cpu", "trainer.enable_progress_bar=false"]
    steps.append("+trainer.limit_test_batches=2")  # as in training, to compare the scores
    cfg = compose_config("eval", tmp_path / "eval", [f"ckpt_path={trained['checkpoint']}", *steps])
    metrics = evaluate(cfg)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    for key in ("top1", "macs", "params"):
        assert metrics[key] == trained[key], key
    cfg = compose_config(
        "eval", tmp_path / "bad", [f"ckpt_path={trained['checkpoint']}", "data=synthetic", *steps]
    )
    with pytest.raises(GramError, match=r"^data: "):
        evaluate(cfg)
    for bad in ("null", tmp_path / "missing.ckpt"):
        cfg = compose_config("eval", tmp_path / "bad", [f"ckpt_path={bad}"])
        with pytest.raises(GramError, match=r"^ckpt_path: "):
            evaluate(cfg)


def test_eval_without_a_checkpoint_gives_one_clear_line(tmp_path):
    result = run_entry_point("eval.py", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: ckpt_path: "), result.stderr
    assert "Traceback" not in result.stderr


def test_train_false_only_tests_a_checkpoint_and_main_returns_the_metric(tmp_path):
    from train import main

    trained = run_train(tmp_path / "train", data=DIGITS)
    best = trained["checkpoint"]
    metrics = run_train(tmp_path / "test", "train=false", f"ckpt_path={best}", data=DIGITS)
    assert metrics["top1"] == trained["top1"] and metrics["checkpoint"] == best
    assert metrics["epochs"] == 0 and not (tmp_path / "test" / "checkpoints").exists()
    with pytest.raises(GramError, match=r"^ckpt_path: train=false"):
        run_train(tmp_path / "nothing", "train=false", data=DIGITS)

    untested = run_train(tmp_path / "untested", "test=false", data=DIGITS)
    assert untested == {} and not (tmp_path / "untested" / "metrics.json").exists()
    assert (tmp_path / "untested" / "checkpoints" / "best.ckpt").is_file()

    overrides = [*DIGITS, "trainer.accelerator=cpu", "trainer.enable_progress_bar=false"]
    overrides += ["trainer.max_epochs=1", "tags=[digits,smoke]", "optimized_metric=params"]
    value = main(compose_config("train", tmp_path / "main", overrides))  # as a sweeper calls it
    written = json.loads((tmp_path / "main" / "metrics.json").read_text())
    assert value == written["params"] and written["tags"] == ["digits", "smoke"]


def test_top5_with_many_classes(tmp_path):
    metrics = run_train(tmp_path / "run", "data.num_classes=20", "trainer.max_epochs=1")
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 100


def test_profile_and_budget(tmp_path):
    from profile_levels import profile

    rows = profile(compose_config("profile", tmp_path, ["levels.num=6", "budget.macs=2e7"]))
    assert [r["level"] for r in rows] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert rows[0]["macs"] >= rows[-1]["macs"]
    assert (tmp_path / "profile.png").is_file() and (tmp_path / "architecture.json").is_file()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=swiftnet", "model.level=1.5"], "level: must be in [0, 1]"),
        (["model.metagraph=/nonexistent/metagraph.json"], "model.metagraph"),
        (["data=synthetic", "data.input_size=4"], "too small"),
        (["model=swiftnet_0.4_1.0", "recipe=nothing"], "recipe"),
        (["model=architecture", "model.path=/nonexistent/architecture.json"], "model.path"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, overrides, message):
    result = run_entry_point("train.py", "trainer.max_epochs=1", *overrides, cwd=tmp_path)
    assert result.returncode != 0, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_corrupt_metagraph_file(tmp_path):
    bad = tmp_path / "metagraph.json"
    bad.write_text('{"format": "gramnas.metagraph", "version": 1, "space": ')
    result = run_entry_point("train.py", f"model.metagraph={bad}", cwd=tmp_path)
    assert (
        result.returncode == 2
        and "not valid JSON" in result.stderr
        and "Traceback" not in result.stderr
    )


class Planted:
    """Unpickled, it creates ``path``: any code could run in its place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def test_loading_a_checkpoint_runs_no_code_from_it(tmp_path):
    planted = tmp_path / "planted"
    checkpoint = tmp_path / "evil.ckpt"
    torch.save({"architecture": {}, "state_dict": {}, "extra": Planted(planted)}, checkpoint)
    with pytest.raises(GramError, match="cannot read the checkpoint") as error:
        load_swiftnet(checkpoint)
    assert not planted.exists()
    assert str(checkpoint) in str(error.value) and "\n" not in str(error.value)


def image_folders(root: Path, splits: dict[str, list[str]]) -> None:
    """Two 8x8 PNGs per class and split, each class its own grey level."""
    from PIL import Image

    for split, classes in splits.items():
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                grey = 40 * (ord(name) - ord("a"))
                Image.new("RGB", (8, 8), (grey, grey, grey)).save(root / split / name / f"{i}.png")


def test_image_folder_labels_every_split_by_the_training_classes(tmp_path):
    from gramnas.training.data import ImageFolderDataModule

    image_folders(tmp_path / "ok", {"train": ["a", "b", "c"], "test": ["a", "c"]})
    data = ImageFolderDataModule(root=str(tmp_path / "ok"), input_size=8)
    test = data.dataset(train=False, augment=False)
    assert data.num_classes == 3 and test.classes == ["a", "b", "c"]
    assert sorted(label for _, label in test) == [0, 0, 2, 2]  # c is 2 in training too

    image_folders(tmp_path / "bad", {"train": ["a", "b"], "test": ["a", "d"]})
    data = ImageFolderDataModule(root=str(tmp_path / "bad"), input_size=8)
    with pytest.raises(GramError, match=r"^data\.root: .*class d") as error:
        data.dataset(train=False, augment=False)
    assert "\n" not in str(error.value)
