"""Depth (conv layers on the longest input-to-head path) and where the MACs sit, on hand-made networks."""

from __future__ import annotations

import itertools

import pytest

from gramnas import Architecture, Dag, Node
from gramnas.counting import count_macs, format_mac_share, mac_share_by_resolution


def dag(hierarchy: int, index: int, *edges: tuple[int, int], op: str = "conv1x1_8") -> Dag:
    nodes = sorted({j for _, j in edges})
    return Dag(hierarchy, index, tuple(Node(v, op, 8) for v in nodes), edges)


@pytest.mark.parametrize(
    ("edges", "depth"),
    [
        ((), 0),  # identity
        (((0, 1),), 1),
        (((0, 1), (0, 2), (0, 3)), 1),  # three parallel nodes
        (((0, 1), (1, 2), (2, 3)), 3),  # a chain
        (((0, 1), (1, 2), (2, 3), (0, 3)), 3),  # a chain with a skip: the longest path counts
        (((0, 2), (2, 5), (0, 3), (3, 4), (4, 5), (1, 5), (0, 1)), 3),  # 0-3-4-5 beats 0-2-5
    ],
)
def test_dag_depth_is_its_longest_path(edges, depth):
    assert dag(0, 0, *edges).depth == depth


def test_network_depth_adds_the_stem_and_each_hierarchys_deepest_dag():
    arch = Architecture(
        (3, 16, 16),
        10,
        (
            dag(0, 0, (0, 1), (1, 2)),  # 2
            dag(0, 1, (0, 1)),  # 1: the hierarchy counts its deepest DAG only
            dag(1, 0),  # identity: 0
            dag(1, 1, (0, 1), (1, 2), (2, 3), (0, 3)),  # 3
            dag(2, 0),  # an all-identity hierarchy adds nothing
        ),
        stem=(Node(0, "conv3x3_8", 8),),
    )
    assert arch.depth == 1 + 2 + 3 + 0


def test_mac_share_sums_to_one_by_resolution():
    # stem 16x16 -> 8x8; hierarchy 0 at 8x8, hierarchy 1 at 4x4; head at 1x1
    arch = Architecture(
        (3, 16, 16),
        10,
        (dag(0, 0, (0, 1)), dag(1, 0, (0, 1), (1, 2), op="conv3x3_8")),
        stem=(Node(0, "conv3x3_8", 8),),
    )
    stem, h0 = 9 * 3 * 8 * 64, 8 * 8 * 64
    h1, head = 2 * 9 * 8 * 8 * 16, 8 * 10
    assert count_macs(arch) == stem + h0 + h1 + head
    share = mac_share_by_resolution(arch)
    assert list(share) == ["8x8", "4x4", "1x1"]  # largest maps first
    assert share["8x8"] == pytest.approx((stem + h0) / count_macs(arch))
    assert share["1x1"] == pytest.approx(head / count_macs(arch))
    assert sum(share.values()) == pytest.approx(1.0)
    assert format_mac_share(share) == "8x8 49% / 4x4 51%"  # 17,920 and 18,432 of 36,432


@pytest.mark.parametrize("level", [0.3, 0.4, 0.5, 0.65])
def test_every_default_named_swiftnet_is_at_least_six_layers_deep(level):
    from gramnas.registry import create_model

    model = create_model(f"swiftnet_{level:g}_1.0")
    assert model.architecture.depth >= 6


def test_the_synflow_metagraph_cut_by_budget_is_a_swiftnet_family():
    """Issue 22's family: four distinct, deep networks, 8x apart, the smallest within 6 MMAC."""
    from gramnas.pruning import profile_levels
    from gramnas.registry import load_metagraph

    family = profile_levels(
        load_metagraph("cifar10-synflow-seed0"), (0.3, 0.4, 0.5, 0.65), mode="budget"
    )
    macs = [p.macs for p in family]
    assert all(a > b for a, b in itertools.pairwise(macs)) and macs[0] >= 8 * macs[-1]
    assert macs[-1] <= 6_000_000
    for p in family:
        assert p.architecture.depth >= 6
        for h in range(p.architecture.hierarchies):
            assert not all(dag.is_identity for dag in p.architecture.hierarchy_dags(h))
