"""Structure-level pruning: cut compact SwiftNets out of a searched meta-graph.

Per DAG, edges whose score clears the level survive and nodes no longer
reachable from the DAG input drop out (a DAG may vanish into an identity).
Four scores:

- ``path`` (default): an edge is scored with the path that carries it. Over
  the paying edges (effect > 0, below), the best path through an edge is the
  largest sum of effects along a path from the DAG input that holds it; the
  score divides it by the best path of the edge's hierarchy. Every edge of a
  path scores at least that path's sum, so a kept edge keeps the chain that
  feeds it: levels cut branches, then whole weaker DAGs, never the middle of
  a chain, and each hierarchy keeps its best path at every level.
- ``effect``: each edge's estimated effect on the advantage, from
  the evidence the search recorded (the sum of the advantages of the sampled
  networks that held the edge, shrunk towards 0 by ``EFFECT_PRIOR`` pseudo
  observations), relative to the DAG's best edge. Untried edges score 0, so
  at any level above 0 only edges that were tried and paid off survive.
- ``strength``: the paper's w_e / max(w). Latency penalises every tried edge,
  so it ranks never-tried edges above tried ones (docs/search-dynamics.md).
- ``probability``: the inclusion probability pi_e.

``budget`` is not a threshold: level L allows ``2^(29 - 10 L)`` MACs at
up-scale 1 (537 M at level 0, halved every 0.1: 67 / 34 / 17 / 5.9 M at
0.3 / 0.4 / 0.5 / 0.65), and the network kept is the one that the search's
evidence pays for at that size. An edge is worth its effect for each MMAC
it spends, and the MMAC has a price: an edge stays if it and the best path
onward from it gain more than they cost, and each hierarchy keeps its best
path. The budget is shared evenly between the hierarchies, each priced to
fit its part. The threshold scores keep what the search found paying
whatever it costs, which after a long search is most of the meta-graph
(docs/search.md, "Deriving within a budget").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gramnas.architecture import Architecture
from gramnas.counting import (
    count_macs,
    count_params,
    format_mac_share,
    mac_share_by_resolution,
    piece_macs,
)
from gramnas.errors import GramError, field_error, is_finite_number
from gramnas.metagraph import MetaGraph, edge_endpoints, reachable_edges
from gramnas.space import SearchSpace, parse_operation

PRUNE_MODES = ("path", "budget", "effect", "strength", "probability")
DEFAULT_MODE = "path"
EFFECT_PRIOR = 5.0  # pseudo-observations of advantage 0 per edge
DEFAULT_LEVELS = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 101))
BUDGET_AT_LEVEL_0 = 2**29  # mode "budget": the MACs level 0 allows; every 0.1 of level halves them
UNAFFORDABLE = 1e12  # a price per MMAC at which no edge pays: each hierarchy keeps its best edge


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
    if not is_finite_number(level) or not 0.0 <= level <= 1.0:
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
    if mode == "budget":
        kept = edges_within_budget(metagraph, level_budget(level))
    else:
        kept = reachable_edges(prune_scores(metagraph, mode) >= level, metagraph.space.nodes)
    return metagraph.to_architecture(kept, upscale, max_channels, input_shape, num_classes, stem)


def prune_scores(metagraph: MetaGraph, mode: str = DEFAULT_MODE) -> np.ndarray:
    """The ``(K, E)`` scores that pruning thresholds, in [0, 1] where an edge may survive."""
    if mode == "strength":
        return metagraph.strengths()
    if mode == "probability":
        return metagraph.inclusion_probabilities()
    if mode in ("effect", "path"):
        if (
            not metagraph.tried.any()
        ):  # a fresh or format-1 meta-graph: the weights are all there is
            return metagraph.strengths()
        return relative_effects(metagraph) if mode == "effect" else path_scores(metagraph)
    raise field_error("prune.mode", f"unknown mode {mode!r}", f"choose one of {PRUNE_MODES}")


def level_budget(level: float) -> int:
    """Mode ``budget``: the MACs that ``level`` allows at up-scale 1."""
    return round(BUDGET_AT_LEVEL_0 * 2.0 ** (-10.0 * level))


def edges_within_budget(metagraph: MetaGraph, macs: int) -> np.ndarray:
    """The edges worth their MACs, hierarchy by hierarchy, at prices that fit ``macs``.

    MACs are counted on the meta-graph's own data at up-scale 1, so a level
    cuts the same structure for every dataset it is adapted to (paper section
    4.2). The budget is shared evenly between the hierarchies, in order: each
    gets an equal part of what the stem and the hierarchies before it left,
    and its price is the one that brings the whole network, with the later
    hierarchies at their smallest, within the budget less the parts still
    to give (so a wide output pays for what it costs the next hierarchy).
    One price for the whole network would buy mostly low-resolution edges, a
    sixteenth of the MACs of 16x16 ones. An edge's value is its effect times
    its MACs: valued by effect alone, a 1x1 edge is worth a 3x3 one at a
    ninth of the cost, and the cut becomes a stack of 1x1 convs that trains
    4.8 points worse (docs/search.md, "Deriving within a budget"). A
    hierarchy that cannot fit keeps its best single edge.
    """
    space = metagraph.space
    evidence = edge_effects(metagraph) if metagraph.tried.any() else metagraph.strengths()
    costs = edge_macs(metagraph) / 1e6
    values = evidence * costs  # an edge is worth its effect for each MMAC it spends
    price = np.full((space.num_dags, 1), UNAFFORDABLE)  # not chosen yet: the best edge only

    def network(prices: np.ndarray) -> tuple[np.ndarray, Architecture]:
        kept = priced_edges(space, values, costs, prices)
        return kept, metagraph.to_architecture(kept)

    kept, arch = network(price)
    spent = macs_up_to(arch, -1)  # the stem
    for h in range(space.hierarchies):
        rows = slice(h * space.dags_per_hierarchy, (h + 1) * space.dags_per_hierarchy)
        later = space.hierarchies - 1 - h
        allowance = macs - later * (macs - spent) / (later + 1)

        def size_at(trial: float, rows: slice = rows) -> int:
            price[rows] = trial
            return count_macs(network(price)[1])

        chosen = price_that_fits(size_at, allowance)
        price[rows] = UNAFFORDABLE if chosen is None else chosen
        kept, arch = network(price)
        spent = macs_up_to(arch, h)
    return kept


def price_that_fits(size_at: Callable[[float], int], allowance: float) -> float | None:
    """The price whose cut is the largest within ``allowance`` among those tried (None: none fits).

    Doubling from 0.001, then 24 steps of bisection on the logarithm; MACs need
    not fall with every rise in price, so every fit is compared.
    """
    best: tuple[int, float] | None = None

    def fits(trial: float) -> bool:
        nonlocal best
        size = size_at(trial)
        if size <= allowance and (best is None or size > best[0]):
            best = (size, trial)
        return size <= allowance

    if fits(0.0):
        return 0.0
    low, high = 0.0, 1e-3
    while not fits(high) and high < UNAFFORDABLE:
        low, high = high, high * 2
    for _ in range(24):
        middle = math.sqrt(low * high) if low > 0 else high / 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return None if best is None else best[1]


def macs_up_to(arch: Architecture, hierarchy: int) -> int:
    """MACs of the stem and hierarchies 0..``hierarchy`` (-1: the stem alone)."""
    return sum(
        piece_macs(piece)
        for piece in arch.pieces
        if piece.name.startswith("stem.")
        or (piece.name[0].isdigit() and int(piece.name.split(".")[0]) <= hierarchy)
    )


def priced_edges(
    space: SearchSpace, values: np.ndarray, costs: np.ndarray, price: float | np.ndarray
) -> np.ndarray:
    """The edges that pay for themselves at ``price`` per MMAC (one, or one per DAG), and each hierarchy's best path.

    Over the edges of positive value, an edge stays if its gain (value less
    price times MMACs) with the best path onward from it is positive: a
    branch that costs more than it adds is cut, a costly edge that opens a
    paying chain is kept. Edges whose source is no longer reached drop out.
    """
    src, dst = edge_endpoints(space.nodes)
    gains = values - price * costs
    allowed = values > 0
    into, onward = longest_paths(gains, allowed, space.nodes)
    pays = allowed & (gains + onward[:, dst] > 0)
    through = into[:, src] + np.where(allowed, gains, -np.inf) + onward[:, dst]
    best = hierarchy_best(through, space)
    on_best = np.isfinite(best) & np.isclose(through, best, rtol=0, atol=1e-12)
    return reachable_edges(pays | on_best, space.nodes)


def edge_macs(metagraph: MetaGraph) -> np.ndarray:
    """The ``(K, E)`` MACs of each edge's convolution (a node convolves each input apart, eq. 4).

    A DAG's input width depends on what the previous hierarchy keeps; it is
    taken as the stem's output in the first hierarchy and as one median node
    per DAG in the others. This is a price, not a count: budgets are checked
    with :func:`count_macs`.
    """
    space = metagraph.space
    src, dst = edge_endpoints(space.nodes)
    size = space.input_size // 2 ** len(space.stem)
    first_input = space.stem[-1] if space.stem else space.in_channels
    costs = np.zeros(metagraph.weights.shape)
    for k, ops in enumerate(metagraph.ops):
        hierarchy = k // space.dags_per_hierarchy
        convs = [parse_operation(op) for op in ops[1:]]
        channels = np.array([0] + [op.channels for op in convs])
        kernels = np.array([1] + [op.kernel for op in convs])
        dag_input = (
            first_input
            if hierarchy == 0
            else space.dags_per_hierarchy * int(np.median(channels[1:]))
        )
        width = np.where(src == 0, dag_input, channels[src])
        positions = (size // space.pool_size**hierarchy) ** 2
        costs[k] = kernels[dst] ** 2 * width * channels[dst] * positions
    return costs


def edge_effects(metagraph: MetaGraph, prior: float = EFFECT_PRIOR) -> np.ndarray:
    """Shrunk mean advantage of the sampled networks that held each edge (0 if never tried)."""
    return metagraph.advantage_sum / (metagraph.tried + prior)


def relative_effects(metagraph: MetaGraph) -> np.ndarray:
    """Effects divided by the DAG's largest; a DAG without a paying edge scores 0 everywhere."""
    effects = edge_effects(metagraph)
    best = effects.max(axis=1, keepdims=True)
    return np.where(best > 0, effects / np.where(best > 0, best, 1.0), 0.0)


