"""The search entry point: real proxy training on tiny data, resume, loggers, configs, kills."""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hydra.utils import instantiate

from conftest import DETERMINISTIC, Killed, compose_config, run_entry_point, run_search, snapshot
from gramnas import MetaGraph
from gramnas.errors import GramError
from gramnas.search import logs
from gramnas.search.update import MetaGraphUpdate
from gramnas.training.data import SyntheticDataModule
from gramnas.training.proxy import ProxyTrainer
from gramnas.training.zero_cost import SynflowRecipe, synflow


def test_search_trains_every_candidate_and_learns(tmp_path):
    metagraph = run_search(
        tmp_path, "run", "search.iterations=4", "latency=onnxruntime", "+latency.runs=5"
    )
    run_dir = tmp_path / "run"
    start = MetaGraph.create(metagraph.space, seed=0)
    assert metagraph.iteration == 4
    assert not np.allclose(metagraph.weights, start.weights)  # the updates moved the weights
    records = [json.loads(line) for line in (run_dir / "candidates.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [0, 1, 2, 3]
    for record in records:
        assert record["status"] == "ok"
        assert 0.0 <= record["accuracy"] <= 1.0
        assert record["latency"]["backend"] == "onnxruntime" and record["latency_ms"] > 0
        assert record["reward"] == pytest.approx(record["accuracy"] - record["latency_ms"])
        assert (
            record["timings"]["fit"] > 0
            and record["architecture"]["format"] == "gramnas.architecture"
        )
    rows = list(csv.DictReader((run_dir / "search_log.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [0, 1, 2, 3]
    assert tuple(rows[0]) == logs.CSV_COLUMNS  # every column, in order
    assert float(rows[-1]["beta"]) == pytest.approx(metagraph.beta)
    for name in (
        "metagraph.json",
        "config.yaml",
        "architecture_0.4.json",
        "search_curves.png",
        "edge_strengths.png",
    ):
        assert (run_dir / name).is_file(), name
    assert MetaGraph.load(run_dir / "metagraph.json").iteration == 4


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight = run_search(tmp_path, "straight", "search.iterations=5", *DETERMINISTIC)
    run_search(tmp_path, "split", "search.iterations=2", *DETERMINISTIC)
    split_dir = tmp_path / "split"
    # Simulate a kill after iteration 2's log lines were written but before its checkpoint.
    with (split_dir / "candidates.jsonl").open("a") as f:
        f.write(json.dumps({"iteration": 2, "status": "ok", "reward": 9.9}) + "\n")
    resumed = run_search(
        tmp_path, "ignored", "search.iterations=5", f"search.resume={split_dir}", *DETERMINISTIC
    )
    np.testing.assert_array_equal(resumed.weights, straight.weights)
    assert resumed.beta == straight.beta and resumed.iteration == 5
    assert (split_dir / "metagraph.json").read_text() == (
        tmp_path / "straight" / "metagraph.json"
    ).read_text()
    iterations = [
        json.loads(line)["iteration"]
        for line in (split_dir / "candidates.jsonl").read_text().splitlines()
    ]
    assert iterations == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("reward", ["mnasnet", "tunas"])
def test_unit_free_search_learns_and_resumes_exactly(tmp_path, reward):
    unit_free = [
        f"reward={reward}",
        "reward.metric=macs",
        "reward.calibration=2",
        "advantage=normalized",
        "advantage.warmup=2",
        "search.alpha=0.1",
        *DETERMINISTIC,
    ]
    straight = run_search(tmp_path, "straight", "search.iterations=6", *unit_free)
    run_search(tmp_path, "split", "search.iterations=3", *unit_free)
    run_search(
        tmp_path, "x", "search.iterations=6", f"search.resume={tmp_path / 'split'}", *unit_free
    )
    assert (tmp_path / "split" / "metagraph.json").read_text() == (
        tmp_path / "straight" / "metagraph.json"
    ).read_text()
    records = [
        json.loads(line)
        for line in (tmp_path / "straight" / "candidates.jsonl").read_text().splitlines()
    ]
    assert [r["advantage"] for r in records[:2]] == [0.0, 0.0]  # warm-up: moments only
    assert any(r["advantage"] != 0.0 for r in records[2:])
    assert straight.update_state["advantage"]["count"] == 6
    assert len(straight.update_state["reward"]["costs_seen"]) == 2
    assert straight.tried.sum() > 0 and straight.beta == 0.4  # beta is the paper's rule only


@pytest.mark.parametrize("outcome", ["lowest", "skip"])
def test_diverging_candidates_get_the_failure_outcome(tmp_path, outcome):
    metagraph = run_search(
        tmp_path,
        outcome,
        "search.iterations=2",
        "proxy.optimizer.lr=1e30",
        f"search.on_failure={outcome}",
        *DETERMINISTIC,
    )
    records = [
        json.loads(line)
        for line in (tmp_path / outcome / "candidates.jsonl").read_text().splitlines()
    ]
    assert metagraph.iteration == 2
    assert all("NonFiniteLoss" in r["error"] for r in records)
    if outcome == "lowest":
        assert [r["status"] for r in records] == ["failed", "failed"]
        assert all(r["accuracy"] == 0.0 and r["reward"] < 0 for r in records)
        assert metagraph.beta < 0.4
    else:
        assert [r["status"] for r in records] == ["skipped", "skipped"]
        assert metagraph.beta == 0.4
        np.testing.assert_array_equal(
            metagraph.weights, MetaGraph.create(metagraph.space, seed=0).weights
        )


def test_a_search_whose_first_candidates_all_fail_stops(tmp_path):
    """A broken setup is not a search: it stops with one line once the first N candidates failed."""
    with pytest.raises(GramError, match=r"search\.max_initial_failures: the first 2") as error:
        run_search(
            tmp_path, "run", "search.iterations=4", "proxy.optimizer.lr=1e30",
            "search.max_initial_failures=2", *DETERMINISTIC,
        )  # fmt: skip
    assert "NonFiniteLoss" in str(error.value) and "\n" not in str(error.value)
    assert [r["iteration"] for r in logs.read_records(tmp_path / "run")] == [0, 1]


def test_wandb_offline_writes_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_search(tmp_path, "wandb", "search.iterations=2", "logger=wandb", *DETERMINISTIC)
    runs = list((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb"))


def test_tensorboard_logger_writes_events(tmp_path):
    run_search(tmp_path, "tb", "search.iterations=2", "logger=tensorboard", *DETERMINISTIC)
    assert list((tmp_path / "tb" / "tensorboard").rglob("events.out.tfevents.*"))


# The paper's layout (no stem) and proxy; cifar10 is the deep setup (stem layout, synflow).
PAPER_LAYOUT = ("cifar10_paper", "cifar10_independent", "mnist", "fashion_mnist", "svhn")


@pytest.mark.parametrize(
    "experiment",
    [None, "cifar10", "cifar10_paper", "cifar10_independent", "mnist", "fashion_mnist", "svhn"],
)
def test_every_experiment_composes_and_instantiates(tmp_path, experiment):
    overrides = [f"+experiment={experiment}"] if experiment else []
    cfg = compose_config("search", tmp_path, overrides)
    if experiment:
        assert cfg.search.iterations == 1000
        assert cfg.space.name == ("paper" if experiment in PAPER_LAYOUT else "paper_stem")
        if experiment == "cifar10":
            assert cfg.proxy._target_.endswith("SynflowRecipe") and cfg.proxy.reference_size == 200
        else:
            assert cfg.proxy.train_size == 500
        dataset = experiment.removesuffix("_paper").removesuffix("_independent").replace("_", "")
        assert dataset in cfg.data._target_.lower()
    if experiment == "cifar10_paper":
        assert (cfg.search.alpha, cfg.search.beta, cfg.reward.gamma) == (0.9, 0.4, 1.0)
    if experiment == "cifar10":
        assert (cfg.search.alpha, cfg.reward.metric, cfg.latency.name) == (0.1, "macs", "macs")
        assert cfg.search.sampler == "paths"
        assert "Normalized" in cfg.advantage._target_
    datamodule = instantiate(cfg.data)
    space = instantiate(
        cfg.space,
        in_channels=datamodule.in_channels,
        input_size=datamodule.input_size,
        num_classes=datamodule.num_classes,
    )
    assert space.stem == (() if experiment in PAPER_LAYOUT or not experiment else (32,))
    metagraph = MetaGraph.create(space, density=cfg.search.density)
    recipe = instantiate(cfg.proxy)
    assert instantiate(cfg.latency).name == cfg.latency.name
    MetaGraphUpdate(metagraph, instantiate(cfg.reward), instantiate(cfg.advantage))
    for logger in cfg.logger.values():
        instantiate(logger)
    # fast_dev_run-style: one candidate of this space scored, or trained for one epoch on data
    # of this shape
    arch = metagraph.sample(np.random.default_rng(0), max_macs=20_000_000)
    if isinstance(recipe, SynflowRecipe):
        assert np.isfinite(synflow(arch))
        return
    fake = SyntheticDataModule(
        datamodule.in_channels, datamodule.input_size, datamodule.num_classes, train_samples=48
    )
    recipe.epochs = 1
    run = ProxyTrainer(fake.proxy_data(32, 16, seed=0), recipe).train(arch, seed=0)
    assert 0.0 <= run.accuracy <= 1.0


def test_mistyped_key_and_corrupt_resume(tmp_path):
    result = run_entry_point("search.py", "search.iteratons=5", cwd=tmp_path)
    assert (
        result.returncode != 0 and "iteratons" in result.stderr and "Traceback" not in result.stderr
    )
    run_dir = tmp_path / "broken"
    run_dir.mkdir()
    (run_dir / "metagraph.json").write_text(
        '{"format": "gramnas.metagraph", "version": 1, "dags": ['
    )
    result = run_entry_point("search.py", f"search.resume={run_dir}", cwd=tmp_path)
    assert (
        result.returncode == 2
        and "not valid JSON" in result.stderr
        and "Traceback" not in result.stderr
    )


def die_at(monkeypatch, n: int, *names: str) -> None:
    """The n-th call of the ``os`` functions ``names``, counted together, raises :class:`Killed`."""
    calls = itertools.count(1)

    def dying(real):
        def call(*args):
            if next(calls) == n:
                raise Killed
            return real(*args)

        return call

    for name in names:
        monkeypatch.setattr(os, name, dying(getattr(os, name)))


def test_a_kill_while_a_resume_rewrites_the_logs_leaves_a_resumable_run(tmp_path, monkeypatch):
    run_search(tmp_path, "run", "search.iterations=2", *DETERMINISTIC)
    damaged = tmp_path / "run"
    # A kill between iteration 2's log lines and its checkpoint leaves lines to drop on resume.
    logs.append_record(damaged, {"iteration": 2, "status": "ok", "reward": 9.9})
    logs.append_probe(damaged, {"iteration": 4, "accuracy": 0.5})
    kept = logs.read_records(damaged)[:2]
    for kill_at in range(1, 20):  # the kill_at-th fsync or rename of the rewrite dies
        run_dir = tmp_path / f"killed-{kill_at}"
        shutil.copytree(damaged, run_dir)
        with monkeypatch.context() as patch:
            die_at(patch, kill_at, "fsync", "replace")
            try:
                logs.truncate_logs(run_dir, 2)
                logs.truncate_probes(run_dir, 2)
                finished = True
            except Killed:
                finished = False
        assert logs.read_records(run_dir)[:2] == kept, kill_at
        assert logs.truncate_logs(run_dir, 2) == kept, kill_at  # the next resume can start
        rows = list(csv.DictReader((run_dir / "search_log.csv").open()))
        assert [int(r["iteration"]) for r in rows] == [0, 1]
        if finished:
            break
    assert finished and kill_at > 2
    run_search(tmp_path, "x", "search.iterations=3", f"search.resume={run_dir}", *DETERMINISTIC)
    assert [r["iteration"] for r in logs.read_records(run_dir)] == [0, 1, 2]
    assert not (run_dir / "probes.jsonl").exists()


def test_a_fresh_search_into_a_run_directory_is_refused_and_changes_nothing(tmp_path):
    run_search(tmp_path, "run", "search.iterations=1", *DETERMINISTIC)
    before = snapshot(tmp_path / "run")
    with pytest.raises(GramError, match=r"holds a search run .*search\.resume=") as error:
        run_search(tmp_path, "run", "search.iterations=2", "search.seed=1", *DETERMINISTIC)
    assert str(tmp_path / "run") in str(error.value) and "\n" not in str(error.value)
    assert snapshot(tmp_path / "run") == before


def test_a_second_search_into_a_locked_run_directory_is_refused(tmp_path):
    run_search(tmp_path, "run", "search.iterations=1", *DETERMINISTIC)
    run_dir = tmp_path / "run"
    before = snapshot(run_dir)
    holder = subprocess.Popen(  # another search, as far as the lock can tell
        [
            sys.executable,
            "-c",
            "import sys; from gramnas.search.runner import lock_run_dir\n"
            f"with lock_run_dir({str(run_dir)!r}):\n"
            "    print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        for overrides in ([], [f"search.resume={run_dir}"], ["search.resume=auto"]):
            with pytest.raises(GramError, match="another search is running") as error:
                run_search(tmp_path, "run", "search.iterations=2", *overrides, *DETERMINISTIC)
            assert str(run_dir) in str(error.value)
        assert snapshot(run_dir) == before
    finally:
        holder.communicate("")  # the holder ends; its lock goes with it
    run_search(tmp_path, "x", "search.iterations=2", f"search.resume={run_dir}", *DETERMINISTIC)
    assert MetaGraph.load(run_dir / "metagraph.json").iteration == 2
