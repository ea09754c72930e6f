"""Re-score a finished search's log under other rewards: which family would each have derived?

A search at a small alpha barely moves the sampling distribution (the
diagnostics' effective edges stay near E), so its log is close to a uniform
sample of the space with every candidate's proxy accuracy and cost. Replaying
that log through another reward and the normalised advantage gives the edge
evidence (``tried``, ``advantage_sum``) that reward would have collected from
the same networks, and with it the family the ``effect`` score derives. It
answers "would a stronger cost term have given smaller models?" without a new
search; it is off-policy, so it is exact only where the weights stayed
uniform, which the printed effective-edge count of the original run shows.

It also prints the split-half reliability of the run's own edge effects: the
logged advantages of the odd and of the even iterations each give every edge a
mean advantage; their correlation over edges tried in both halves says how
much of an effect estimate is signal (near 0: pruning by effect picks noise).
The same for the edges' mean proxy accuracy, before and after removing its
linear trend in network size (ln MACs, edge count) and iteration: what is
left is what an edge adds beyond making the network bigger.

Given several runs (seeds of one search), every reward is replayed on each
and scored against the bar of a default meta-graph (docs/search.md): levels
0.3 / 0.4 / 0.5 / 0.65 give strictly shrinking networks, MACs(0.3) /
MACs(0.65) >= 8, MACs(0.65) <= 6 M, no all-identity hierarchy at <= 0.5.
A reward whose families meet it on one seed and not the others is fitting
noise, not a design.

Run: .venv/bin/python bench/rescore.py <run dir> [<run dir> ...]
    [--exponents -0.07 -0.15 -0.3 -0.5 -1.0] [--penalties -0.07 -0.15 -0.3] [--targets 3e6 6e6]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path

import numpy as np

from gramnas import Architecture, MetaGraph, derive, profile_levels
from gramnas.search.advantage import NormalizedAdvantage
from gramnas.search.reward import AbsoluteReward, CandidateMetrics, Reward, SoftConstraint

LEVELS = (0.3, 0.4, 0.5, 0.65)
BAR_RATIO, BAR_SMALLEST = 8, 6e6


def replay(run: MetaGraph, records: list[dict], reward: Reward) -> MetaGraph:
    """A fresh meta-graph of the run's space and operations, updated from the logged candidates."""
    hyperparameters = ("alpha", "density", "pi_min", "pi_max")
    metagraph = MetaGraph.create(
        run.space, seed=run.seed, **{name: getattr(run, name) for name in hyperparameters}
    )
    metagraph.ops = run.ops
    advantage = NormalizedAdvantage()
    for record in records:
        if record["status"] != "ok" or record["reward"] is None:
            metagraph.skip()
            continue
        metrics = CandidateMetrics(
            record["accuracy"], record["latency_ms"], record["macs"], record["params"]
        )
        arch = Architecture.from_dict(record["architecture"])
        advantage.apply(metagraph, arch, reward(metrics))
    return metagraph


def split_half_reliability(
    run: MetaGraph, records: list[dict], values: np.ndarray
) -> tuple[float, int]:
    """Pearson r of the edges' mean ``values`` (one per record) in odd vs even iterations, and the edge count."""
    halves = [MetaGraph.create(run.space, seed=run.seed) for _ in range(2)]
    for record, value in zip(records, values, strict=True):
        halves[record["iteration"] % 2].reinforce(
            Architecture.from_dict(record["architecture"]), float(value)
        )
    both = (halves[0].tried > 0) & (halves[1].tried > 0)
    means = [h.advantage_sum[both] / h.tried[both] for h in halves]
    return float(np.corrcoef(*means)[0, 1]), int(both.sum())


def size_trend(records: list[dict]) -> tuple[np.ndarray, float]:
    """Proxy accuracy less its linear trend in ln MACs, edge count and iteration, and that trend's R^2."""
    accuracy = np.array([r["accuracy"] for r in records])
    covariates = np.column_stack(
        [
            np.ones(len(records)),
            np.log([r["macs"] for r in records]),
            [Architecture.from_dict(r["architecture"]).num_edges for r in records],
            [r["iteration"] for r in records],
        ]
    )
    residual = accuracy - covariates @ np.linalg.lstsq(covariates, accuracy, rcond=None)[0]
    return residual, float(1 - residual.var() / accuracy.var())


def identity_hierarchies(metagraph: MetaGraph, levels: tuple[float, ...]) -> list[str]:
    """'level:hierarchy' for every hierarchy whose DAGs are all identities at a level."""
    found = []
    for level in levels:
        arch = derive(metagraph, level)
        for h in range(metagraph.space.hierarchies):
            if all(d.is_identity for d in arch.dags if d.hierarchy == h):
                found.append(f"{level:g}:h{h}")
    return found