def path_scores(metagraph: MetaGraph) -> np.ndarray:
    """Each paying edge's best path sum through it, relative to the best path of its hierarchy.

    Edges that do not pay, or whose hierarchy has no paying path, score 0.
    """
    space = metagraph.space
    effects = edge_effects(metagraph)
    through = best_path_through(effects, effects > 0, space.nodes)
    best = hierarchy_best(through, space)
    with np.errstate(invalid="ignore"):
        scores = np.where(np.isfinite(through) & (best > 0), through / best, 0.0)
    # The same path summed in another order may differ in the last bit: it is still the best.
    return np.where(np.isclose(scores, 1.0, rtol=0, atol=1e-12), 1.0, scores)


def hierarchy_best(through: np.ndarray, space: SearchSpace) -> np.ndarray:
    """The ``(K, 1)`` best path sum of each DAG's hierarchy (-inf: the hierarchy has none)."""
    best = through.reshape(space.hierarchies, -1).max(axis=1)
    return np.repeat(best, space.dags_per_hierarchy)[:, None]


def best_path_through(gains: np.ndarray, allowed: np.ndarray, nodes: int) -> np.ndarray:
    """The ``(K, E)`` largest sum of ``gains`` along a path from node 0 that holds each edge.

    Paths run over ``allowed`` edges only (the others score -inf) and may stop
    anywhere after the edge.
    """
    src, dst = edge_endpoints(nodes)
    into, onward = longest_paths(gains, allowed, nodes)
    return into[:, src] + np.where(allowed, gains, -np.inf) + onward[:, dst]


