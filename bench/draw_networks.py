"""Draw ground-truth networks from one meta-graph, spread over a MACs range, as architecture files.

A one-shot proxy can only score sub-networks of its own meta-graph, so its rank fidelity needs
30-epoch ground truth on networks that meta-graph samples. This draws them with the meta-graph's
own sampler and cap (as the search's first iteration would: ``MetaGraph.sample`` with
``--max-mmacs-cap``), one per log-spaced MACs bin between ``--min-mmacs`` and ``--max-mmacs``,
bins visited in a shuffled order so that any prefix spans the range. Each is written to
``<out>/<prefix>_<k>.json``; add them to ``assets/ground_truth/networks.yaml`` to train them.

    python bench/draw_networks.py --metagraph assets/ground_truth/metagraphs/<file>.json \\
        --count 6 --min-mmacs 1 --max-mmacs 8 --seed 1 --prefix random_paths_seed0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gramnas import MetaGraph, count_macs, count_params  # noqa: E402

MAX_DRAWS = 100_000


def draw(
    metagraph: MetaGraph, count: int, min_mmacs: float, max_mmacs: float, cap: int, seed: int
) -> list:
    """One sub-network per log-spaced MACs bin; draw t uses the generator seeded (seed, t)."""
    edges = np.geomspace(min_mmacs * 1e6, max_mmacs * 1e6, count + 1)
    order = np.random.default_rng(seed).permutation(count)
    archs, t = [], 0
    for b in order:
        while True:
            if t >= MAX_DRAWS:
                raise SystemExit(
                    f"error: no draw in {edges[b] / 1e6:.2f}-{edges[b + 1] / 1e6:.2f}"
                    f" MMAC after {MAX_DRAWS} draws; widen --min-mmacs/--max-mmacs"
                )
            arch = metagraph.sample(np.random.default_rng([seed, t]), max_macs=cap)
            t += 1
            if edges[b] <= count_macs(arch) <= edges[b + 1] and arch.id not in {
                a.id for a in archs
            }:
                archs.append(arch)
                break
    return archs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metagraph", type=Path, required=True, help="a metagraph.json")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--min-mmacs", type=float, default=1.0)
    parser.add_argument("--max-mmacs", type=float, default=8.0)
    parser.add_argument("--max-mmacs-cap", type=float, default=25.0, help="the search's max_macs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "assets/ground_truth/architectures")
    args = parser.parse_args()
    metagraph = MetaGraph.load(args.metagraph)
    archs = draw(
        metagraph,
        args.count,
        args.min_mmacs,
        args.max_mmacs,
        int(args.max_mmacs_cap * 1e6),
        args.seed,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for k, arch in enumerate(archs, 1):
        path = args.out / f"{args.prefix}_{k}.json"
        arch.save(path)
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: depth {arch.depth},"
            f" {count_macs(arch) / 1e6:.2f} MMAC, {count_params(arch) / 1e3:.0f}k params"
        )


if __name__ == "__main__":
    main()
