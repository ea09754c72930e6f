"""Bad input through the real entry points: one line, exit status 2, no traceback, nothing touched.

Each case calls an entry point's ``main`` as the shell would (``sys.argv``,
Hydra and all) in this process, which costs a fraction of a subprocess; a
resume case also checks that the run directory stays byte-identical.
"""

from __future__ import annotations

import csv
import errno
import importlib
import json
import logging
import os
import runpy
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import DETERMINISTIC, ROOT, compose_config, snapshot
from conftest import SEARCH as TINY_SEARCH
from conftest import TINY as TINY_DATA_SEARCH

SEARCH = [*TINY_SEARCH, *DETERMINISTIC]  # without data
TINY = [*TINY_DATA_SEARCH, *DETERMINISTIC]


def run_main(script: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``python src/<script> <args>``, in this process: its exit status and its stderr."""
    path = str(ROOT / "src" / f"{script}.py")
    return _run(lambda: runpy.run_path(path, run_name="__main__"), [path, *args], capsys)


def run_module(module: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``python -m <module> <args>``, in this process: its exit status and its stderr.

    The module's own ``main``, not a fresh copy of it, so that what a test
    patches in the module (``WEIGHTS_DIR``) holds.
    """
    main = importlib.import_module(module).main
    return _run(main, [module, *args], capsys)


def _run(
    main: Callable[[], object], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    saved_argv, handlers = sys.argv, logging.root.handlers[:]
    capsys.readouterr()
    sys.argv = argv
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:  # Hydra's log handlers write to this test's captured streams
        sys.argv, logging.root.handlers[:] = saved_argv, handlers
    return code, capsys.readouterr().err


def assert_one_line(code: int, stderr: str, field: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], stderr


def assert_last_line(code: int, stderr: str, field: str) -> None:
    """As :func:`assert_one_line`, after Lightning's notices of a training that started."""
    assert code == 2 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and field in last, stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished two-iteration search to resume."""
    from search import search

    run_dir = tmp_path_factory.mktemp("finished") / "run"
    search(compose_config("search", run_dir, [*TINY, "search.iterations=2"]))
    return run_dir


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody may write into: chmod for users; root ignores modes, but not sysfs's."""
    if os.geteuid() != 0:
        directory = tmp_path / "read-only"
        directory.mkdir()
        directory.chmod(0o555)
        yield directory
        directory.chmod(0o755)
    elif Path("/sys/kernel").is_dir():
        yield Path("/sys/kernel")
    else:
        pytest.skip("running as root without sysfs: no directory refuses writes")


def image_folder(root: Path, corrupt: bool = False, empty_class: bool = False) -> Path:
    """root/train/{a,b}/ and root/test/{a,b}/ with 3 tiny PNGs each."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    if corrupt:
        (root / "train" / "a" / "0.png").write_bytes(b"not a png")
    if empty_class:
        (root / "train" / "c").mkdir()
    return root


FOLDER = ["data=imagefolder", "data.input_size=8", "data.num_workers=0"]
FOLDER_PROXY = ["proxy.train_size=4", "proxy.val_size=2"]  # all 6 training images


def overriding(base: list[str], overrides: list[str]) -> list[str]:
    """``base`` less what ``overrides`` set again (a key, or a group with its keys), then ``overrides``."""
    keys = [o.split("=")[0] for o in overrides]
    kept = [o for o in base if not any(o.split("=")[0].startswith((k, f"{k}.")) for k in keys)]
    return [*kept, *overrides]


# Every bad search setting, the one place they are listed: each fails in one line naming its field.
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["search.seed=-1"], "search.seed"),
        (["search.seed=abc"], "search.seed"),
        (["search.alpha=-1"], "search.alpha"),
        (["search.beta=abc"], "search.beta"),
        (["search.density=3"], "search.density"),
        (["search.iterations=many"], "search.iterations"),
        (["search.workers=0"], "search.workers"),
        (["search.max_redraws=-1"], "search.max_redraws"),
        (["search.on_failure=retry"], "search.on_failure"),
        (["search.derive_levels=[1.5]"], "search.derive_levels"),
        (["search.resume=/nonexistent"], "search.resume"),
        (["proxy.train_size=abc"], "proxy.train_size"),
        (["proxy.epochs=0"], "proxy.epochs"),
        (["proxy.optimizer.lr=-1"], "proxy.optimizer.lr"),
        (["proxy.trainer.accelerator=mps"], "proxy.trainer"),  # no Apple GPU on this host
        (["reward.gamma=nan"], "reward.gamma"),
        (["reward.gamma=inf"], "reward.gamma"),
        (["latency.name=tpu"], "latency.name"),
        (["data=imagefolder", "data.root=/nonexistent"], "data.root"),
        (["executor.gpus=[-1]"], "executor.gpus"),
        (["search.workers=2", "executor.max_retries=-1"], "executor.max_retries"),
        (["executor=ray", "executor.num_gpus=-1"], "executor.num_gpus"),
    ],
)
def test_bad_search_settings(tmp_path, capsys, overrides, field):
    args = overriding([*TINY, "search.iterations=1"], overrides)
    code, stderr = run_main("search", *args, f"hydra.run.dir={tmp_path}/run", capsys=capsys)
    assert_one_line(code, stderr, field)
    assert not (tmp_path / "run" / "metagraph.json").exists()


@pytest.mark.parametrize("damage", ["no_root", "corrupt", "empty_class"])
def test_bad_image_folder(tmp_path, capsys, damage):
    if damage == "no_root":
        code, stderr = run_main(
            "search", *SEARCH, *FOLDER, f"hydra.run.dir={tmp_path}/run", capsys=capsys
        )
        assert_one_line(code, stderr, "data.root")
        return
    root = image_folder(tmp_path / "images", **{damage: True})
    code, stderr = run_main(
        "search", *SEARCH, *FOLDER, *FOLDER_PROXY, f"data.root={root}", "search.iterations=1",
        f"hydra.run.dir={tmp_path}/run", capsys=capsys,
    )  # fmt: skip
    assert_one_line(code, stderr, "data.root")
    assert ("0.png" if damage == "corrupt" else "c") in stderr


# experiment, dataset, unpacked copy, the data config that reads it, expected files; the
# CIFAR-10 experiment whose proxy trains (+experiment=cifar10's synflow reads no images)
OFFLINE = [
    ("cifar10_paper", "CIFAR-10", "cifar10-jpg", "imagefolder", "cifar-10-batches-py/"),
    ("mnist", "MNIST", "mnist-png", "mnist_png", "MNIST/raw/"),
]


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize(("experiment", "name", "folder", "config", "files"), OFFLINE)
def test_offline_dataset_points_to_its_unpacked_copy(
    tmp_path, capsys, copy, experiment, name, folder, config, files
):
    if copy:
        (tmp_path / folder / "train" / "0").mkdir(parents=True)
    code, stderr = run_main(
        "search", f"+experiment={experiment}", "data.download=false", f"paths.data_dir={tmp_path}",
        f"hydra.run.dir={tmp_path}/run", capsys=capsys,
    )  # fmt: skip
    assert_one_line(code, stderr, f"data.root: {name} is not under")
    fix = f"data={config} data.root={tmp_path / folder}"
    assert (fix in stderr) is copy and files in stderr, stderr


def test_an_unreadable_image_read_by_a_loader_worker(tmp_path, capsys):
    """Full training reads images in DataLoader workers, which put their traceback in the error."""
    root = image_folder(tmp_path / "images", corrupt=True)
    code, stderr = run_main(
        "train", *FOLDER[:2], "data.num_workers=1", f"data.root={root}", "trainer.max_epochs=1",
        f"hydra.run.dir={tmp_path}/run", capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]  # after Lightning's notices of a starting training
    assert last.startswith("error: data.root: ") and "0.png is not a readable image" in last


def test_read_only_output_directory(read_only_dir, capsys):
    for script, args in (
        ("search", [*TINY, "search.iterations=1"]),
        ("train", ["data=synthetic", "trainer.max_epochs=1"]),
        ("profile_levels", []),
    ):
        code, stderr = run_main(script, *args, f"hydra.run.dir={read_only_dir}", capsys=capsys)
        assert_one_line(code, stderr, "hydra.run.dir")


def full_disk(monkeypatch) -> None:
    """ENOSPC from then on for every file written atomically (metagraph.json, config.yaml, logs)."""
    real_open = os.open

    def full(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)


def test_full_disk(tmp_path, capsys, monkeypatch):
    full_disk(monkeypatch)
    code, stderr = run_main(
        "search", *TINY, "search.iterations=1", f"hydra.run.dir={tmp_path}", capsys=capsys
    )
    assert_one_line(code, stderr, "No space left on device")
    assert not (tmp_path / "metagraph.json").exists()


@pytest.mark.parametrize(
    ("metagraph_change", "overrides", "field"),
    [
        ({"iteration": -5}, [], "iteration"),
        ({"beta": float("nan")}, [], "search.beta"),
        ({}, ["search.seed=5"], "search.resume"),  # conflicts with the run's config
        ({}, ["space=small"], "search.resume"),
        ({}, ["search.derive_levels=[1.5]"], "search.derive_levels"),
        ({}, ["proxy.optimizer.lr=-1"], "proxy.optimizer.lr"),
    ],
)
def test_bad_resume_changes_nothing(
    finished_run, tmp_path, capsys, metagraph_change, overrides, field
):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    if metagraph_change:
        data = json.loads((run_dir / "metagraph.json").read_text())
        (run_dir / "metagraph.json").write_text(json.dumps(data | metagraph_change))
    before = snapshot(run_dir)
    code, stderr = run_main(
        "search", *TINY, "search.iterations=3", f"search.resume={run_dir}", *overrides,
        f"hydra.run.dir={tmp_path}/new", capsys=capsys,
    )  # fmt: skip
    assert_one_line(code, stderr, field)
    assert snapshot(run_dir) == before


def test_full_disk_during_a_resume_changes_nothing(finished_run, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = snapshot(run_dir)
    full_disk(monkeypatch)
    code, stderr = run_main(
        "search", *TINY, "search.iterations=3", f"search.resume={run_dir}",
        f"hydra.run.dir={tmp_path}/new", capsys=capsys,
    )  # fmt: skip
    assert_one_line(code, stderr, "No space left on device")
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    ("overrides", "field"), [(["levels.num=0"], "levels.num"), (["budget.macs=abc"], "budget.macs")]
)
def test_bad_profile_settings(tmp_path, capsys, overrides, field):
    code, stderr = run_main(
        "profile_levels", *overrides, f"hydra.run.dir={tmp_path}", capsys=capsys
    )
    assert_one_line(code, stderr, field)
    assert not (tmp_path / "profile.csv").exists()


def test_bad_summaries(tmp_path, capsys, read_only_dir):
    run = tmp_path / "sweep" / "0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"model": "swiftnet_0.4_1.0"}))  # unfinished
    code, stderr = run_main("summarize", str(tmp_path / "sweep"), capsys=capsys)
    assert_one_line(code, stderr, "metrics.json")
    (run / "metrics.json").write_text(
        json.dumps({"model": "swiftnet_0.4_1.0", "top1": 50.0, "macs": 1e6})
    )
    for out, message in ((tmp_path / "missing", "not a folder"), (read_only_dir, "results.csv")):
        code, stderr = run_main("summarize", str(run.parent), "--out", str(out), capsys=capsys)
        assert_one_line(code, stderr, message)


def test_a_refused_search_leaves_the_run_byte_identical(finished_run, tmp_path, capsys):
    """Into the run's own directory, Hydra writes .hydra/ and the config tree before any check."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    for overrides, message in (
        (["search.resume=auto", "search.seed=7", "space=small"], "search.resume"),
        ([], "holds a search run"),  # a fresh search into a run
    ):
        before = snapshot(run_dir)
        code, stderr = run_main(
            "search", *overriding([*TINY, "search.iterations=3"], overrides),
            f"hydra.run.dir={run_dir}", capsys=capsys,
        )  # fmt: skip
        assert_one_line(code, stderr, message)
        assert snapshot(run_dir) == before


# Full training and evaluation: a few batches of the 8x8 digits, about a second an epoch.
DIGITS = [
    "data=digits",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "logger=none",
    "latency=macs",
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished two-epoch training of the default swiftnet_0.4_1.5 on digits."""
    from train import train

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    train(compose_config("train", run_dir, DIGITS))
    return run_dir


class Planted:
    """Unpickled, it creates ``path``: any code could run in its place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def crafted_checkpoint(trained_run: Path, folder: Path) -> tuple[Path, Path]:
    """A real last.ckpt with a payload added, and the file its payload would create."""
    checkpoint = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    crafted, marker = folder / "crafted.ckpt", folder / "planted"
    torch.save({**checkpoint, "payload": Planted(marker)}, crafted)
    return crafted, marker


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("train", [*DIGITS, "trainer.max_epochs=3"]),  # resume
        ("train", [*DIGITS, "train=false"]),  # only test
        ("eval", ["latency=macs"]),
    ],
)
def test_a_crafted_checkpoint_runs_no_code(
    trained_run, tmp_path, capsys, monkeypatch, script, args
):
    """Even with torch's weights-only default turned off, as a user's environment may do."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    crafted, marker = crafted_checkpoint(trained_run, tmp_path)
    code, stderr = run_main(
        script, *args, f"ckpt_path={crafted}", f"hydra.run.dir={tmp_path}/run", capsys=capsys
    )
    assert not marker.exists()
    assert_one_line(code, stderr, "ckpt_path: ")
    assert "not tensors and plain data" in stderr


def test_lightning_reads_checkpoints_weights_only(trained_run, tmp_path, monkeypatch):
    """What Lightning itself loads (a resume, the best checkpoint it tests) is read the same way."""
    from gramnas.errors import GramError
    from train import WeightsOnlyCheckpointIO

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    crafted, marker = crafted_checkpoint(trained_run, tmp_path)
    with pytest.raises(GramError, match="not tensors and plain data"):
        WeightsOnlyCheckpointIO().load_checkpoint(crafted)
    assert not marker.exists()
    last = WeightsOnlyCheckpointIO().load_checkpoint(trained_run / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 1


def damaged_checkpoint(trained_run: Path, folder: Path, damage: str) -> Path:
    path = folder / "best.ckpt"  # no word of the expected message in its path
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("not a checkpoint\n")
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(1000))
    elif damage == "truncated":
        data = (trained_run / "checkpoints" / "best.ckpt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("damage", ["empty", "text", "garbage", "truncated"])
def test_eval_of_a_damaged_checkpoint(trained_run, tmp_path, capsys, damage):
    path = damaged_checkpoint(trained_run, tmp_path, damage)
    code, stderr = run_main(
        "eval", "latency=macs", f"ckpt_path={path}", f"hydra.run.dir={tmp_path}/run", capsys=capsys
    )
    assert_one_line(code, stderr, "ckpt_path: ")
    assert "truncated" in stderr


def test_a_checkpoint_torch_cannot_seek_in(trained_run, tmp_path, capsys, monkeypatch):
    """torch reads some truncated files as a bare OSError: "[Errno 22] Invalid argument"."""

    def einval(*args, **kwargs):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    path = damaged_checkpoint(trained_run, tmp_path, "truncated")
    monkeypatch.setattr(torch, "load", einval)
    code, stderr = run_main(
        "eval", "latency=macs", f"ckpt_path={path}", f"hydra.run.dir={tmp_path}/run", capsys=capsys
    )
    assert_one_line(code, stderr, "ckpt_path: ")
    assert "Invalid argument" in stderr and "truncated" in stderr


SHIPPED = ROOT / "src" / "gramnas" / "weights" / "swiftnet_mnas_0.8_0.1.mnist.pt"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["model=swiftnet_0.65_1.0", "ckpt_path={last}"], "ckpt_path: "),  # another network
        (["ckpt_path={last}", "model.metagraph=cifar10-mnasnet-seed0"], "ckpt_path: "),
        ([f"ckpt_path={SHIPPED}"], "ckpt_path: "),  # shipped weights: not a training checkpoint
        (["ckpt_path={empty}"], "ckpt_path: "),
        (["train=false", "ckpt_path={empty}"], "ckpt_path: "),
        (["recipe.optimizer.lr=-1"], "recipe.optimizer.lr"),
        (["recipe.optimizer.lr=abc"], "recipe.optimizer.lr"),
        (["recipe.optimizer.momentum=-1"], "recipe.optimizer"),
        (["data=synthetic", "data.num_classes=0"], "data.num_classes"),
        (["data=synthetic", "data.num_classes=2.5"], "data.num_classes"),
        (["model.metagraph=/nonexistent"], "model.metagraph: "),
    ],
)
def test_bad_training_settings(trained_run, tmp_path, capsys, overrides, field):
    files = {"last": trained_run / "checkpoints" / "last.ckpt"}
    files["empty"] = damaged_checkpoint(trained_run, tmp_path, "empty")
    args = overriding([*DIGITS, "trainer.max_epochs=3"], [o.format(**files) for o in overrides])
    code, stderr = run_main("train", *args, f"hydra.run.dir={tmp_path}/run", capsys=capsys)
    assert_one_line(code, stderr, field)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_training_that_diverges(tmp_path, capsys):
    code, stderr = run_main(
        "train", *DIGITS, "recipe.optimizer.lr=1e6", f"hydra.run.dir={tmp_path}", capsys=capsys
    )
    assert_last_line(code, stderr, "recipe.optimizer.lr: training diverged")
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "model.onnx").exists()


def test_a_missing_metagraph_is_named_by_each_scripts_own_key(tmp_path, capsys):
    code, stderr = run_main(
        "profile_levels", "metagraph=/nonexistent", f"hydra.run.dir={tmp_path}", capsys=capsys
    )
    assert_one_line(code, stderr, "error: metagraph: /nonexistent")


def test_unknown_pretrained_weights_point_to_evals_own_key(tmp_path, capsys):
    code, stderr = run_main(
        "eval", "pretrained=resnet50", f"hydra.run.dir={tmp_path}", capsys=capsys
    )
    assert_one_line(code, stderr, "pretrained: ")
    assert "ckpt_path=" in stderr and "checkpoint_path" not in stderr


def test_eval_warns_of_classes_missing_from_the_test_split(tmp_path, capsys):
    """Top-1 over the classes the split has is not the dataset's: say so, and keep it."""
    from gramnas import MetaGraph, derive, preset_space
    from gramnas.model import build_model

    root = image_folder(tmp_path / "images")
    shutil.rmtree(root / "test" / "b")
    space = preset_space("tiny", in_channels=3, input_size=8, num_classes=2)
    arch = derive(MetaGraph.create(space, seed=0), 0.3)
    state = {f"model.{k}": v for k, v in build_model(arch).state_dict().items()}
    torch.save({"architecture": arch.to_dict(), "state_dict": state}, tmp_path / "best.ckpt")
    warnings = Recorded()
    logging.getLogger("gramnas.training.module").addHandler(warnings)  # Hydra resets the root's
    try:
        code, stderr = run_main(
            "eval", *FOLDER, f"data.root={root}", f"ckpt_path={tmp_path / 'best.ckpt'}",
            "latency=macs", f"hydra.run.dir={tmp_path}/run", capsys=capsys,
        )  # fmt: skip
    finally:
        logging.getLogger("gramnas.training.module").removeHandler(warnings)
    assert code == 0, stderr
    assert any("no images of class 1 of 2" in message for message in warnings.messages)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_classes_missing"] == [1]


