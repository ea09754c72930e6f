"""Structure-level pruning, up-scaling and budget profiling."""

from __future__ import annotations

import numpy as np
import pytest

from gramnas import (
    GramError,
    MetaGraph,
    SearchSpace,
    count_macs,
    derive,
    level_for_budget,
    profile_levels,
)
from gramnas.metagraph import edge_ids

LEVELS = np.linspace(0, 1, 21)


def edge_set(arch):
    return {(dag.hierarchy, dag.index, i, j) for dag in arch.dags for i, j in dag.edges}


def test_raising_the_level_never_adds_an_edge(trained_metagraph):
    previous = None
    for level in LEVELS:
        edges = edge_set(derive(trained_metagraph, float(level)))
        if previous is not None:
            assert edges <= previous
        previous = edges
    assert (
        derive(trained_metagraph, 0.0).num_edges
        == trained_metagraph.space.num_dags * trained_metagraph.space.num_edges
    )


def test_level_one_keeps_only_the_strongest_edges_reachable(trained_metagraph):
    arch = derive(trained_metagraph, 1.0)
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
    arch = derive(metagraph, 0.5)
    dag0, dag1 = arch.dags
    assert [n.id for n in dag0.nodes] == [1] and dag0.edges == ((0, 1),)
    assert dag1.is_identity and dag1.edges == ()
    # An identity DAG passes the input channels through to the head.
    assert arch.head_in_features == 32 + 3


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
