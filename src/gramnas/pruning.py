"""Structure-level pruning: cut compact SwiftNets out of a searched meta-graph.

Per DAG, edges whose score clears the level survive and nodes no longer
reachable from the DAG input drop out (a DAG may vanish into an identity).
Three scores:

- ``effect`` (default): each edge's estimated effect on the advantage, from
  the evidence the search recorded (the sum of the advantages of the sampled
  networks that held the edge, shrunk towards 0 by ``EFFECT_PRIOR`` pseudo
  observations), relative to the DAG's best edge. Untried edges score 0, so
  at any level above 0 only edges that were tried and paid off survive.
- ``strength``: the paper's w_e / max(w). Latency penalises every tried edge,
  so it ranks never-tried edges above tried ones (docs/search-dynamics.md).
- ``probability``: the inclusion probability pi_e.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gramnas.architecture import Architecture
from gramnas.counting import count_macs, count_params
from gramnas.errors import GramError, field_error
from gramnas.metagraph import MetaGraph, reachable_edges

PRUNE_MODES = ("effect", "strength", "probability")
DEFAULT_MODE = "effect"
EFFECT_PRIOR = 5.0  # pseudo-observations of advantage 0 per edge
DEFAULT_LEVELS = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 101))


def derive(
    metagraph: MetaGraph,
    level: float,
    upscale: float = 1.0,
    max_channels: int | None = None,
    *,
    mode: str = DEFAULT_MODE,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    stem: tuple[int, ...] | None = None,
) -> Architecture:
    """Prune at ``level``, up-scale every node's channels, clamp them to ``max_channels``.

    ``input_shape``, ``num_classes`` and ``stem`` adapt the meta-graph to a new
    dataset without searching again (paper section 4.2).
    """
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 <= level <= 1.0:
        raise field_error(
            "level", f"must be in [0, 1], got {level!r}", "higher levels give smaller models"
        )
    if not isinstance(upscale, (int, float)) or upscale <= 0:
        raise field_error(
            "upscale", f"must be > 0, got {upscale!r}", "the paper uses 1.0, 1.25 or 1.5"
        )
    if max_channels is not None and (not isinstance(max_channels, int) or max_channels < 1):
        raise field_error(
            "max_channels", f"must be a positive integer or null, got {max_channels!r}"
        )
    kept = reachable_edges(prune_scores(metagraph, mode) >= level, metagraph.space.nodes)
    return metagraph.to_architecture(kept, upscale, max_channels, input_shape, num_classes, stem)


def prune_scores(metagraph: MetaGraph, mode: str = DEFAULT_MODE) -> np.ndarray:
    """The ``(K, E)`` scores that pruning thresholds, in [0, 1] where an edge may survive."""
    if mode == "strength":
        return metagraph.strengths()
    if mode == "probability":
        return metagraph.inclusion_probabilities()
    if mode == "effect":
        # Without evidence (a fresh or format-1 meta-graph) the weights are all there is.
        return relative_effects(metagraph) if metagraph.tried.any() else metagraph.strengths()
    raise field_error("prune.mode", f"unknown mode {mode!r}", f"choose one of {PRUNE_MODES}")


def edge_effects(metagraph: MetaGraph, prior: float = EFFECT_PRIOR) -> np.ndarray:
    """Shrunk mean advantage of the sampled networks that held each edge (0 if never tried)."""
    return metagraph.advantage_sum / (metagraph.tried + prior)


def relative_effects(metagraph: MetaGraph) -> np.ndarray:
    """Effects divided by the DAG's largest; a DAG without a paying edge scores 0 everywhere."""
    effects = edge_effects(metagraph)
    best = effects.max(axis=1, keepdims=True)
    return np.where(best > 0, effects / np.where(best > 0, best, 1.0), 0.0)


@dataclass(frozen=True)
class LevelProfile:
    """Size of the model derived at one prune level."""

    level: float
    macs: int
    params: int
    nodes: int
    edges: int
    architecture_id: str


def profile_levels(
    metagraph: MetaGraph,
    levels: Sequence[float] = DEFAULT_LEVELS,
    upscale: float = 1.0,
    **derive_options: object,
) -> list[LevelProfile]:
    """MACs and parameters against prune level (paper Figure 5), computed analytically."""
    profiles = []
    for level in levels:
        arch = derive(metagraph, float(level), upscale, **derive_options)  # type: ignore[arg-type]
        profiles.append(
            LevelProfile(
                float(level),
                count_macs(arch),
                count_params(arch),
                arch.num_nodes,
                arch.num_edges,
                arch.id,
            )
        )
    return profiles


def level_for_budget(
    metagraph: MetaGraph,
    macs: int | None = None,
    params: int | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    upscale: float = 1.0,
    **derive_options: object,
) -> float:
    """The lowest level (the largest model) whose MACs and parameters fit the budget."""
    if macs is None and params is None:
        raise field_error("budget", "give macs or params (or both)")
    for profile in profile_levels(metagraph, sorted(levels), upscale, **derive_options):
        if (macs is None or profile.macs <= macs) and (params is None or profile.params <= params):
            return profile.level
    raise GramError(
        f"budget: no prune level in [{min(levels)}, {max(levels)}] fits macs<={macs} params<={params}; "
        "raise the budget or lower the up-scale factor"
    )
