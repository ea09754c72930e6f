"""The everyday controls of the entry points: debug and local configs, the config tree, Optuna."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import ROOT, compose_config, run_entry_point
from gramnas.cli import CONFIG_TREE_FILE, print_config_tree


@pytest.mark.parametrize(
    ("config", "debug", "expected"),
    [
        ("train", "default", {"trainer.fast_dev_run": True}),
        ("train", "overfit", {"trainer.overfit_batches": 3, "trainer.fast_dev_run": False}),
        ("train", "limit", {"trainer.max_epochs": 2, "trainer.limit_train_batches": 3}),
        ("eval", "default", {"trainer.fast_dev_run": True}),
        ("search", "search", {"search.iterations": 2, "space.name": "tiny"}),
    ],
)
def test_debug_configs_compose(tmp_path, config, debug, expected):
    cfg = compose_config(config, tmp_path, [f"debug={debug}"])
    assert cfg.task_name == "debug" and cfg.latency.name == "macs"
    assert cfg.data.num_workers == 0
    assert {key: OmegaConf.select(cfg, key) for key in expected} == expected


def test_an_experiment_added_with_plus_wins_over_debug(tmp_path):
    """Hydra appends `+` groups last; the command line still overrides both."""
    cfg = compose_config("search", tmp_path, ["+experiment=cifar10", "debug=search"])
    assert (cfg.search.iterations, cfg.space.name) == (1000, "paper_stem")
    cfg = compose_config(
        "search", tmp_path, ["+experiment=cifar10", "debug=search", "search.iterations=2"]
    )
    assert cfg.search.iterations == 2 and cfg.executor._target_.endswith("SerialExecutor")


def test_train_debug_default_runs_end_to_end(tmp_path):
    result = run_entry_point("train.py", "debug=default", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["latency"]["backend"] == "macs" and metrics["epochs"] == 1
    # Not a terminal: the tree is plain text, on stdout and in the run directory.
    assert "\x1b[" not in result.stdout and "└── channels_last: true" in result.stdout
    assert "task_name: debug" in (run / CONFIG_TREE_FILE).read_text()


def test_search_debug_search_runs_two_iterations(tmp_path):
    from search import search

    search(compose_config("search", tmp_path, ["debug=search"]))
    assert len((tmp_path / "candidates.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "architecture_0.5.json").is_file()


def test_local_config_is_optional_and_overrides(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    with initialize_config_dir(str(conf), version_base="1.3"):
        assert compose("train").trainer.accelerator == "auto"  # no conf/local: fine
        (conf / "local").mkdir()
        (conf / "local" / "default.yaml").write_text(
            "# @package _global_\ntrainer:\n  accelerator: cpu\n"
        )
        assert compose("train").trainer.accelerator == "cpu"
        assert compose("train", ["debug=default"]).trainer.fast_dev_run  # debug still applies
    assert "/conf/local/" in (ROOT / ".gitignore").read_text().splitlines()  # never committed


def test_config_tree_prints_resolved_and_can_be_switched_off(tmp_path, capsys):
    cfg = compose_config("train", tmp_path / "on", [])
    print_config_tree(cfg)
    printed = capsys.readouterr().out
    assert printed.startswith("CONFIG\n") and f"default_root_dir: {tmp_path}/on" in printed
    assert (tmp_path / "on" / CONFIG_TREE_FILE).read_text() == printed
    print_config_tree(compose_config("train", tmp_path / "off", ["extras.print_config=false"]))
    assert capsys.readouterr().out == "" and not (tmp_path / "off").exists()


def test_over_budget_models_are_not_trained(tmp_path):
    from train import main

    cfg = compose_config("train", tmp_path, ["budget.macs=1000", "budget.infeasible_value=-1"])
    assert main(cfg) == -1.0
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "checkpoints").exists()


def test_optuna_sweep_of_level_and_upscale_under_a_budget(tmp_path):
    quick = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false"]
    quick += [f"+trainer.limit_{split}_batches=1" for split in ("train", "val", "test")]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            "-m",
            "hparams_search=swiftnet_optuna",
            "hydra.sweeper.n_trials=3",
            "budget.macs=6e6",  # the three seeded trials: 2.7 and 4.0 MMAC trained, one over budget
            "latency=macs",
            "logger=none",
            "extras.print_config=false",
            *quick,
            f"hydra.sweep.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"model.level", "model.upscale"}
    trained = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert trained and all(m["macs"] <= 6e6 for m in trained)
    assert best["best_value"] == max(m["val_top1"] for m in trained)
