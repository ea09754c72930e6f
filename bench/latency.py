"""Latency backends on this CPU: lookup-table accuracy and speed, and SwiftNet against MobileNetV2-0.35.

1. The ``lut`` backend (entries measured with ONNX Runtime, 1 thread) predicts
   the latency of 40 networks (30 sampled from meta-graphs of the paper space
   at 32x32, 10 derived at prune levels 0.0-0.9 from a small searched-like
   meta-graph); each is also measured end to end with ONNX Runtime. Prints
   the median absolute prediction error (goal: within 10%) and the cost per
   candidate of predicting (warm table), of filling the table, and of measuring.
2. A SwiftNet derived from the committed CIFAR-10 meta-graph, adapted to
   96x96 and 128x128 input with a 32-channel stem and 1000 classes, against
   torchvision's MobileNetV2 at width 0.35: ONNX Runtime, batch 1, 1 thread.

Run: .venv/bin/python bench/latency.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torchvision

from gramnas import MetaGraph, count_macs, count_params, derive, preset_space
from gramnas.counting import count_with_hooks
from gramnas.latency import get_backend
from gramnas.registry import load_metagraph

CIFAR_METAGRAPH = "cifar10-paper-gamma1"  # shipped with gramnas (gramnas/metagraphs/)
TIMING = {"threads": 1, "warmup": 10, "runs": 50}


def networks() -> list:
    paper = preset_space("paper")
    sampled = [
        MetaGraph.create(paper, seed=i % 3, density=0.02).sample(
            np.random.default_rng(i), max_macs=60_000_000
        )
        for i in range(30)
    ]
    shaped = MetaGraph.create(preset_space("small"), seed=1, density=0.15)
    rng = np.random.default_rng(0)
    for _ in range(200):  # give the weights some structure, so levels differ
        shaped.update(shaped.sample(rng), float(rng.uniform(0.3, 0.6)))
    derived = [derive(shaped, level) for level in np.linspace(0.0, 0.9, 10)]
    return sampled + derived


def lut_accuracy() -> None:
    onnx = get_backend("onnxruntime", **TIMING)
    lut = get_backend("lut", measure_options=TIMING)
    archs = networks()
    errors, fill_s, measure_s = [], 0.0, 0.0
    for arch in archs:
        start = time.perf_counter()
        predicted = lut.measure(arch).median_ms  # fills missing entries
        fill_s += time.perf_counter() - start
        start = time.perf_counter()
        measured = onnx.measure(arch).median_ms
        measure_s += time.perf_counter() - start
        errors.append((predicted - measured) / measured)
    start = time.perf_counter()
    for arch in archs:
        lut.measure(arch)
    predict_s = (time.perf_counter() - start) / len(archs)
    errors = np.asarray(errors)
    print(
        f"lookup table vs ONNX Runtime on {len(archs)} networks ({len(lut.entries)} table entries):"
    )
    print(
        f"  median |error| {np.median(np.abs(errors)):.1%} (goal <= 10%), 90th percentile {np.percentile(np.abs(errors), 90):.1%},"
        f" mean signed error {errors.mean():+.1%}"
    )
    print(
        f"  per candidate: predict {predict_s * 1e3:.3f} ms (warm table), measure {measure_s / len(archs) * 1e3:.0f} ms"
        f" -> {measure_s / len(archs) / predict_s:.0f}x faster; filling the table cost {fill_s / len(archs) * 1e3:.0f} ms per network here"
    )


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


if __name__ == "__main__":
    torch.set_num_threads(1)
    lut_accuracy()
    swiftnet_vs_mobilenet()
