"""Every PNG figure of gramnas, drawn one way: a search's curves, edge strengths and level
profile, the profiler's level plot and a sweep's accuracy against MACs.

``figure`` opens a headless matplotlib figure and saves and closes it on exit,
so no caller touches pyplot's global state and matplotlib is imported only
when a figure is drawn. The architecture drawing (``gramnas.drawing``) is a
diagram, not a chart, and stays apart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gramnas.metagraph import MetaGraph, edge_endpoints

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@contextmanager
def figure(path: Path, dpi: int, **subplots: Any) -> Iterator[tuple[Figure, Any]]:
    """``plt.subplots(**subplots)`` with a constrained layout, saved to ``path`` at ``dpi`` on exit."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(constrained_layout=True, **subplots)
    try:
        yield fig, axes
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def _running_mean(values: np.ndarray, window: int = 20) -> np.ndarray:
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_search_curves(records: list[dict[str, Any]], path: Path) -> Path:
    """Reward, accuracy, latency, convergence (effective edges per DAG) over iterations, and the
    depth distribution of the sampled candidates (logs written before depth was logged show none)."""
    done = [r for r in records if r["status"] != "skipped"]
    iterations = np.array([r["iteration"] for r in done])
    with figure(path, 110, nrows=2, ncols=3, figsize=(16, 7)) as (_, axes):
        for ax, key, label in (
            (axes[0, 0], "reward", "reward (accuracy - gamma x latency)"),
            (axes[0, 1], "accuracy", "proxy validation accuracy"),
            (axes[1, 0], "latency_ms", "latency (ms)"),
        ):
            values = np.array([r[key] for r in done], dtype=float)
            ax.plot(iterations, values, ".", alpha=0.35, markersize=4)
            smooth = _running_mean(values)
            ax.plot(iterations[len(iterations) - len(smooth) :], smooth, "-", linewidth=2)
            if key == "reward":
                ax.plot(iterations, [r["beta"] for r in done], "--", label="beta")
                ax.legend()
            ax.set_title(label)
            ax.set_xlabel("iteration")
        effective = np.array([r["convergence"]["effective_edges"] for r in records])
        ax = axes[1, 1]
        for k in range(effective.shape[1] if effective.ndim == 2 else 0):
            ax.plot([r["iteration"] for r in records], effective[:, k], label=f"DAG {k}")
        ax.set_title("effective edges per DAG, exp(entropy of weights)")
        ax.set_xlabel("iteration")
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=3)
        _plot_depth_distribution(axes[0, 2], records)
        axes[1, 2].axis("off")
    return path


def _plot_depth_distribution(ax: Any, records: list[dict[str, Any]]) -> None:
    """Histogram of the candidates' depth, first half of the search against the second."""
    depths = [(r["iteration"], r["depth"]) for r in records if r.get("depth") is not None]
    ax.set_title("depth of sampled candidates (conv layers)")
    if not depths:
        return
    middle = (depths[0][0] + depths[-1][0]) / 2
    halves = {
        "first half": [d for i, d in depths if i <= middle],
        "second half": [d for i, d in depths if i > middle],
    }
    bins = np.arange(min(d for _, d in depths), max(d for _, d in depths) + 2) - 0.5
    for label, values in halves.items():
        if values:
            median = float(np.median(values))
            ax.hist(values, bins=bins, alpha=0.5, label=f"{label} (median {median:g})")
    ax.set_xlabel("depth")
    ax.legend(fontsize=8)