class Recorded(logging.Handler):
    """Keeps the messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def weights_copy(tmp_path, monkeypatch) -> Path:
    """The shipped weights folder, copied: no test may write into the package."""
    import gramnas.pretrained

    copy = tmp_path / "package-weights"
    shutil.copytree(gramnas.pretrained.WEIGHTS_DIR, copy)
    monkeypatch.setattr(gramnas.pretrained, "WEIGHTS_DIR", copy)
    monkeypatch.delenv("GRAMNAS_WEIGHTS_PATH", raising=False)
    return copy


def digits_run(root: Path, **metrics: object) -> Path:
    """A finished src/train.py run on digits (1x8x8, 10 classes): checkpoint and metrics.json."""
    from gramnas import MetaGraph, derive, preset_space
    from gramnas.model import build_model

    space = preset_space("tiny", in_channels=1, input_size=8, num_classes=10)
    arch = derive(MetaGraph.create(space, seed=0), 0.3)
    checkpoint = root / "checkpoints" / "best.ckpt"
    checkpoint.parent.mkdir(parents=True)
    state = {f"model.{k}": v for k, v in build_model(arch).state_dict().items()}
    torch.save({"architecture": arch.to_dict(), "state_dict": state}, checkpoint)
    written = {"top1": 50.0, "macs": 1000, "params": 10, "checkpoint": str(checkpoint)}
    written |= {"data": "DigitsDataModule", **metrics}
    (root / "metrics.json").write_text(json.dumps(written))
    return root


def test_publishing_refuses_in_one_line(weights_copy, tmp_path, capsys):
    run = digits_run(tmp_path / "run")
    index = (weights_copy / "index.json").read_bytes()
    shipped = (weights_copy / "swiftnet_effect_0.65_1.0.cifar10.pt").read_bytes()
    (tmp_path / "bare").mkdir()
    (tmp_path / "garbled" / "checkpoints").mkdir(parents=True)
    (tmp_path / "garbled" / "metrics.json").write_bytes(b"\xff\xfe{")
    no_checkpoint = digits_run(tmp_path / "no_checkpoint", checkpoint=None)
    nan = digits_run(tmp_path / "nan", top1=float("nan"))
    moved = digits_run(tmp_path / "moved", checkpoint=str(tmp_path / "elsewhere.ckpt"))
    out = tmp_path / "published"
    describe = ["--data", "digits", "--training", "2 epochs"]
    for args, field in (
        ([tmp_path / "missing", "swiftnet_x.digits"], "run_dir: "),
        ([tmp_path / "bare", "swiftnet_x.digits"], "metrics.json"),
        ([tmp_path / "garbled", "swiftnet_x.digits"], "metrics.json"),
        ([no_checkpoint, "swiftnet_x.digits"], "checkpoint"),
        ([nan, "swiftnet_x.digits"], "top1"),
        ([moved, "swiftnet_x.digits"], "cannot read the checkpoint"),
        ([run, "swiftnet_x"], "name: "),  # no dataset tag
        (
            [run, "swiftnet_effect_0.65_1.0.cifar10"],
            "name: ",
        ),  # shipped, and CIFAR-10 is not digits
        ([run, "swiftnet_x.cifar10"], "DigitsDataModule"),  # the run's data is not the tag's
        ([run, "swiftnet_mnas_0.8_0.1.mnist", "--out", out], "name: "),  # shipped elsewhere
    ):
        code, stderr = run_module("gramnas.pretrained", *map(str, args), *describe, capsys=capsys)
        assert_one_line(code, stderr, field)
    assert (weights_copy / "index.json").read_bytes() == index
    assert (weights_copy / "swiftnet_effect_0.65_1.0.cifar10.pt").read_bytes() == shipped
    assert not out.exists() or not any(out.iterdir())

    args = [str(run), "swiftnet_x.digits", *describe, "--out", str(out)]
    assert run_module("gramnas.pretrained", *args, capsys=capsys)[0] == 0
    first = (out / "swiftnet_x.digits.pt").read_bytes()
    code, stderr = run_module("gramnas.pretrained", *args, capsys=capsys)
    assert_one_line(code, stderr, "--overwrite")
    assert (out / "swiftnet_x.digits.pt").read_bytes() == first
    assert run_module("gramnas.pretrained", *args, "--overwrite", capsys=capsys)[0] == 0


@pytest.mark.parametrize("where", ["package", "published"])
@pytest.mark.parametrize(
    ("index", "message"),
    [
        ('{"swiftnet_x.digits": {"file": "x.pt", "sha2', "not valid JSON"),
        ('{"swiftnet_x.digits": {"file": "x.pt"}}', "swiftnet_x.digits"),
        ('{"swiftnet_x.digits": 3}', "swiftnet_x.digits"),
        ("[1, 2]", "index.json"),
    ],
)
def test_a_damaged_weights_index(
    weights_copy, tmp_path, capsys, monkeypatch, where, index, message
):
    """The package's own index, or that of a folder published with ``--out``."""
    folder = weights_copy if where == "package" else tmp_path / "published"
    folder.mkdir(exist_ok=True)
    (folder / "index.json").write_text(index)
    monkeypatch.setenv("GRAMNAS_WEIGHTS_PATH", str(tmp_path / "published"))
    code, stderr = run_main(
        "eval", "pretrained=swiftnet_x.digits", f"hydra.run.dir={tmp_path}/run", capsys=capsys
    )
    assert_one_line(code, stderr, "pretrained: ")
    assert str(folder / "index.json") in stderr and message in stderr


