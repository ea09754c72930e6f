"""Per-iteration cost of the CIFAR-10 proxy configuration, and what the framework adds.

The search of ``+experiment=cifar10_paper`` (the paper space, h=3, m=3, n=30,
density 0.02; 500 proxy training and 500 validation samples, 5 epochs of
momentum SGD, batch 64; ONNX Runtime latency), built from ``conf/`` by
``build_search`` as ``src/search.py`` builds it, on generated data of
CIFAR-10's shape (3x32x32, 10 classes). Each sampled candidate is trained twice from the same
seed: once through the search's path (the serial executor's Lightning training
and latency measurement, then the MetaGraphUpdate callback), once by a plain PyTorch loop doing the same steps on the same
batches. Framework overhead = iteration time - plain train - plain validate.

Run: .venv/bin/python bench/search.py [--candidates 4] [--max-mmacs 25] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gramnas import build_model, count_macs
from gramnas.search.build import build_search, compose_search_config
from gramnas.search.executors import Candidate
from gramnas.search.runner import iteration_seeds
from gramnas.training.data import ProxyData, tensor_loader
from gramnas.training.proxy import ProxyRecipe

CONF = Path(__file__).resolve().parents[1] / "conf"
SEARCH = [
    "+experiment=cifar10_paper",
    "data=synthetic",
    "data.test_samples=10",
    "+latency.warmup=5",
    "+latency.runs=30",
    "executor=serial",
]


def plain_loop(arch, data: ProxyData, seed: int, recipe: ProxyRecipe) -> tuple[float, float, float]:
    """The recipe's steps without Lightning: seconds to train, seconds to validate, accuracy.

    ``data`` is already in the memory format, as the ProxyTrainer holds it.
    """
    torch.manual_seed(seed)
    model = build_model(arch)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = recipe.optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    for _ in range(recipe.epochs):
        for x, y in tensor_loader(
            data.train_x, data.train_y, recipe.batch_size, shuffle=True, seed=seed
        ):
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    trained = time.perf_counter()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for x, y in tensor_loader(data.val_x, data.val_y, 256, shuffle=False):
            correct += int((model(x).argmax(1) == y).sum())
    return trained - start, time.perf_counter() - trained, correct / len(data.val_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument(
        "--max-mmacs", type=float, default=15.0, help="MACs budget of the sampled candidates"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="1 repeats within a few %%; 2 vary up to 2x"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    searches = {
        channels_last: build_search(
            compose_search_config(CONF, [*SEARCH, f"proxy.channels_last={channels_last}"])
        )
        for channels_last in (False, True)
    }
    # The same candidates for both memory formats, drawn as iterations 0.. of a search would draw them.
    budget = int(args.max_mmacs * 1e6)
    candidates = [
        searches[False].metagraph.sample(iteration_seeds(0, i)[0], max_macs=budget)
        for i in range(args.candidates)
    ]
    recipe = searches[False].proxy.recipe
    print(
        f"search benchmark: {args.candidates} candidates, paper space, 3x32x32, {recipe.epochs} epochs"
        f" x {recipe.train_size} samples, torch threads {args.threads}, ONNX Runtime 1 thread"
    )
    for channels_last, parts in searches.items():
        metagraph, trainer, update = parts.metagraph, parts.proxy, parts.update
        executor = parts.executor()
        phases: dict[str, list[float]] = {}
        totals, plain_fit, plain_val, macs = [], [], [], []
        for iteration, arch in enumerate(candidates):
            rng, seed = iteration_seeds(0, iteration)
            if (
                iteration % 2
            ):  # alternate which path runs first, so neither always pays the cold start
                fit_s, val_s, _ = plain_loop(arch, trainer.data, seed, trainer.recipe)
            start = time.perf_counter()
            metagraph.sample(
                rng, max_macs=budget
            )  # timed as in the search; the drawn one is fixed above
            sampled = time.perf_counter()
            [result] = executor.evaluate([Candidate(iteration, arch, seed)])
            update.on_candidate_end(result)
            totals.append(time.perf_counter() - start)
            if not iteration % 2:
                fit_s, val_s, _ = plain_loop(arch, trainer.data, seed, trainer.recipe)
            timings = {"sample": sampled - start, **result.timings}
            for key, value in timings.items():
                phases.setdefault(key, []).append(value)
            plain_fit.append(fit_s)
            plain_val.append(val_s)
            macs.append(count_macs(arch))
        total = float(np.sum(totals))
        overhead = total - sum(plain_fit) - sum(plain_val)
        without_latency = overhead - sum(phases["latency"])
        images = recipe.epochs * recipe.train_size * args.candidates
        print(
            f"\nmemory format: {'channels_last (NHWC)' if channels_last else 'contiguous (NCHW)'};"
            f" candidates {np.mean(macs) / 1e6:.1f} MMACs on average"
        )
        print(
            "  seconds per iteration: "
            + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in phases.items())
            + f"; total {total / args.candidates:.3f}"
        )
        print(
            f"  plain PyTorch loop:    train {np.mean(plain_fit):.3f}, validate {np.mean(plain_val):.3f}"
        )
        print(
            f"  framework overhead:    {overhead / total:6.1%} of an iteration"
            f" ({without_latency / total:.1%} without the latency measurement); target <= 5%"
        )
        print(
            f"  proxy training speed:  Lightning {images / sum(phases['fit']):7.0f} img/s,"
            f" plain loop {images / sum(plain_fit):7.0f} img/s,"
            f" ratio {sum(plain_fit) / sum(phases['fit']):.3f} (target >= 0.95)"
        )
        projected_h = 1000 * total / args.candidates / 3600
        print(f"  projected 1000-iteration search at this candidate size: {projected_h:.1f} h")


if __name__ == "__main__":
    main()
