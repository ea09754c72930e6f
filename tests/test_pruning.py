"""Structure-level pruning, up-scaling and budget profiling."""

from __future__ import annotations

import numpy as np
import pytest

from gramnas import (
    Architecture,
    Dag,
    GramError,
    MetaGraph,
    Node,
    SearchSpace,
    count_macs,
    derive,
    fit_budget,
    level_for_budget,
    profile_levels,
)
from gramnas.counting import format_mac_share, mac_share_by_resolution
from gramnas.metagraph import edge_ids
from gramnas.pruning import (
    edge_effects,
    edges_within_budget,
    level_budget,
    macs_up_to,
    prune_scores,
)

LEVELS = np.linspace(0, 1, 21)


def edge_set(arch):
    return {(dag.hierarchy, dag.index, i, j) for dag in arch.dags for i, j in dag.edges}


@pytest.mark.parametrize("mode", ["effect", "strength", "probability"])
def test_raising_the_level_never_adds_an_edge(trained_metagraph, mode):
    previous = None
    for level in LEVELS:
        edges = edge_set(derive(trained_metagraph, float(level), mode=mode))
        if previous is not None:
            assert edges <= previous
        previous = edges


def test_strength_level_zero_keeps_the_complete_dags(trained_metagraph):
    assert (
        derive(trained_metagraph, 0.0, mode="strength").num_edges
        == trained_metagraph.space.num_dags * trained_metagraph.space.num_edges
    )


def test_level_one_keeps_only_the_strongest_edges_reachable(trained_metagraph):
    arch = derive(trained_metagraph, 1.0, mode="strength")
    strengths = trained_metagraph.strengths()
    for dag in arch.dags:
        k = dag.hierarchy * trained_metagraph.space.dags_per_hierarchy + dag.index
        for i, j in dag.edges:
            assert strengths[k, edge_ids(trained_metagraph.space.nodes, i, j)] == 1.0


def test_unreachable_nodes_vanish_and_empty_dags_are_identities():
    space = SearchSpace(hierarchies=1, dags_per_hierarchy=2, nodes=4, input_size=8)
    ops = [["input", "conv1x1_32", "conv3x3_32", "conv1x1_64"]] * 2
    # DAG 0: strong (0,1), (2,3); node 2 has no strong input, so (2,3) and node 3 drop out.
    # DAG 1: the only strong edge (1,2) starts at a node nothing reaches: identity.
    weights = np.array([[10, 1, 1, 1, 1, 10], [1, 1, 1, 10, 1, 1]], dtype=float)
    metagraph = MetaGraph(space=space, ops=ops, weights=weights / weights.sum(1, keepdims=True))
    arch = derive(metagraph, 0.5, mode="strength")
    dag0, dag1 = arch.dags
    assert [n.id for n in dag0.nodes] == [1] and dag0.edges == ((0, 1),)
    assert dag1.is_identity and dag1.edges == ()
    # An identity DAG passes the input channels through to the head.
    assert arch.head_in_features == 32 + 3


def four_node_dag(*edges: tuple[int, int]) -> Architecture:
    ops = {1: "conv1x1_32", 2: "conv3x3_32", 3: "conv1x1_64"}
    nodes = sorted({j for _, j in edges})
    dag = Dag(0, 0, tuple(Node(v, ops[v], int(ops[v][-2:])) for v in nodes), edges)
    return Architecture((3, 8, 8), 10, (dag,))


