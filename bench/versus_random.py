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
nothing is selected on it). The SwiftNet trains with ``--seeds`` seeds.

Rows are appended to ``<out>/results.csv`` as they finish (a stopped run
resumes; its configuration must match ``<out>/config.json``); the table goes
to ``<out>/table.md``: per level, the SwiftNet's accuracy (mean of its seeds),
the random networks' mean +- sd, the difference and its z-score against the
random spread.

Run: .venv/bin/python bench/versus_random.py --metagraph <name or path>
     --data data/cifar10-jpg [--levels 0.4 0.5 0.65 | --budgets 5 12 36] [--threads 1]
     [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from gramnas import Architecture, count_macs, count_params, derive, level_for_budget
from gramnas.baselines import random_architectures
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


def networks(args: argparse.Namespace) -> list[tuple[float, str, int, int, Architecture]]:
    """(level, kind, index, seed, architecture) of every training the comparison needs."""
    metagraph = load_metagraph(args.metagraph)
    levels = args.levels
    if args.budgets:
        levels = [level_for_budget(metagraph, macs=int(b * 1e6)) for b in args.budgets]
    jobs = []
    for level in levels:
        swiftnet = derive(metagraph, level)
        jobs += [(level, "swiftnet", 0, seed, swiftnet) for seed in range(args.seeds)]
        randoms = random_architectures(
            metagraph, count_macs(swiftnet), args.random, args.tolerance, seed=int(level * 1000)
        )
        jobs += [(level, "random", i, 0, arch) for i, arch in enumerate(randoms)]
    return jobs


def load_data(args: argparse.Namespace) -> tuple[tuple, tuple]:
    datamodule = ImageFolderDataModule(root=args.data, image_size=32, in_channels=3)
    proxy = datamodule.proxy_data(args.train_images, 1, seed=args.data_seed)
    test = datamodule.dataset(train=False, augment=False)
    images, labels = zip(*(test[i] for i in range(len(test))), strict=True)
    evaluation = (torch.stack(images), torch.as_tensor(labels))
    return (proxy.train_x, proxy.train_y), evaluation


def summarize(rows: list[dict[str, str]], header: str) -> str:
    lines = [
        header,
        "",
        "| level | SwiftNet MMACs | SwiftNet top-1 | random MMACs | random top-1 (mean +- sd, n) "
        "| difference | z |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in sorted({float(r["level"]) for r in rows}):
        at = [r for r in rows if float(r["level"]) == level]
        swift = [float(r["accuracy"]) for r in at if r["kind"] == "swiftnet"]
        rand = [float(r["accuracy"]) for r in at if r["kind"] == "random"]
        macs = [int(r["macs"]) / 1e6 for r in at if r["kind"] == "random"]
        if not swift or len(rand) < 2:
            continue
        s_mean, r_mean, r_sd = statistics.mean(swift), statistics.mean(rand), statistics.stdev(rand)
        z = (s_mean - r_mean) / r_sd if r_sd > 0 else float("nan")
        swift_macs = int(next(r["macs"] for r in at if r["kind"] == "swiftnet")) / 1e6
        lines.append(
            f"| {level:g} | {swift_macs:.2f} | {100 * s_mean:.2f} (n={len(swift)}) "
            f"| {min(macs):.2f}-{max(macs):.2f} | {100 * r_mean:.2f} +- {100 * r_sd:.2f} "
            f"(n={len(rand)}) | {100 * (s_mean - r_mean):+.2f} | {z:+.2f} |"
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
    done = list(csv.DictReader(results.open())) if results.exists() else []
    finished = {(float(r["level"]), r["kind"], int(r["index"]), int(r["seed"])) for r in done}

    recipe = TensorRecipe(epochs=args.epochs)
    train, evaluation = load_data(args)
    start = time.perf_counter()
    header = (
        f"SwiftNets of `{args.metagraph}` against random networks of the same space within "
        f"+-{args.tolerance:.0%} MACs; {args.train_images} CIFAR-10 training images (offline JPEG "
        f"copy), {args.epochs} epochs, one-cycle SGD, flips and crops; top-1 on the 10,000 test "
        f"images. {platform.processor() or platform.machine()}, {args.threads} thread(s)."
    )
    for level, kind, index, seed, arch in networks(args):
        if (level, kind, index, seed) in finished:
            continue
        began = time.perf_counter()
        top1 = train_and_evaluate(arch, train, evaluation, recipe, seed)
        row = {
            "level": level, "kind": kind, "index": index, "seed": seed,
            "architecture_id": arch.id, "macs": count_macs(arch), "params": count_params(arch),
            "accuracy": f"{top1:.4f}", "seconds": f"{time.perf_counter() - began:.1f}",
        }  # fmt: skip
        new = not results.exists()
        with results.open("a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        done.append({k: str(v) for k, v in row.items()})
        print(f"level {level:g} {kind} {index} seed {seed}: {100 * top1:.2f}% "
              f"({row['macs'] / 1e6:.2f} MMACs, {row['seconds']} s)", flush=True)  # fmt: skip
        (args.out / "table.md").write_text(summarize(done, header))
    print(summarize(done, header))
    print(f"wall time this run: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
