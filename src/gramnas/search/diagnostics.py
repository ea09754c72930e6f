"""Signals that tell, during a search, whether it learns, collapses or stands still.

The analysis of the shipped CIFAR-10 searches (docs/search-dynamics.md) found
failures that averages hide: a DAG collapsing to one edge, a meta-graph that
never moves, tried edges ending below untried ones (so strength pruning keeps
edges the search never saw), and a reward that follows latency instead of
accuracy. These functions compute those signals from the meta-graph and the
log records; the runner writes them per iteration and warns once per DAG when
one crosses a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any

import numpy as np

from gramnas.metagraph import MetaGraph

CORRELATION_WINDOW = 100  # the last ok records the running correlations read
CORRELATION_MIN_RECORDS = 10  # fewer give correlations too noisy to read
COLLAPSED_BELOW = 2.0  # effective edges: the DAG samples (almost) one network
STILL_AFTER = 200  # iterations before "nothing moves" may be said
STILL_TOLERANCE = 0.005  # effective edges within 0.5% of the uniform count


def share_tried(metagraph: MetaGraph) -> np.ndarray:
    """Per DAG, the share of edges sampled at least once: how much of it the search has seen."""
    return (metagraph.tried > 0).mean(axis=1)


def tried_below_untried(metagraph: MetaGraph) -> np.ndarray:
    """Per DAG, the share of tried edges whose weight fell below the untried edges' weight.

    Only renormalisation touches untried edges, so they share one weight. A high
    share means every try is penalised (a latency term in the reward does that)
    and strength pruning prefers edges the search never tried. 0 where a DAG
    has no untried edge or no tried one.
    """
    tried = metagraph.tried > 0
    # The untried weight per DAG; -inf where every edge was tried, so that none counts as below.
    untried_level = np.where(tried, -np.inf, metagraph.weights).max(axis=1, keepdims=True)
    below = tried & (metagraph.weights < untried_level)
    return below.sum(axis=1) / np.maximum(tried.sum(axis=1), 1)


def per_dag_signals(metagraph: MetaGraph) -> dict[str, np.ndarray]:
    """Everything a record holds per DAG: the convergence signals and the edge coverage."""
    return {
        **metagraph.convergence(),
        "share_tried": share_tried(metagraph),
        "tried_below_untried": tried_below_untried(metagraph),
    }


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r, or None where it is undefined (a constant or non-finite series)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(x, y)[0, 1]
    return float(r) if np.isfinite(r) else None


def reward_correlations(
    records: Sequence[dict[str, Any]],
    window: int = CORRELATION_WINDOW,
    min_records: int = CORRELATION_MIN_RECORDS,
) -> dict[str, float | None]:
    """corr(reward, accuracy) and corr(reward, -ln latency) over the last ``window`` ok records.

    They tell what the search actually optimises: with the paper's reward at
    gamma = 1 per ms on a CPU the reward tracked latency (0.88) and not accuracy
    (-0.12). None until ``min_records`` ok records exist.
    """
    recent = list(islice((r for r in reversed(records) if r["status"] == "ok"), window))
    if len(recent) < min_records:
        return {"corr_reward_accuracy": None, "corr_reward_neg_ln_latency": None}
    reward = np.array([r["reward"] for r in recent], dtype=float)
    accuracy = np.array([r["accuracy"] for r in recent], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        neg_ln_latency = -np.log(np.array([r["latency_ms"] for r in recent], dtype=float))
    return {
        "corr_reward_accuracy": correlation(reward, accuracy),
        "corr_reward_neg_ln_latency": correlation(reward, neg_ln_latency),
    }


def spread(values: Sequence[float | None]) -> tuple[int, float | None, float | None]:
    """Count, mean and sample sd of the values given (None skipped); sd needs two.

    Applied to the probes, the sd is the proxy's seed noise: the yardstick for
    any accuracy difference between two candidates.
    """
    present = np.array([v for v in values if v is not None], dtype=float)
    mean = float(present.mean()) if len(present) else None
    sd = float(present.std(ddof=1)) if len(present) > 1 else None
    return len(present), mean, sd


def search_warnings(
    effective_edges: np.ndarray, num_edges: int, iteration: int
) -> dict[tuple[str, int | None], str]:
    """One-line warnings keyed by (condition, DAG), so that the runner can say each once."""
    found: dict[tuple[str, int | None], str] = {}
    for k in np.flatnonzero(effective_edges < COLLAPSED_BELOW):
        found[("collapsed", int(k))] = (
            f"DAG {k} collapsed to {effective_edges[k]:.2f} effective edges of {num_edges} "
            f"at iteration {iteration}: it samples one network now and will not recover; "
            "use a smaller search.alpha or a normalised advantage"
        )
    if iteration >= STILL_AFTER and np.all(effective_edges >= (1 - STILL_TOLERANCE) * num_edges):
        found[("still", None)] = (
            f"nothing moves: after {iteration} iterations every DAG keeps over "
            f"{1 - STILL_TOLERANCE:.1%} of its {num_edges} effective edges; the updates are "
            "too small to learn: raise search.alpha"
        )
    return found