def test_effect_scores_by_hand():
    space = SearchSpace(hierarchies=1, dags_per_hierarchy=1, nodes=4, input_size=8)
    ops = [["input", "conv1x1_32", "conv3x3_32", "conv1x1_64"]]
    metagraph = MetaGraph(space=space, ops=ops, weights=np.full((1, 6), 1 / 6))
    metagraph.reinforce(four_node_dag((0, 1), (1, 3)), 1.0)
    metagraph.reinforce(four_node_dag((0, 1), (1, 3)), 1.0)
    metagraph.reinforce(four_node_dag((0, 2), (2, 3)), -0.5)
    metagraph.reinforce(
        four_node_dag(
            (0, 1),
        ),
        0.4,
    )
    # effect = advantage sum / (tried + 5): (0,1) 2.4/8 = 0.3, (1,3) 2/7, (0,2) and (2,3) -0.5/6
    np.testing.assert_allclose(
        edge_effects(metagraph)[0], [0.3, -0.5 / 6, 0, 0, 2 / 7, -0.5 / 6], rtol=1e-12
    )
    relative = prune_scores(metagraph, "effect")[0]  # divided by the best, 0.3
    np.testing.assert_allclose(relative, [1, -0.5 / 1.8, 0, 0, (2 / 7) / 0.3, -0.5 / 1.8])
    assert derive(metagraph, 0.96, mode="effect").dags[0].edges == ((0, 1),)
    assert derive(metagraph, 0.9, mode="effect").dags[0].edges == ((0, 1), (1, 3))
    # level 0 keeps what never hurt, untried edges included: (0,3), (1,2); never (0,2), (2,3)
    assert set(derive(metagraph, 0.0, mode="effect").dags[0].edges) == {
        (0, 1),
        (0, 3),
        (1, 2),
        (1, 3),
    }


def chain_and_branch() -> MetaGraph:
    """One 4-node DAG whose chain 0-1-2-3 paid off, and whose branch 1-3 barely did."""
    space = SearchSpace(hierarchies=1, dags_per_hierarchy=1, nodes=4, input_size=8)
    ops = [["input", "conv1x1_32", "conv3x3_32", "conv1x1_64"]]
    metagraph = MetaGraph(space=space, ops=ops, weights=np.full((1, 6), 1 / 6))
    for _ in range(2):
        metagraph.reinforce(four_node_dag((0, 1), (1, 2), (2, 3)), 1.0)
        metagraph.reinforce(four_node_dag((0, 1), (1, 2)), 1.0)
    metagraph.reinforce(four_node_dag((0, 1), (1, 3)), 0.3)
    return metagraph


def test_path_scores_keep_the_chain_and_cut_the_branch():
    metagraph = chain_and_branch()
    # effects: (0,1) 4.3/10, (1,2) 4/9, (2,3) 2/7, (1,3) 0.3/6; the chain 0-1-2-3 is the best path
    chain = 4.3 / 10 + 4 / 9 + 2 / 7
    branch = (4.3 / 10 + 0.3 / 6) / chain  # 0-1-3, about 0.41
    np.testing.assert_allclose(
        prune_scores(metagraph, "path")[0], [1, 0, 0, 1, branch, 1], rtol=1e-12
    )
    # the independent rule cuts the chain's weakest edge (2/7 against 4/9: 0.64) and its depth
    assert derive(metagraph, 0.7, mode="effect").dags[0].edges == ((0, 1), (1, 2))
    assert derive(metagraph, 0.7).dags[0].edges == ((0, 1), (1, 2), (2, 3))
    assert derive(metagraph, 0.4).dags[0].edges == ((0, 1), (1, 2), (1, 3), (2, 3))
    assert derive(metagraph, 1.0).dags[0].depth == 3  # the best path survives every level