def meets_bar(macs: list[float], identities: list[str]) -> bool:
    """The bar of a default meta-graph, for MACs at LEVELS (0.3, 0.4, 0.5, 0.65)."""
    shrinking = all(a > b for a, b in pairwise(macs))
    return (
        shrinking
        and macs[0] >= BAR_RATIO * macs[-1]
        and macs[-1] <= BAR_SMALLEST
        and not identities
    )


def rewards(args: argparse.Namespace) -> dict[str, Callable[[], Reward]]:
    """Every reward to replay, by label; fresh instances, since a target calibrates on first use.

    MnasNet's soft constraint is replayed with the default target only: T scales
    every reward by the same factor T ** -exponent, which the normalised
    advantage divides out.
    """
    found: dict[str, Callable[[], Reward]] = {}
    for exponent in args.exponents:
        found[f"mnasnet {exponent:g}"] = partial(
            SoftConstraint, exponent=exponent, metric=args.metric
        )
    for target in args.targets:
        for penalty in args.penalties:
            found[f"tunas {penalty:g}, T {target / 1e6:g} M"] = partial(
                AbsoluteReward, penalty=penalty, metric=args.metric, target=target
            )
    return found


def reliability(run_dir: Path, run: MetaGraph, records: list[dict]) -> None:
    """The run's effective edges, size trend and split-half reliability of its edge effects."""
    effective = run.convergence()["effective_edges"]
    print(
        f"{run_dir}: {len(records)} candidates; effective edges per DAG at the end "
        f"{effective.min():.1f}-{effective.max():.1f} of {run.space.num_edges}\n"
    )
    ok = [r for r in records if r["status"] == "ok" and r["advantage"]]
    residual, r2 = size_trend(ok)
    accuracy = np.array([r["accuracy"] for r in ok])
    print(f"R^2 of proxy accuracy on ln MACs, edge count and iteration: {r2:.2f}\n")
    print(
        "| edge effect on | split-half r | edges tried in both halves | whole log (Spearman-Brown) |"
    )
    print("|---|---|---|---|")
    for name, values in (
        ("logged advantage (the `effect` score)", np.array([r["advantage"] for r in ok])),
        ("proxy accuracy", accuracy - accuracy.mean()),
        ("proxy accuracy beyond the size trend", residual),
    ):
        r, edges = split_half_reliability(run, ok, values)
        print(f"| {name} | {r:.2f} | {edges} | {2 * r / (1 + r):.2f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs",
        type=Path,
        nargs="+",
        help="search run directories (metagraph.json, candidates.jsonl)",
    )
    parser.add_argument(
        "--exponents", type=float, nargs="+", default=[-0.07, -0.15, -0.3, -0.5, -1.0]
    )
    parser.add_argument("--penalties", type=float, nargs="+", default=[-0.07, -0.15, -0.3])
    parser.add_argument(
        "--targets",
        type=float,
        nargs="+",
        default=[3e6, 6e6],
        help="TuNAS targets, in the metric's units",
    )
    parser.add_argument("--metric", default="macs", choices=["macs", "params", "latency_ms"])
    args = parser.parse_args()
    runs = []
    for run_dir in args.runs:
        run = MetaGraph.load(run_dir / "metagraph.json")
        with open(run_dir / "candidates.jsonl") as f:
            records = [json.loads(line) for line in f][: run.iteration]
        reliability(run_dir, run, records)
        runs.append((run, records))
    header = " | ".join(f"{run_dir.name}" for run_dir in args.runs)
    print(f"MMACs at levels {' / '.join(f'{level:g}' for level in LEVELS)} ('id': an all-identity")
    print("hierarchy at <= 0.5; '*': meets the bar)\n")
    print(f"| reward on {args.metric} | {header} | runs meeting the bar |")
    print("|---|" + "---|" * len(runs) + "---|")
    for label, make_reward in rewards(args).items():
        cells, meeting = [], 0
        for run, records in runs:
            metagraph = replay(run, records, make_reward())
            macs = [p.macs for p in profile_levels(metagraph, LEVELS)]
            identities = identity_hierarchies(metagraph, (0.3, 0.4, 0.5))
            met = meets_bar(macs, identities)
            meeting += met
            cells.append(
                " / ".join(f"{m / 1e6:.1f}" for m in macs)
                + (" id" if identities else "")
                + (" *" if met else "")
            )
        print(f"| {label} | {' | '.join(cells)} | {meeting} of {len(runs)} |")


if __name__ == "__main__":
    main()