def longest_paths(
    gains: np.ndarray, allowed: np.ndarray, nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per DAG and node, the best sum of ``gains`` into it from node 0 and onward from it.

    Dynamic programming over the ``allowed`` edges of each DAG: ``into[j]`` is
    the best sum of a path from node 0 to j (-inf: none), ``onward[j]`` the
    best sum of a path from j, which may stop at once (so it is at least 0).
    """
    k = gains.shape[0]
    src, dst = edge_endpoints(nodes)
    gain = np.full((k, nodes, nodes), -np.inf)
    gain[:, src, dst] = np.where(allowed, gains, -np.inf)
    into = np.full((k, nodes), -np.inf)
    into[:, 0] = 0.0
    for j in range(1, nodes):
        into[:, j] = (into[:, :j] + gain[:, :j, j]).max(axis=1)
    onward = np.zeros((k, nodes))
    for i in range(nodes - 2, -1, -1):
        onward[:, i] = np.maximum(0.0, (gain[:, i, i + 1 :] + onward[:, i + 1 :]).max(axis=1))
    return into, onward


@dataclass(frozen=True)
class LevelProfile:
    """The model derived at one prune level, with its size.

    It carries the Architecture, so callers that need the network as well as
    its size (a latency, a budget's model, ``architecture_<level>.json``) do
    not derive it again.
    """

    level: float
    architecture: Architecture
    macs: int
    params: int

    @property
    def nodes(self) -> int:
        return self.architecture.num_nodes

    @property
    def edges(self) -> int:
        return self.architecture.num_edges

    @property
    def architecture_id(self) -> str:
        return self.architecture.id

    def row(self) -> dict[str, float | int | str]:
        """The table row of the level profiles (``level_profile.csv``, ``profile.csv``)."""
        return {
            "level": self.level,
            "macs": self.macs,
            "params": self.params,
            "nodes": self.nodes,
            "edges": self.edges,
            "depth": self.architecture.depth,
            "mac_share": format_mac_share(mac_share_by_resolution(self.architecture)),
            "architecture_id": self.architecture_id,
        }


def profile_levels(
    metagraph: MetaGraph,
    levels: Sequence[float] = DEFAULT_LEVELS,
    upscale: float = 1.0,
    **derive_options: object,
) -> list[LevelProfile]:
    """The model at each level and its MACs and parameters (paper Figure 5): one derivation per level."""
    profiles = []
    for level in levels:
        arch = derive(metagraph, float(level), upscale, **derive_options)  # type: ignore[arg-type]
        profiles.append(LevelProfile(float(level), arch, count_macs(arch), count_params(arch)))
    return profiles


def fit_budget(
    profiles: Sequence[LevelProfile], macs: int | None = None, params: int | None = None
) -> LevelProfile:
    """The profile of the lowest level (the largest model) whose MACs and parameters fit the budget."""
    if macs is None and params is None:
        raise field_error("budget", "give macs or params (or both)")
    for profile in sorted(profiles, key=lambda p: p.level):
        if (macs is None or profile.macs <= macs) and (params is None or profile.params <= params):
            return profile
    levels = [p.level for p in profiles]
    raise GramError(
        f"budget: no prune level in [{min(levels)}, {max(levels)}] fits macs<={macs} params<={params}; "
        "raise the budget or lower the up-scale factor"
    )


def level_for_budget(
    metagraph: MetaGraph,
    macs: int | None = None,
    params: int | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    upscale: float = 1.0,
    **derive_options: object,
) -> float:
    """The lowest level (the largest model) whose MACs and parameters fit the budget."""
    profiles = profile_levels(metagraph, levels, upscale, **derive_options)
    return fit_budget(profiles, macs, params).level