def test_budget_mode_cuts_what_does_not_pay_for_its_macs():
    metagraph = chain_and_branch()
    # effects: (0,1) 0.43, (1,2) 0.44, (2,3) 0.29, (1,3) 0.05; 8x8 positions, 3 input channels:
    # edge MACs (0,1) 6,144, (1,2) 589,824, (1,3) and (2,3) 131,072 each.
    everything, chain, first = ((0, 1), (1, 2), (1, 3), (2, 3)), ((0, 1), (1, 2), (2, 3)), ((0, 1),)
    sizes = {edges: count_macs(four_node_dag(*edges)) for edges in (everything, chain, first)}
    assert sizes == {everything: 858_752, chain: 727_680, first: 6_464}
    assert level_budget(0.9) == 2**20 and level_budget(0.94) == 794_672
    assert derive(metagraph, 0.9, mode="budget").dags[0].edges == everything
    # An edge is worth its effect for each MMAC it spends, whatever its kernel: as the price
    # per MMAC rises past 0.05 the branch goes, past 0.29 the chain's tail, past 0.44 the 3x3.
    assert derive(metagraph, 0.94, mode="budget").dags[0].edges == chain
    assert level_budget(0.97) == 645_474  # between 596,288 (0-1-2) and the chain's 727,680
    assert derive(metagraph, 0.97, mode="budget").dags[0].edges == ((0, 1), (1, 2))
    assert derive(metagraph, 1.0, mode="budget").dags[0].edges == first
    assert edges_within_budget(metagraph, 1).any()  # nothing fits: still the best single edge


def test_budget_mode_gives_each_hierarchy_its_part_and_passes_on_the_rest():
    # Every edge pays: the first hierarchy alone could spend the whole budget.
    space = SearchSpace(hierarchies=3, dags_per_hierarchy=1, nodes=8, input_size=16)
    ops = [["input", *["conv3x3_32", "conv1x1_64", "conv3x3_64"] * 2, "conv1x1_32"]] * 3
    weights = np.full((3, space.num_edges), 1 / space.num_edges)
    tried = np.full((3, space.num_edges), 10)
    effects = np.random.default_rng(0).uniform(0.1, 1.0, tried.shape)
    metagraph = MetaGraph(
        space=space, ops=ops, weights=weights, tried=tried, advantage_sum=tried * effects
    )
    assert count_macs(derive(metagraph, 0.0, mode="budget")) == 98_148_672  # everything fits
    budget = level_budget(0.7)
    arch = derive(metagraph, 0.7, mode="budget")
    first, second = macs_up_to(arch, 0), macs_up_to(arch, 1)
    assert 0 < first <= budget / 3  # its third, less what its width costs the next hierarchy
    # the second may spend half of what the first left: more than a third of the budget
    assert budget / 3 < second - first <= (budget - first) / 2
    assert second < count_macs(arch) <= budget


def test_budget_mode_family_fits_its_budgets_and_keeps_every_hierarchy(trained_metagraph):
    levels = (0.3, 0.4, 0.5, 0.65, 0.8)
    family = profile_levels(trained_metagraph, levels, mode="budget")
    macs = [p.macs for p in family]
    assert macs == sorted(macs, reverse=True) and len(set(macs)) == len(macs)
    for p in family:
        assert p.macs <= level_budget(p.level) or p.level == 0.8
        for h in range(p.architecture.hierarchies):
            assert not all(d.is_identity for d in p.architecture.hierarchy_dags(h))
    # up-scaling comes after the cut: the same structure, wider
    wide = derive(trained_metagraph, 0.5, 1.5, mode="budget")
    assert edge_set(wide) == edge_set(family[2].architecture) and count_macs(wide) > macs[2]
    # the budget counts on the meta-graph's own data: another dataset gets the same structure
    digits = derive(trained_metagraph, 0.5, mode="budget", input_shape=(1, 28, 28), num_classes=4)
    assert edge_set(digits) == edge_set(family[2].architecture)


def test_effect_scores_rank_untried_edges_below_paying_ones():
    space = SearchSpace(hierarchies=1, dags_per_hierarchy=1, nodes=4, input_size=8)
    ops = [["input", "conv1x1_32", "conv3x3_32", "conv1x1_64"]]
    metagraph = MetaGraph(space=space, ops=ops, weights=np.full((1, 6), 1 / 6))
    # nothing tried yet: no evidence, so the effect score falls back to the weights
    assert derive(metagraph, 0.5) == derive(metagraph, 0.5, mode="strength")
    metagraph.update(
        four_node_dag(
            (0, 1),
        ),
        reward=0.3,
    )  # below beta: a latency-penalised edge
    assert derive(metagraph, 0.5, mode="strength").dags[0].edges != ((0, 1),)
    assert derive(metagraph, 0.5).dags[0].is_identity  # the tried edge did not pay off