def plot_edge_strengths(metagraph: MetaGraph, path: Path) -> Path:
    """One heat map per DAG: strength w / max(w) of edge i -> j (the quantity pruning thresholds)."""
    space = metagraph.space
    src, dst = edge_endpoints(space.nodes)
    strengths = metagraph.strengths()
    cols = space.dags_per_hierarchy
    with figure(
        path,
        110,
        nrows=space.hierarchies,
        ncols=cols,
        figsize=(3.6 * cols, 3.3 * space.hierarchies),
        squeeze=False,
    ) as (fig, axes):
        for k in range(space.num_dags):
            grid = np.full((space.nodes, space.nodes), math.nan)
            grid[src, dst] = strengths[k]
            ax = axes[k // cols, k % cols]
            image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
            ax.set_title(f"hierarchy {k // cols}, DAG {k % cols}", fontsize=9)
            ax.set_xlabel("to node")
            ax.set_ylabel("from node")
        fig.colorbar(image, ax=axes, shrink=0.6, label="strength w / max w")
        fig.suptitle(f"edge strengths after {metagraph.iteration} iterations")
    return path


def plot_level_profile(
    rows: Sequence[dict[str, Any]], path: Path, title: str, marked_levels: Sequence[float] = ()
) -> Path:
    """MMACs and M parameters of the derived model against prune level (paper Figure 5), log scale;
    latency on a second axis where every row has one.

    A useful search gives a family: MACs falling steadily with the level. A
    flat curve, or a cliff to the stem alone, means pruning finds no graded
    models; ``marked_levels`` (among the rows' levels: the paper's, at the end
    of a search) show where its models sit. The search's end and
    ``src/profile_levels.py`` draw their profiles here.
    """
    levels = [row["level"] for row in rows]
    mmacs = {row["level"]: row["macs"] / 1e6 for row in rows}
    with figure(
        path, 120, nrows=2, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    ) as (_, (ax, depth_ax)):
        ax.plot(levels, list(mmacs.values()), "o-", markersize=3, label="MMACs")
        ax.plot(
            levels, [r["params"] / 1e6 for r in rows], "s--", markersize=3, label="M parameters"
        )
        for level in marked_levels:
            ax.axvline(level, color="grey", linestyle=":", linewidth=1)
            ax.annotate(
                f"{mmacs[level]:.3g} MMAC",
                (level, mmacs[level]),
                textcoords="offset points",
                xytext=(3, 6),
                rotation=90,
                fontsize=8,
            )
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        latencies = [row.get("latency_ms") for row in rows]
        if all(latency is not None for latency in latencies):
            twin = ax.twinx()
            twin.plot(levels, latencies, "^-", color="C3", markersize=3, label="latency (ms)")
            twin.set_ylabel("latency (ms)")
            twin.legend(loc="upper center")
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        depth_ax.step(levels, [row["depth"] for row in rows], where="mid", color="C2")
        depth_ax.set_ylabel("depth (conv layers)")
        depth_ax.set_xlabel("structure-level prune level")
        depth_ax.grid(alpha=0.3)
    return path


def plot_accuracy_vs_macs(rows: list[dict[str, Any]], path: Path) -> Path:
    """A sweep's test top-1 against MMACs (paper Figure 1), one line per model family."""
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        families.setdefault(
            "SwiftNet"
            if str(row["model"]).startswith("swiftnet")
            else str(row["model"]).split("_")[0],
            [],
        ).append(row)
    with figure(path, 120, figsize=(6.5, 4.5)) as (_, ax):
        for family, members in sorted(families.items()):
            members = sorted(members, key=lambda r: r["macs"])
            ax.plot(
                [r["macs"] / 1e6 for r in members], [r["top1"] for r in members], "o-", label=family
            )
        for point, label in point_labels(rows).items():
            ax.annotate(label, point, fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("MMACs (log scale)")
        ax.set_ylabel("test top-1 (%)")
        ax.set_title("accuracy versus MACs")
        ax.grid(alpha=0.3)
        ax.legend()
    return path


def point_labels(rows: Iterable[dict[str, Any]]) -> dict[tuple[float, float], str]:
    """One label per plotted point (MMACs, top-1): runs at the same point share it.

    Repeated runs of a model, or levels that prune to the same network, land on
    one point; a label each would print on top of each other.
    """
    names: dict[tuple[float, float], list[str]] = {}
    for r in rows:
        point = (r["macs"] / 1e6, r["top1"])
        names.setdefault(point, []).append(str(r["model"]).replace("swiftnet_", ""))
    return {
        point: ", ".join(name if n == 1 else f"{name} x{n}" for name, n in Counter(models).items())
        for point, models in names.items()
    }
