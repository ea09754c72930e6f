"""Parallel candidates: batches on a local process pool and on a real local Ray instance.

Every comparison here is exact: with latency from MACs and one torch thread per
worker, a batched search gives the same meta-graph wherever its candidates train.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import DETERMINISTIC
from conftest import run_search as run_tiny_search

TESTS = Path(__file__).resolve().parent
RAY = ["search.workers=2", "executor=ray"]  # on the instance of the local_ray fixture


def run_search(tmp_path: Path, name: str, *overrides: str):
    return run_tiny_search(tmp_path, name, *DETERMINISTIC, *overrides)


def checkpoint(tmp_path: Path, name: str) -> str:
    return (tmp_path / name / "metagraph.json").read_text()


def records(tmp_path: Path, name: str) -> list[dict]:
    lines = (tmp_path / name / "candidates.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def kill(tmp_path: Path, times: int) -> list[str]:
    return [
        "+callbacks.kill._target_=fault_injection.KillWorker",
        f"+callbacks.kill.marker_dir={tmp_path / 'kills'}",
        f"+callbacks.kill.times={times}",
    ]


POOL = ["search.workers=2", "executor=local", "executor.threads=1"]
SERIAL = ["search.workers=2", "executor=serial"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """A straight 4-iteration search in batches of 2, trained in this process on one thread."""
    tmp_path = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count
    try:
        run_search(tmp_path, "serial", "search.iterations=4", *SERIAL)
    finally:
        torch.set_num_threads(threads)
    return checkpoint(tmp_path, "serial")


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray instance of two CPUs whose workers can import the fault injection."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}},
    )
    yield
    ray.shutdown()


def test_pool_is_deterministic_matches_serial_batches_and_retries_a_killed_worker(
    tmp_path, reference
):
    first = run_search(tmp_path, "pool-1", "search.iterations=4", *POOL)
    run_search(tmp_path, "pool-2", "search.iterations=4", *POOL, *kill(tmp_path, times=1))
    assert first.iteration == 4
    assert checkpoint(tmp_path, "pool-1") == checkpoint(tmp_path, "pool-2") == reference
    log, killed = records(tmp_path, "pool-1"), records(tmp_path, "pool-2")
    assert [r["iteration"] for r in log] == [0, 1, 2, 3]
    assert [r["worker"] for r in log] == ["local-0", "local-1"] * 2  # trained in the pool
    assert all(r["status"] == "ok" and r["timings"]["fit"] > 0 for r in log + killed)
    assert [r["attempts"] for r in log] == [1, 1, 1, 1]
    assert sorted(r["attempts"] for r in killed) == [1, 1, 1, 2]  # one candidate lost its worker


def test_batches_differ_from_the_one_worker_loop(tmp_path, reference):
    run_search(tmp_path, "w1", "search.iterations=4")
    assert checkpoint(tmp_path, "w1") != reference


def test_pool_resume_matches_a_straight_run(tmp_path, reference):
    run_search(tmp_path, "split", "search.iterations=2", *POOL)
    split = tmp_path / "split"
    run_search(tmp_path, "unused", "search.iterations=4", f"search.resume={split}", *POOL)
    assert checkpoint(tmp_path, "split") == reference
    assert [r["iteration"] for r in records(tmp_path, "split")] == [0, 1, 2, 3]


def test_candidate_whose_worker_keeps_dying_is_failed_and_the_search_goes_on(tmp_path):
    metagraph = run_search(
        tmp_path,
        "dying",
        "search.iterations=4",
        *POOL,
        "executor.max_retries=1",
        *kill(tmp_path, times=4),  # both candidates of the first batch die twice
    )
    log = records(tmp_path, "dying")
    assert metagraph.iteration == 4
    assert [r["status"] for r in log] == ["failed", "failed", "ok", "ok"]
    assert all("WorkerDied" in r["error"] and r["attempts"] == 2 for r in log[:2])
    assert log[0]["accuracy"] == 0.0 and log[0]["reward"] < 0  # on_failure=lowest


def test_ray_is_deterministic_resumes_exactly_and_retries_a_killed_actor(
    tmp_path, reference, local_ray
):
    run_search(tmp_path, "straight", "search.iterations=4", *RAY)
    run_search(tmp_path, "split", "search.iterations=2", *RAY, *kill(tmp_path, times=1))
    split = tmp_path / "split"
    # The fault injector was part of the run's config: the resume leaves it out on purpose.
    run_search(
        tmp_path, "unused", "search.iterations=4", f"search.resume={split}",
        "search.allow_changes=[callbacks.kill]", *RAY,
    )  # fmt: skip
    assert checkpoint(tmp_path, "straight") == checkpoint(tmp_path, "split") == reference
    straight, killed = records(tmp_path, "straight"), records(tmp_path, "split")
    assert [r["worker"] for r in straight] == ["ray-0", "ray-1"] * 2
    assert sorted(r["attempts"] for r in killed) == [1, 1, 1, 2]
    assert all(r["status"] == "ok" for r in straight + killed)
