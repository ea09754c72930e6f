"""Search against random networks at equal MACs: does the meta-graph's SwiftNet beat chance?

For each prune level (default 0.4, 0.5, 0.65), or for each MACs budget
(``--budgets``: the lowest level, in steps of 0.01, whose model fits), the
SwiftNet derived from the meta-graph (default prune score) is trained next to ``--random`` networks drawn
at random from the same DAGs (same node operations, uniform Bernoulli draws at
log-uniform densities, :func:`gramnas.baselines.random_architectures`) whose
MACs lie within ``--tolerance`` of the SwiftNet's. Every network gets the same
training (:mod:`gramnas.training.tensor_fit`: ``--train-images`` CIFAR-10
training images, ``--epochs`` epochs, batch 128, one-cycle SGD max lr 0.1,
flips and pad-crops) and is scored on the CIFAR-10 test split (10,000 images;
nothing is selected on it). The SwiftNet trains with ``--seeds`` seeds, and
so does, with ``--mobilenet``, the hand-designed peer: a CIFAR MobileNetV2
(:mod:`gramnas.mobilenet`) whose width gives the SwiftNet's MACs.

Rows are appended to ``<out>/results.csv`` as they finish (a stopped run
resumes; its configuration must match ``<out>/config.json``; a second process
with the same configuration may share the folder, as each skips the trainings
the file holds when it reaches them); the table goes
to ``<out>/table.md``: per level, the SwiftNet's accuracy (mean of its seeds),
the random networks' mean +- sd and best, the difference and its z-score
against the random spread, and the other baselines. ``--shuffled N`` adds N
networks derived the search's way from its evidence shuffled among the edges
it tried (:func:`gramnas.baselines.shuffled_derivations`, level chosen for the
closest MACs): they separate what the search learnt from what pruning alone
gives.

Run: .venv/bin/python bench/versus_random.py --metagraph <name or path>
     --data data/cifar10-jpg [--levels 0.4 0.5 0.65 | --budgets 5 12 36] [--shuffled 2] [--mobilenet] [--threads 1]
     [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from gramnas import Architecture, count_macs, count_params, derive, level_for_budget
from gramnas.baselines import random_architectures, shuffled_derivations
from gramnas.counting import count_with_hooks
from gramnas.errors import GramError
from gramnas.mobilenet import cifar_mobilenet_v2, width_for_macs
from gramnas.registry import load_metagraph
from gramnas.training.data import ImageFolderDataModule
from gramnas.training.tensor_fit import TensorRecipe, train_and_evaluate

FIELDS = (
    "level",
    "kind",
    "index",
    "seed",
    "architecture_id",
    "macs",
    "params",
    "accuracy",
    "seconds",
)


@dataclass(frozen=True)
class Job:
    """One training of the comparison."""

    level: float
    kind: str  # swiftnet, random, shuffled or mobilenetv2
    index: int
    seed: int
    name: str
    build: Architecture | Callable[[], nn.Module]
    macs: int
    params: int


def architecture_job(level: float, kind: str, index: int, seed: int, arch: Architecture) -> Job:
    return Job(level, kind, index, seed, arch.id, arch, count_macs(arch), count_params(arch))


def mobilenet_jobs(level: float, seeds: int, macs: int) -> list[Job]:
    """The CIFAR MobileNetV2 of ``macs`` per seed; none below its narrowest width, with a note."""
    try:
        width = width_for_macs(macs)
    except GramError as error:
        print(f"level {level:g}: no MobileNetV2 baseline ({error})")
        return []
    return [mobilenet_job(level, seed, width) for seed in range(seeds)]


def mobilenet_job(level: float, seed: int, width: float) -> Job:
    build = partial(cifar_mobilenet_v2, width)
    macs, params = count_with_hooks(build(), (3, 32, 32))
    return Job(level, "mobilenetv2", 0, seed, f"mobilenetv2_cifar_{width:g}", build, macs, params)


def networks(args: argparse.Namespace) -> list[Job]:
    """Every training the comparison needs, level by level."""
    metagraph = load_metagraph(args.metagraph)
    levels = args.levels
    if args.budgets:
        levels = [level_for_budget(metagraph, macs=int(b * 1e6)) for b in args.budgets]
    jobs = []
    for level in levels:
        swiftnet = derive(metagraph, level)
        jobs += [architecture_job(level, "swiftnet", 0, s, swiftnet) for s in range(args.seeds)]
        randoms = random_architectures(
            metagraph, count_macs(swiftnet), args.random, args.tolerance, seed=int(level * 1000)
        )
        jobs += [architecture_job(level, "random", i, 0, a) for i, a in enumerate(randoms)]
        shuffled = (
            shuffled_derivations(
                metagraph,
                count_macs(swiftnet),
                args.shuffled,
                args.tolerance,
                seed=int(level * 1000),
            )
            if args.shuffled
            else []
        )
        jobs += [architecture_job(level, "shuffled", i, 0, a) for i, a in enumerate(shuffled)]
        if args.mobilenet:
            jobs += mobilenet_jobs(level, args.seeds, count_macs(swiftnet))
    return jobs


def load_data(args: argparse.Namespace) -> tuple[tuple, tuple]:
    datamodule = ImageFolderDataModule(root=args.data, input_size=32, in_channels=3)
    proxy = datamodule.proxy_data(args.train_images, 1, seed=args.data_seed)
    test = datamodule.dataset(train=False, augment=False)
    images, labels = zip(*(test[i] for i in range(len(test))), strict=True)
    evaluation = (torch.stack(images), torch.as_tensor(labels))
    return (proxy.train_x, proxy.train_y), evaluation


def read_rows(results: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(results.open())) if results.exists() else []


def finished(results: Path) -> set[tuple[float, str, int, int]]:
    """(level, kind, index, seed) of the trainings ``results`` holds, read afresh: runs may share a folder."""
    return {
        (float(r["level"]), r["kind"], int(r["index"]), int(r["seed"])) for r in read_rows(results)
    }


def mean_sd(values: list[float]) -> str:
    """Accuracies as ``mean +- sd (n=..)`` in percent."""
    sd = f" +- {100 * statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{100 * statistics.mean(values):.2f}{sd} (n={len(values)})"


def column(rows: list[dict[str, str]], kind: str, field: str) -> list[float]:
    return [float(r[field]) for r in rows if r["kind"] == kind]


def baseline_cells(rows: list[dict[str, str]], kind: str) -> str:
    """``MMACs | top-1`` of one kind of network at a level (a range of MACs where they differ)."""
    accuracy, macs = column(rows, kind, "accuracy"), column(rows, kind, "macs")
    if not accuracy:
        return "- | -"
    low, high = min(macs) / 1e6, max(macs) / 1e6
    span = f"{low:.2f}" if low == high else f"{low:.2f}-{high:.2f}"
    return f"{span} | {mean_sd(accuracy)}"


def summarize(rows: list[dict[str, str]], header: str) -> str:
    lines = [
        header,
        "",
        "| level | SwiftNet MMACs | SwiftNet top-1 | random MMACs | random top-1 | best random "
        "| SwiftNet - random | z | shuffled-evidence MMACs | shuffled top-1 "
        "| MobileNetV2 (CIFAR) MMACs | MobileNetV2 top-1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in sorted({float(r["level"]) for r in rows}):
        at = [r for r in rows if float(r["level"]) == level]
        swift, rand = column(at, "swiftnet", "accuracy"), column(at, "random", "accuracy")
        if not swift or len(rand) < 2:
            continue
        s_mean, r_mean, r_sd = statistics.mean(swift), statistics.mean(rand), statistics.stdev(rand)
        z = (s_mean - r_mean) / r_sd if r_sd > 0 else float("nan")
        lines.append(
            f"| {level:g} | {baseline_cells(at, 'swiftnet')} | {baseline_cells(at, 'random')} "
            f"| {100 * max(rand):.2f} | {100 * (s_mean - r_mean):+.2f} | {z:+.2f} "
            f"| {baseline_cells(at, 'shuffled')} | {baseline_cells(at, 'mobilenetv2')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--metagraph", required=True, help="shipped name, metagraph.json or run dir"
    )
    parser.add_argument(
        "--data", default="data/cifar10-jpg", help="ImageFolder root (train/, test/)"
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--levels", type=float, nargs="+", default=[0.4, 0.5, 0.65])
    sizes.add_argument("--budgets", type=float, nargs="+", help="MMACs; overrides --levels")
    parser.add_argument("--random", type=int, default=5, help="random networks per level")
    parser.add_argument(
        "--shuffled", type=int, default=0, help="derivations from the evidence shuffled per DAG"
    )
    parser.add_argument(
        "--mobilenet", action="store_true", help="also a CIFAR MobileNetV2 at the SwiftNet's MACs"
    )
    parser.add_argument("--tolerance", type=float, default=0.2, help="relative MACs tolerance")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds of each SwiftNet")
    parser.add_argument("--train-images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("outputs/versus_random"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    del config["out"], config["threads"]
    args.out.mkdir(parents=True, exist_ok=True)
    config_path, results = args.out / "config.json", args.out / "results.csv"
    if config_path.exists() and json.loads(config_path.read_text()) != config:
        raise SystemExit(f"{config_path}: another configuration ran here; use a new --out")
    config_path.write_text(json.dumps(config, indent=1) + "\n")

    recipe = TensorRecipe(epochs=args.epochs)
    train, evaluation = load_data(args)
    start = time.perf_counter()
    header = (
        f"SwiftNets of `{args.metagraph}` against random networks of the same space within "
        f"+-{args.tolerance:.0%} MACs; {args.train_images} CIFAR-10 training images (offline JPEG "
        f"copy), {args.epochs} epochs, one-cycle SGD, flips and crops; top-1 on the 10,000 test "
        f"images. {platform.processor() or platform.machine()}, {args.threads} thread(s)."
    )
    for job in networks(args):
        if (job.level, job.kind, job.index, job.seed) in finished(results):
            continue
        began = time.perf_counter()
        top1 = train_and_evaluate(job.build, train, evaluation, recipe, job.seed)
        row = {
            "level": job.level, "kind": job.kind, "index": job.index, "seed": job.seed,
            "architecture_id": job.name, "macs": job.macs, "params": job.params,
            "accuracy": f"{top1:.4f}", "seconds": f"{time.perf_counter() - began:.1f}",
        }  # fmt: skip
        new = not results.exists()
        with results.open("a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        print(f"level {job.level:g} {job.kind} {job.index} seed {job.seed}: {100 * top1:.2f}% "
              f"({row['macs'] / 1e6:.2f} MMACs, {row['seconds']} s)", flush=True)  # fmt: skip
        (args.out / "table.md").write_text(summarize(read_rows(results), header))
    print(summarize(read_rows(results), header))
    print(f"wall time this run: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
