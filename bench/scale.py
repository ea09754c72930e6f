"""Search throughput on several workers: candidates per hour at W=1 and W=2, local pool and Ray.

Runs the real search loop (``GramSearch.step``: sample W, evaluate, update in
order, log, checkpoint), built from ``conf/`` by ``build_search`` as
``src/search.py`` builds it: ``+experiment=cifar10_paper`` (paper space,
density 0.02, 500 samples, channels_last, ONNX Runtime latency with 1 thread)
on CIFAR-10-shaped generated data, with gamma 0.05, lr 0.05 and fewer epochs by
default so that it ends in a few minutes. W=1 trains in the search's process
with all cores; W workers get cores / W threads each.

Of the workers' time (W x wall), "idle" is the wait for the slowest candidate
of each synchronous batch, and "engine" is everything that is neither training
nor that wait: dispatch, result transfer, the driver's latency measurements,
updates, logs and checkpoints.

It ends with a projection, not a measurement: the wall time of a
1000-iteration CIFAR-10 search on W GPUs, from the per-candidate seconds of the
1000-iteration H100 search shipped with the package (cifar10-paper-gamma1),
batched W at a time in their logged order, plus the serial time per candidate
(sample, latency, update) and the per-batch overhead measured here. Ray measures
latency on its own actor while candidates train, so for Ray the serial term is
an upper bound.

Run: .venv/bin/python bench/scale.py [--candidates 8] [--epochs 2] [--executors local ray]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from gramnas.registry import METAGRAPHS_DIR
from gramnas.search.build import build_search, compose_search_config
from gramnas.search.logs import read_records
from gramnas.search.runner import METAGRAPH_FILE, GramSearch

CONF = Path(__file__).resolve().parents[1] / "conf"
TRAINING = ("build", "fit", "validate")
DRIVER = ("sample", "latency", "update")  # done one candidate at a time in the search's process


def search_overrides(kind: str, workers: int, args, cores: int) -> list[str]:
    """The benchmarked search: the paper's on generated data, W workers of ``kind``."""
    overrides = [
        "+experiment=cifar10_paper",
        "data=synthetic",
        "data.test_samples=10",
        "reward.gamma=0.05",
        f"proxy.epochs={args.epochs}",
        "proxy.optimizer.lr=0.05",
        "+latency.warmup=5",
        "+latency.runs=30",
        f"search.iterations={args.candidates}",
        f"search.workers={workers}",
        f"search.max_macs={int(args.max_mmacs * 1e6)}",
        f"executor={kind}",
    ]
    if kind == "ray":
        overrides += [
            f"executor.num_cpus={cores // workers}",
            f"executor.init={{num_cpus: {cores}, include_dashboard: false}}",
        ]
    return overrides


def batch_maxima(seconds: np.ndarray, workers: int) -> np.ndarray:
    """Each synchronous batch of W candidates lasts as long as its slowest."""
    return np.array([seconds[i : i + workers].max() for i in range(0, len(seconds), workers)])


def measure(kind: str, workers: int, args, cores: int) -> dict[str, float]:
    parts = build_search(compose_search_config(CONF, search_overrides(kind, workers, args, cores)))
    metagraph, settings = parts.metagraph, parts.settings
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        executor = parts.executor()
        started = time.perf_counter()
        search = GramSearch(metagraph, executor, parts.update, settings, run_dir, progress=False)
        metagraph.save(os.path.join(run_dir, METAGRAPH_FILE))
        with executor:
            while metagraph.iteration < settings.iterations:
                search.step()
            wall = time.perf_counter() - started  # workers' shutdown excluded
        records = read_records(search.run_dir)
    train = np.array([sum(r["timings"].get(k, 0.0) for k in TRAINING) for r in records])
    driver = [sum(r["timings"].get(k, 0.0) for k in DRIVER) for r in records]
    batch_max = batch_maxima(train, workers)
    idle = workers * batch_max.sum() - train.sum()
    return {
        "startup": started - start,
        "wall": wall,
        "per_hour": 3600 * len(records) / wall,
        "train": float(np.mean(train)),
        "driver": float(np.mean(driver)),
        "idle": max(idle, 0.0) / (workers * wall),
        "engine": 1 - (train.sum() + idle) / (workers * wall),
        "batch_overhead": (wall - batch_max.sum() - sum(driver)) / len(batch_max),
        "mmacs": float(np.mean([r["macs"] for r in records])) / 1e6,
        "failed": sum(r["status"] != "ok" for r in records),
    }


def project(train_s: np.ndarray, driver_s: float, batch_overhead_s: float, workers: int) -> float:
    """Seconds for these candidates in batches of W: each batch waits for its slowest; the driver's part is serial."""
    batches = batch_maxima(train_s, workers)
    return batches.sum() + len(batches) * batch_overhead_s + len(train_s) * driver_s


def logged_seconds(name: str) -> np.ndarray:
    with open(METAGRAPHS_DIR / name / "search_log.csv") as f:
        return np.array([float(row["seconds"]) for row in csv.DictReader(f)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2, help="the cifar10 experiment uses 5")
    parser.add_argument("--max-mmacs", type=float, default=15.0)
    parser.add_argument("--executors", nargs="+", default=["local", "ray"])
    parser.add_argument("--gpu-log", default="cifar10-paper-gamma1", help="shipped search log")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))

    print(
        f"scale benchmark: {args.candidates} candidates per run, paper space (<= {args.max_mmacs:g} MMACs),"
        f" 3x32x32, {args.epochs} epochs x 500 samples, {cores} cores, ONNX Runtime latency 1 thread"
    )
    print(
        f"{'executor':>8} {'W':>2} {'threads/W':>9} {'start s':>7} {'wall s':>7} {'cand/h':>7}"
        f" {'vs W=1':>6} {'train s':>7} {'driver s':>8} {'idle':>6} {'engine':>6} {'MMACs':>6}"
    )
    results = {}
    for kind in args.executors:
        for workers in (1, 2):
            r = results[kind, workers] = measure(kind, workers, args, cores)
            ratio = r["per_hour"] / results[kind, 1]["per_hour"]
            threads = cores // workers
            print(
                f"{kind:>8} {workers:>2} {threads:>9} {r['startup']:7.1f} {r['wall']:7.1f}"
                f" {r['per_hour']:7.0f} {ratio:6.2f} {r['train']:7.2f} {r['driver']:8.3f}"
                f" {r['idle']:6.1%} {r['engine']:6.1%} {r['mmacs']:6.1f}"
                + (f"  failed {r['failed']}" if r["failed"] else "")
            )

    # Projection: H100 candidate times from the shipped log, driver time and batch overhead from here.
    logged = logged_seconds(args.gpu_log)
    for kind in args.executors:
        r = results[kind, 2]
        train = np.maximum(
            logged - r["driver"], 0.0
        )  # the log's seconds include the latency measurement
        print(
            f"\nprojection (not a measurement) of a 1000-iteration CIFAR-10 search on W GPUs, {kind} executor:"
            f" {len(logged)} logged H100 candidates ({logged.mean():.2f} s each), driver"
            f" {r['driver']:.3f} s per candidate and batch overhead {max(r['batch_overhead'], 0):.2f} s measured above"
        )
        for workers in (1, 2, 4, 8, 16):
            seconds = project(train, r["driver"], max(r["batch_overhead"], 0.0), workers)
            print(f"  W={workers:>2}: {seconds / 60:6.1f} min")


if __name__ == "__main__":
    main()
