"""What a resume may change of its run's config, and the Lightning log of a killed and resumed search."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import DETERMINISTIC, ROOT, Killed, compose_config, kill_at_call
from conftest import TINY as SEARCH_TINY
from gramnas.errors import GramError
from gramnas.metagraph import MetaGraph
from gramnas.search import logs
from gramnas.search.runconfig import check_resume_config

# the tiny search with deterministic latency; each test here picks its own logger
TINY = [*(o for o in SEARCH_TINY if not o.startswith("logger=")), *DETERMINISTIC]


def run_search(output_dir: Path, *overrides: str) -> MetaGraph:
    from search import search

    return search(compose_config("search", output_dir, [*TINY, *overrides]))


def test_a_resume_refuses_other_settings_and_logs_the_allowed_ones(tmp_path):
    run_dir = tmp_path / "run"
    run_search(run_dir, "logger=none", "search.iterations=1", "reward.gamma=0.05")
    config = (run_dir / "config.yaml").read_bytes()
    resume = [f"search.resume={run_dir}", "logger=none"]
    for overrides, conflict in (
        ([], "reward.gamma=1.0 (run: 0.05)"),  # the run's override left out
        (["reward.gamma=0.05", "proxy.epochs=2"], "proxy.epochs=2 (run: 1)"),
        (["reward.gamma=0.05", "search.seed=5"], "search.seed=5 (run: 0)"),
    ):
        with pytest.raises(GramError, match=r"search\.resume: .* other settings") as error:
            run_search(tmp_path / "x", *resume, "search.iterations=2", *overrides)
        assert conflict in str(error.value) and "\n" not in str(error.value)
    assert not (run_dir / "config_changes.jsonl").exists()
    # iterations, executor and loggers change freely; an allowed change is logged with the run
    run_search(
        tmp_path / "x", *resume, "search.iterations=2", "executor.threads=1",
        "reward.gamma=0.5", "search.allow_changes=[reward]",
    )  # fmt: skip
    changes = logs.read_jsonl(run_dir / "config_changes.jsonl")
    assert changes == [{"iteration": 1, "changes": {"reward.gamma": [0.05, 0.5]}}]
    # the next resume compares with the changed value; config.yaml is never rewritten
    run_search(tmp_path / "x", *resume, "search.iterations=3", "reward.gamma=0.5")
    with pytest.raises(GramError, match=r"reward.gamma=0.05 \(run: 0.5\)"):
        run_search(tmp_path / "x", *resume, "search.iterations=4", "reward.gamma=0.05")
    with pytest.raises(GramError, match=r"search\.seed: held by its metagraph\.json"):
        run_search(
            tmp_path / "x", *resume, "search.iterations=4", "reward.gamma=0.5",
            "search.seed=1", "search.allow_changes=[search]",
        )  # fmt: skip
    assert (run_dir / "config.yaml").read_bytes() == config
    assert MetaGraph.load(run_dir / "metagraph.json").iteration == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_runs_of_earlier_versions_resume_with_their_command_line(tmp_path, seed):
    """The CIFAR-10 runs in assets/ (config.yaml with search.resume, no allow_changes, data.image_size,
    search.proxy_train and search.proxy_val, no search.sampler), made with what is now
    +experiment=cifar10_independent."""
    stored = ROOT / f"assets/searches/cifar10-mnasnet-seed{seed}/config.yaml"
    if not stored.is_file():
        pytest.skip(f"{stored} is not in this checkout")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(stored, run_dir / "config.yaml")
    for root in ("data/cifar10-jpg", str(Path.cwd() / "data/cifar10-jpg")):
        cfg = compose_config(
            "search",
            tmp_path / "new",
            [
                "+experiment=cifar10_independent", "data=imagefolder", f"data.root={root}",
                "data.num_workers=0", "executor.threads=1", f"search.seed={seed}",
                "logger=csv", f"search.resume={run_dir}",
            ],
        )  # fmt: skip
        assert check_resume_config(run_dir, OmegaConf.to_container(cfg, resolve=True), []) == {}


def metrics_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row["search/reward"]]


def test_the_lightning_log_survives_a_kill_and_continues_on_resume(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_at_call(patch, MetaGraph, "sample", 3)
        with pytest.raises(Killed):
            run_search(run_dir, "logger=csv", "search.iterations=4")
    assert metrics_steps(run_dir) == [0, 1]  # every checkpointed iteration, none buffered away
    run_search(tmp_path / "new", "logger=csv", "search.iterations=3", f"search.resume={run_dir}")
    assert metrics_steps(run_dir) == [0, 1, 2]
    assert not (tmp_path / "new" / "csv").exists()  # the resumed run's log, not a new one
    run_search(run_dir, "logger=csv", "search.iterations=4", "search.resume=auto")
    assert metrics_steps(run_dir) == [0, 1, 2, 3]
    records = logs.read_records(run_dir)
    with open(run_dir / "csv" / "metrics.csv") as f:
        logged = [float(row["search/reward"]) for row in csv.DictReader(f)]
    assert logged == pytest.approx([r["reward"] for r in records])
    assert json.loads((run_dir / "metagraph.json").read_text())["iteration"] == 4


def test_a_resume_past_its_target_says_so_and_shows_the_search_done(tmp_path, caplog, capsys):
    run_dir = tmp_path / "run"
    run_search(run_dir, "logger=none", "search.iterations=2")
    capsys.readouterr()
    with caplog.at_level("INFO"):
        run_search(tmp_path / "x", f"search.resume={run_dir}", "logger=none", "search.iterations=1")
    assert "search already at iteration 2, search.iterations=1 reached" in caplog.text
    bar = capsys.readouterr().out  # off a terminal, the bar's last state
    assert "2/2" in bar and "2/1" not in bar, bar
