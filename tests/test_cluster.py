"""Cluster paths: Hydra launchers for sweeps and whole searches, DDP training on two gloo processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import DETERMINISTIC, ROOT, run_entry_point, run_search

TINY_TRAIN = [
    "data=synthetic",
    "data.train_samples=160",
    "data.test_samples=40",
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "logger=none",
]


def test_ddp_trains_on_two_gloo_processes_and_rank_zero_reports(tmp_path):
    done = run_entry_point(
        "train.py",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "model=swiftnet_0.4_1.0",
        *TINY_TRAIN,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and 0 <= metrics["top1"] <= 100
    assert (run / "train_ddp_process_1.log").is_file()  # the second process ran this script
    assert (run / "checkpoints" / "best.ckpt").is_file()


def run_sweep(tmp_path: Path, script: str, *overrides: str) -> Path:
    """A Hydra multirun of ``src/<script>`` as a user starts it; returns the sweep directory."""
    sweep = tmp_path / "sweep"
    done = run_entry_point(script, "-m", *overrides, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return sweep


def test_joblib_launcher_runs_a_training_sweep_in_parallel(tmp_path):
    sweep = run_sweep(
        tmp_path,
        "train.py",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model=swiftnet_0.4_1.0,mobilenetv2_035",
        *TINY_TRAIN,
    )
    names = {json.loads((sweep / str(n) / "metrics.json").read_text())["model"] for n in (0, 1)}
    assert names == {"swiftnet_0.4_1.0", "mobilenetv2_0.35"}


@pytest.mark.parametrize(
    ("launcher", "entry", "overrides", "expected"),
    [
        ("slurm_gpu", "search", [], {"gpus_per_node": 1, "tasks_per_node": 1, "nodes": 1}),
        (
            "slurm_ddp",
            "train",
            ["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"],
            {"gpus_per_node": 4, "tasks_per_node": 4, "nodes": 2},
        ),
    ],
)
def test_slurm_launcher_configs_compose(launcher, entry, overrides, expected):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(entry, [f"hydra/launcher={launcher}", *overrides], return_hydra_config=True)
    launcher_cfg = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher_cfg["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert {k: launcher_cfg[k] for k in expected} == expected


def test_resume_auto_continues_the_output_directory_run(tmp_path):
    run_search(tmp_path, "straight", "search.iterations=3", *DETERMINISTIC)
    run_search(tmp_path, "job", "search.iterations=2", "search.resume=auto", *DETERMINISTIC)
    requeued = run_search(
        tmp_path, "job", "search.iterations=3", "search.resume=auto", *DETERMINISTIC
    )
    assert requeued.iteration == 3
    assert (tmp_path / "job" / "metagraph.json").read_text() == (
        tmp_path / "straight" / "metagraph.json"
    ).read_text()


@pytest.mark.slow
def test_submitit_local_launcher_runs_whole_searches(tmp_path):
    sweep = run_sweep(
        tmp_path,
        "search.py",
        "hydra/launcher=submitit_local",
        "search.iterations=2,3",
        "latency=macs",
        "logger=none",
    )
    for job, iterations in ((0, 2), (1, 3)):
        checkpoint = json.loads((sweep / str(job) / "metagraph.json").read_text())
        assert checkpoint["iteration"] == iterations
