"""Latency backends on this CPU: lookup-table accuracy on held-out networks, and SwiftNet against MobileNetV2-0.35.

1. The ``lut`` backend against end-to-end measurement with the same runtime
   (ONNX Runtime; LiteRT too when the tflite extra is installed), batch 1,
   1 thread. Each run is a fresh process with a fresh table and its own
   networks (seeded by the run number) in three families, taken in turn: the
   paper space sampled at 32x32 at several densities; networks derived from
   shaped meta-graphs of the small space at several levels and up-scales
   1.0, 1.25 and 1.5; and 96x96 / 128x128 inputs with a 32-channel stem and
   1000 classes (the paper space sampled, and shaped meta-graphs derived).
   The first third calibrates the table's correction; the rest is held out.
   Every network is measured end to end twice, in two passes: the correction
   is fitted on, and the predictors scored against, the faster of the two
   (as ``LutBackend.calibrate`` does), and the held-out networks' median
   |difference| between the passes is the protocol's own repeatability.
   Prints, per run and over all runs, the median |error|, the 90th
   percentile |error| and the mean signed error of the raw table and of the
   calibrated one (goal: <= 5%, <= 10% and within +-3%).
2. A SwiftNet derived from the committed CIFAR-10 meta-graph, adapted to
   96x96 and 128x128 input with a 32-channel stem and 1000 classes, against
   torchvision's MobileNetV2 at width 0.35: ONNX Runtime, batch 1, 1 thread.

Run: .venv/bin/python bench/latency.py    (--help: fewer networks, runs or backends)
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import numpy as np
import torch
import torchvision

from gramnas import Architecture, MetaGraph, count_macs, count_params, derive, preset_space
from gramnas.counting import count_with_hooks
from gramnas.latency import get_backend
from gramnas.latency.calibration import (
    MAX_MACS,
    distinct_networks,
    error_statistics,
    relative_errors,
)
from gramnas.latency.lut import FEATURES
from gramnas.registry import load_metagraph

CIFAR_METAGRAPH = "cifar10-paper-gamma1"  # shipped with gramnas (gramnas/metagraphs/)
TIMING = {"threads": 1, "warmup": 10, "runs": 50}
GOAL = {"median": 0.05, "p90": 0.10, "mean": 0.03}
# Seconds per network (filling the table, one end-to-end measurement) and per process
# start, for the runtime estimate printed up front: from runs on the 2-core machine
# while it was loaded, so a quiet one should take no longer.
COST_S = {"onnxruntime": (0.15, 0.2, 5.0), "tflite": (7.0, 2.5, 15.0)}


# --- the networks ---------------------------------------------------------------------


def shaped_metagraph(seed: int) -> MetaGraph:
    """A meta-graph of the small space with some structure in its weights, so levels differ."""
    metagraph = MetaGraph.create(preset_space("small"), seed=seed, density=0.15)
    rng = np.random.default_rng(seed)
    for _ in range(200):
        metagraph.update(metagraph.sample(rng), float(rng.uniform(0.3, 0.6)))
    return metagraph


def sampled(
    rng: np.random.Generator, densities: tuple[float, ...], **space: object
) -> Iterator[Architecture]:
    """Endless draws from fresh meta-graphs of the paper space, cycling through ``densities``."""
    for density in itertools.cycle(densities):
        metagraph = MetaGraph.create(
            preset_space("paper", **space), seed=int(rng.integers(1 << 31)), density=density
        )
        yield metagraph.sample(rng, max_macs=MAX_MACS)


def derived(rng: np.random.Generator, seed: int, **adapt: object) -> Iterator[Architecture]:
    """Endless networks derived from shaped meta-graphs at levels 0-0.9 and up-scales 1.0/1.25/1.5, in random order."""
    grid = list(itertools.product(np.linspace(0.0, 0.9, 19), (1.0, 1.25, 1.5)))
    for k in itertools.count():
        metagraph = shaped_metagraph(1000 * seed + k)
        for i in rng.permutation(len(grid)):
            level, upscale = grid[i]
            yield derive(metagraph, float(level), float(upscale), **adapt)


def families(seed: int) -> dict[str, Iterator[Architecture]]:
    """The paper space sampled; derived families; 96x96 and 128x128 inputs with a stem (both kinds)."""
    rng = np.random.default_rng(seed)
    stem = {"stem": (32,), "num_classes": 1000}
    return {
        "paper": sampled(rng, (0.02, 0.03, 0.05)),
        "derived": derived(rng, seed),
        "stem": itertools.chain.from_iterable(
            zip(
                sampled(rng, (0.02, 0.05), input_size=96, **stem),
                sampled(rng, (0.02, 0.05), input_size=128, **stem),
                derived(rng, seed, input_shape=(3, 96, 96), **stem),
                derived(rng, seed, input_shape=(3, 128, 128), **stem),
                strict=True,
            )
        ),
    }


def networks(
    seed: int, count: int, calibration: int
) -> tuple[list[Architecture], list[Architecture]]:
    """``calibration`` and ``count - calibration`` distinct networks, the families taken in turn."""
    per_family = -(-count // 3)
    chosen: list[list[Architecture]] = []
    for family in families(seed).values():
        seen = {arch.id for group in chosen for arch in group}
        chosen.append(
            distinct_networks((a for a in family if a.id not in seen), per_family)
        )  # within the library's MACs range: real candidates, one measurement within seconds
    in_turn = [arch for group in zip(*chosen, strict=True) for arch in group]
    return in_turn[:calibration], in_turn[calibration:count]


# --- one run, in a fresh process --------------------------------------------------------


def one_run(backend: str, seed: int, count: int, calibration: int) -> dict:
    """Fill a fresh table, calibrate it, and score it on the held-out networks."""
    calibrate, held_out = networks(seed, count, calibration)
    lut = get_backend("lut", measure_with=backend, measure_options=TIMING)
    measurer = get_backend(backend, **TIMING)
    start = time.perf_counter()
    for arch in calibrate + held_out:
        lut.features(arch)  # fills the table
    fill_s = time.perf_counter() - start
    start = time.perf_counter()
    lut.calibrate(calibrate)  # measures them in two passes too
    passes = [[measurer.measure(arch).median_ms for arch in held_out] for _ in range(2)]
    measure_s = (time.perf_counter() - start) / (2 * count)
    start = time.perf_counter()
    raw = [lut.predict(arch, calibrated=False) for arch in held_out]
    calibrated = [lut.predict(arch) for arch in held_out]
    predict_s = (time.perf_counter() - start) / (2 * len(held_out))
    return {
        "entries": len(lut.entries),
        "coefficients": lut.correction,
        "raw_ms": raw,
        "calibrated_ms": calibrated,
        "passes_ms": passes,
        "fill_s": fill_s,
        "measure_s": measure_s,
        "predict_s": predict_s,
    }


# --- runs and their summary ---------------------------------------------------------------


def errors(predicted: list[float], passes: list[list[float]]) -> np.ndarray:
    """Relative errors against the faster pass, as the correction is fitted (see ``calibrate``)."""
    return relative_errors(predicted, np.min(passes, axis=0))


def repeatability(passes: list[list[float]]) -> float:
    first, second = np.asarray(passes)
    return float(np.median(np.abs(second - first) / first))


def row(label: str, raw: np.ndarray, calibrated: np.ndarray, repeat: float, extra: str = "") -> str:
    cells = [
        f"{v:+.1%}" if i == 2 else f"{v:.1%}"
        for stat in (raw, calibrated)
        for i, v in enumerate(error_statistics(stat))
    ]
    return f"  | {label} | " + " | ".join(cells) + f" | {repeat:.1%} | {extra} |"


def run_in_fresh_process(backend: str, seed: int, count: int, calibration: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "run.json")
        command = [
            sys.executable,
            __file__,
            "--one-run",
            backend,
            str(seed),
            str(count),
            str(calibration),
            output,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        if done.returncode != 0:
            raise SystemExit(f"run {seed} ({backend}) failed:\n{done.stderr[-3000:]}")
        with open(output) as f:
            return json.load(f)


def lut_accuracy(backend: str, runs: int, count: int, calibration: int) -> None:
    held_out = count - calibration
    print(
        f"\nlookup table vs {backend} end to end, batch 1, 1 thread: {runs} runs (fresh process, table and networks each),"
        f" {calibration} calibration + {held_out} held-out networks per run"
    )
    print(
        "  | run | raw median | raw p90 | raw mean | calibrated median | calibrated p90 | calibrated mean | repeatability | entries; coefficients |"
    )
    print("  |---|---|---|---|---|---|---|---|---|")
    results, started = [], time.perf_counter()
    for seed in range(runs):
        result = run_in_fresh_process(backend, seed, count, calibration)
        results.append(result)
        coefficients = ", ".join(f"{k} {v:.3g}" for k, v in result["coefficients"].items())
        print(
            row(
                str(seed),
                errors(result["raw_ms"], result["passes_ms"]),
                errors(result["calibrated_ms"], result["passes_ms"]),
                repeatability(result["passes_ms"]),
                f"{result['entries']}; {coefficients}",
            ),
            flush=True,
        )
    pooled = {
        key: np.concatenate([errors(r[key], r["passes_ms"]) for r in results])
        for key in ("raw_ms", "calibrated_ms")
    }
    pooled_passes = np.concatenate([r["passes_ms"] for r in results], axis=1)
    print(
        row(
            f"all ({len(pooled['raw_ms'])} networks)",
            pooled["raw_ms"],
            pooled["calibrated_ms"],
            repeatability(pooled_passes),
        )
    )
    per_run = np.array(
        [error_statistics(errors(r["calibrated_ms"], r["passes_ms"])) for r in results]
    )
    spread = ", ".join(
        f"{name} {lo:.1%} to {hi:.1%}"
        for name, lo, hi in zip(
            ("median", "p90", "mean"), per_run.min(0), per_run.max(0), strict=True
        )
    )
    meets = all(
        m <= GOAL["median"] and p <= GOAL["p90"] and abs(e) <= GOAL["mean"] for m, p, e in per_run
    )
    print(
        f"  calibrated, spread over runs: {spread}; every run within the goal"
        f" (<= {GOAL['median']:.0%}, <= {GOAL['p90']:.0%}, +-{GOAL['mean']:.0%}): {'yes' if meets else 'no'}"
    )
    fill = np.mean([r["fill_s"] / count for r in results])
    measure = np.mean([r["measure_s"] for r in results])
    predict = np.mean([r["predict_s"] for r in results])
    print(
        f"  per network: predict {predict * 1e3:.3f} ms (warm table), measure {measure * 1e3:.0f} ms"
        f" ({measure / predict:.0f}x), fill the table {fill * 1e3:.0f} ms; {time.perf_counter() - started:.0f} s in all"
    )


def estimated_minutes(backends: list[str], runs: int, count: int, mobilenet: bool) -> float:
    """From ``COST_S``: every network fills the table and is measured twice."""
    seconds = sum(
        runs * (COST_S[b][0] * count + COST_S[b][1] * 2 * count + COST_S[b][2]) for b in backends
    )
    return (seconds + (60 if mobilenet else 0)) / 60


def swiftnet_vs_mobilenet() -> None:
    onnx = get_backend("onnxruntime", threads=1, warmup=20, runs=100)
    metagraph = load_metagraph(CIFAR_METAGRAPH)
    print(
        f"\nSwiftNet (from {CIFAR_METAGRAPH}, 32-channel stem, 1000 classes) vs MobileNetV2-0.35, ONNX Runtime batch 1, 1 thread:"
    )
    print(f"  {'input':>6} {'model':<24} {'MMACs':>7} {'params':>9} {'latency ms':>10}  ratio")
    for size in (96, 128):
        mobilenet = torchvision.models.mobilenet_v2(width_mult=0.35).eval()
        mb_macs, mb_params = count_with_hooks(mobilenet, (3, size, size))
        mb_ms = onnx.measure(mobilenet, (3, size, size)).median_ms
        candidates = [
            derive(metagraph, lv, input_shape=(3, size, size), num_classes=1000, stem=(32,))
            for lv in np.linspace(0, 1, 21)
        ]
        swiftnet = min(
            candidates, key=lambda a: abs(np.log(count_macs(a) / mb_macs))
        )  # closest in MACs
        level = np.linspace(0, 1, 21)[candidates.index(swiftnet)]
        sw_ms = onnx.measure(swiftnet).median_ms
        sw_params = count_params(swiftnet)
        print(
            f"  {size:>6} {'MobileNetV2-0.35':<24} {mb_macs / 1e6:7.1f} {mb_params:9d} {mb_ms:10.3f}"
        )
        print(
            f"  {size:>6} {f'SwiftNet-{size}-{level:.2f}-1.00':<24} {count_macs(swiftnet) / 1e6:7.1f} {sw_params:9d} {sw_ms:10.3f}  MobileNetV2 ms / SwiftNet ms = {mb_ms / sw_ms:.2f}"
        )
    print(
        "  (paper: SwiftNet 2.42x faster at similar accuracy on a Pixel 1; these models are untrained, and accuracy is not compared here)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=3, help="fresh processes per backend (default 3)"
    )
    parser.add_argument(
        "--networks",
        type=int,
        default=60,
        help="networks per run, calibration included (default 60)",
    )
    parser.add_argument(
        "--calibration", type=int, help="calibration networks per run (default a third)"
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=sorted(COST_S),
        help="default: onnxruntime, and tflite if installed",
    )
    parser.add_argument("--no-mobilenet", action="store_true", help="skip SwiftNet vs MobileNetV2")
    parser.add_argument(
        "--one-run",
        nargs=5,
        metavar=("BACKEND", "SEED", "NETWORKS", "CALIBRATION", "OUTPUT"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.one_run:
        backend, seed, count, calibration, output = args.one_run
        result = one_run(backend, int(seed), int(count), int(calibration))
        with open(output, "w") as f:
            json.dump(result, f)
        return
    tflite = (
        importlib.util.find_spec("litert_torch") is not None
        and importlib.util.find_spec("ai_edge_litert") is not None
    )
    backends = args.backends or ["onnxruntime", *(["tflite"] if tflite else [])]
    calibration = args.calibration or max(args.networks // 3, len(FEATURES))
    if not len(FEATURES) <= calibration < args.networks:
        parser.error(
            f"need {len(FEATURES)} <= calibration < networks (one per coefficient at least)"
        )
    print(
        f"estimated runtime on a quiet 2-core machine: {estimated_minutes(backends, args.runs, args.networks, not args.no_mobilenet):.1f} min"
        f" ({', '.join(backends)}; runs: {args.runs}, networks per run: {args.networks})"
    )
    for backend in backends:
        lut_accuracy(backend, args.runs, args.networks, calibration)
    if not args.no_mobilenet:
        swiftnet_vs_mobilenet()


if __name__ == "__main__":
    main()
