"""Depth and size of what the samplers draw and what pruning derives (issue: SwiftNets with depth).

Part 1: candidates drawn from a uniform meta-graph by each sampler and layout, under the
CIFAR-10 experiment's MACs cap: the depth and MMAC distributions (median, p10, p90).
Part 2: the family each shipped meta-graph gives at the paper's levels under each
pruning score: MMACs / depth per level.
Run: .venv/bin/python bench/depth.py [--samples 200] [--out assets/results/depth/samplers.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gramnas import MetaGraph, count_macs, preset_space, profile_levels
from gramnas.registry import available_metagraphs, load_metagraph
from gramnas.sampling import SamplerSettings
from gramnas.summary import markdown_table

CAP = 25_000_000  # +experiment=cifar10's search.max_macs
LEVELS = (0.3, 0.4, 0.5, 0.65)
DRAWS = (  # (label, space preset, sampler settings)
    ("independent, rho 0.02 (paper)", "paper", SamplerSettings("independent")),
    ("independent, rho 0.02", "paper_stem", SamplerSettings("independent")),
    ("paths (default)", "paper", SamplerSettings("paths")),
    ("paths (default)", "paper_stem", SamplerSettings("paths")),
)

SAMPLER_HEADER = (
    "sampler", "space", "depth: median (p10-p90)", "depth >= 6", "depth >= 10",
    "MMAC: median (p10-p90)", "over the cap",
)  # fmt: skip


def spread(values: np.ndarray, spec: str) -> str:
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return f"{median:{spec}} ({p10:{spec}}-{p90:{spec}})"


def sampler_rows(samples: int) -> list[list[str]]:
    rows = []
    for label, preset, sampler in DRAWS:
        metagraph = MetaGraph.create(preset_space(preset), seed=0, density=0.02, sampler=sampler)
        rng = np.random.default_rng(0)
        archs = [metagraph.sample(rng, max_macs=CAP) for _ in range(samples)]
        depth = np.array([a.depth for a in archs])
        mmacs = np.array([count_macs(a) for a in archs]) / 1e6
        rows.append(
            [
                label,
                preset,
                spread(depth, ".0f"),
                f"{np.mean(depth >= 6):.0%}",
                f"{np.mean(depth >= 10):.0%}",
                spread(mmacs, ".1f"),
                f"{np.mean(mmacs > CAP / 1e6):.0%}",
            ]
        )
    return rows


def family_rows() -> list[list[str]]:
    rows = []
    for name in available_metagraphs():
        metagraph = load_metagraph(name)
        for mode in ("path", "effect", "strength"):
            family = profile_levels(metagraph, LEVELS, mode=mode)
            cells = [f"{p.macs / 1e6:.1f} / {p.architecture.depth}" for p in family]
            rows.append([name, mode, *cells])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args()
    lines = [
        f"## Candidates from a uniform meta-graph ({args.samples} draws, cap {CAP / 1e6:g} MMAC)",
        "",
        *markdown_table(
            SAMPLER_HEADER,
            sampler_rows(args.samples),
        ),
        "",
        "## Families of the shipped meta-graphs: MMAC / depth at each level",
        "",
        *markdown_table(("meta-graph", "prune score", *map(str, LEVELS)), family_rows()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