def test_upscale_and_max_channels(trained_metagraph):
    base = derive(trained_metagraph, 0.3)
    scaled = derive(trained_metagraph, 0.3, upscale=1.5)
    clamped = derive(trained_metagraph, 0.3, upscale=1.5, max_channels=64)
    base_channels = [n.channels for d in base.dags for n in d.nodes]
    assert [n.channels for d in scaled.dags for n in d.nodes] == [
        round(c * 1.5) for c in base_channels
    ]
    assert [n.channels for d in clamped.dags for n in d.nodes] == [
        min(round(c * 1.5), 64) for c in base_channels
    ]
    assert count_macs(scaled) > count_macs(base) > 0


def test_probability_mode(trained_metagraph):
    pi = trained_metagraph.inclusion_probabilities()
    arch = derive(trained_metagraph, float(np.median(pi)), mode="probability")
    assert 0 < arch.num_edges < trained_metagraph.space.num_dags * trained_metagraph.space.num_edges


def test_adaptation_to_other_input(trained_metagraph):
    arch = derive(trained_metagraph, 0.4, input_shape=(1, 28, 28), num_classes=10)
    assert arch.input_shape == (1, 28, 28)
    big = derive(trained_metagraph, 0.4, input_shape=(3, 96, 96), num_classes=1000, stem=(32,))
    assert big.stem[0].channels == 32 and big.num_classes == 1000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": 1.5}, "level"),
        ({"level": -0.1}, "level"),
        ({"level": 0.5, "upscale": 0}, "upscale"),
        ({"level": 0.5, "max_channels": 0}, "max_channels"),
        ({"level": 0.5, "mode": "abs"}, "prune.mode"),
        ({"level": 0.5, "input_shape": (3, 4, 4)}, "too small"),
    ],
)
def test_bad_derive_arguments(trained_metagraph, kwargs, match):
    with pytest.raises(GramError, match=match):
        derive(trained_metagraph, **kwargs)


def test_profile_and_budget(trained_metagraph):
    profiles = profile_levels(trained_metagraph, LEVELS)
    assert [p.level for p in profiles] == pytest.approx(list(LEVELS))
    assert profiles[0].macs >= profiles[-1].macs
    budget = profiles[len(profiles) // 2].macs
    level = level_for_budget(trained_metagraph, macs=budget, levels=LEVELS)
    assert count_macs(derive(trained_metagraph, level)) <= budget
    assert all(p.macs > budget for p in profiles if p.level < level)
    with pytest.raises(GramError, match="budget"):
        level_for_budget(trained_metagraph, macs=1, levels=LEVELS)
    with pytest.raises(GramError, match="budget"):
        level_for_budget(trained_metagraph)


def test_a_profile_carries_the_one_derivation_of_its_level(trained_metagraph):
    profiles = profile_levels(trained_metagraph, LEVELS, upscale=1.25, input_shape=(1, 28, 28))
    for p in profiles[::5]:
        arch = derive(trained_metagraph, p.level, 1.25, input_shape=(1, 28, 28))
        assert p.architecture == arch and (p.architecture_id, p.macs) == (arch.id, count_macs(arch))
        assert p.row() == {
            "level": p.level,
            "macs": p.macs,
            "params": p.params,
            "nodes": arch.num_nodes,
            "edges": arch.num_edges,
            "depth": arch.depth,
            "mac_share": format_mac_share(mac_share_by_resolution(arch)),
            "architecture_id": arch.id,
        }
    budget = profiles[len(profiles) // 2].macs
    chosen = fit_budget(profiles[::-1], macs=budget)  # any order: the lowest level that fits
    assert chosen.level == level_for_budget(
        trained_metagraph, macs=budget, levels=LEVELS, upscale=1.25, input_shape=(1, 28, 28)
    )
    assert chosen.macs <= budget and all(
        p.macs > budget for p in profiles if p.level < chosen.level
    )
