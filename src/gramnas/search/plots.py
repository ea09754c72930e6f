"""PNG plots of a search: its curves over iterations, each DAG's edge strengths, its level profile."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gramnas.metagraph import MetaGraph, edge_endpoints


def _running_mean(values: np.ndarray, window: int = 20) -> np.ndarray:
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_search_curves(records: list[dict[str, Any]], path: Path) -> Path:
    """Reward, accuracy, latency and convergence (effective edges per DAG) over iterations."""
    done = [r for r in records if r["status"] != "skipped"]
    iterations = np.array([r["iteration"] for r in done])
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_edge_strengths(metagraph: MetaGraph, path: Path) -> Path:
    """One heat map per DAG: strength w / max(w) of edge i -> j (the quantity pruning thresholds)."""
    space = metagraph.space
    src, dst = edge_endpoints(space.nodes)
    strengths = metagraph.strengths()
    cols = space.dags_per_hierarchy
    fig, axes = plt.subplots(
        space.hierarchies,
        cols,
        figsize=(3.6 * cols, 3.3 * space.hierarchies),
        squeeze=False,
        constrained_layout=True,
    )
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_level_profile(
    rows: Sequence[dict[str, Any]], path: Path, marked_levels: Sequence[float]
) -> Path:
    """MACs and parameters of the derived model against prune level (paper Figure 5), log scale.

    A useful search gives a family: MACs falling steadily with the level. A
    flat curve, or a cliff to the stem alone, means pruning finds no graded
    models; ``marked_levels`` (the paper's, among the rows' levels) show where
    its models sit.
    """
    macs = {row["level"]: row["macs"] for row in rows}
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    ax.plot(list(macs), list(macs.values()), "o-", markersize=3, label="MACs")
    ax.plot(list(macs), [row["params"] for row in rows], "s--", markersize=3, label="parameters")
    for level in marked_levels:
        ax.axvline(level, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            f"{macs[level] / 1e6:.3g} MMAC",
            (level, macs[level]),
            textcoords="offset points",
            xytext=(3, 6),
            rotation=90,
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set_xlabel("prune level")
    ax.set_ylabel("count")
    ax.set_title("derived model size against prune level (dotted: the paper's levels)")
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