def test_summaries_skip_and_name_unreadable_runs(tmp_path, capsys, caplog):
    good = {"model": "swiftnet_0.4_1.0", "top1": 50.0, "macs": 1e6}
    for run, content in (
        ("0", json.dumps(good).encode()),
        ("1", b"\x80\x81\xfe binary"),
        ("2", json.dumps(good | {"top1": float("nan")}).encode()),
    ):
        (tmp_path / "sweep" / run).mkdir(parents=True)
        (tmp_path / "sweep" / run / "metrics.json").write_bytes(content)
    with caplog.at_level(logging.WARNING):  # on stderr, where pytest does not capture logging
        code, stderr = run_main("summarize", str(tmp_path / "sweep"), capsys=capsys)
    assert code == 0 and "Traceback" not in stderr, stderr
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped: ")]
    assert len(skipped) == 2 and "1/metrics.json: not text" in skipped[0]
    assert "2/metrics.json: top1 is not a finite number" in skipped[1]
    with open(tmp_path / "sweep" / "results.csv") as f:
        assert [row["run"] for row in csv.DictReader(f)] == ["0"]
    for run, field in (("1", "metrics.json"), ("2", "top1")):  # alone: nothing to summarise
        code, stderr = run_main("summarize", str(tmp_path / "sweep" / run), capsys=capsys)
        assert_one_line(code, stderr, field)


def test_a_fractional_channel_count_is_refused(tmp_path, capsys):
    from gramnas.registry import swiftnet_architecture

    arch = swiftnet_architecture(level=0.5).to_dict()
    node = next(n for dag in arch["dags"] for n in dag["nodes"] if n["channels"])
    node["channels"] += 0.5
    (tmp_path / "architecture.json").write_text(json.dumps(arch))
    code, stderr = run_main(
        "train", *DIGITS, "trainer.max_epochs=1", "test=false", "model=architecture",
        f"model.path={tmp_path / 'architecture.json'}", f"hydra.run.dir={tmp_path}/run",
        capsys=capsys,
    )  # fmt: skip
    assert_one_line(code, stderr, "channels")
