"""The samplers: the paper's independent draw unchanged, the paths sampler's depth and budget."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from gramnas import GramError, MetaGraph
from gramnas.counting import count_macs
from gramnas.sampling import SamplerSettings, weighted_path
from gramnas.space import preset_space

PATHS = SamplerSettings(method="paths")


def fingerprint(archs) -> str:
    return hashlib.sha256("".join(a.id for a in archs).encode()).hexdigest()[:16]


def test_the_independent_draw_is_bit_identical_to_the_paper_sampler_before_paths():
    """Architecture ids recorded with the sampler as it was before ``search.sampler`` existed."""
    metagraph = MetaGraph.create(preset_space("paper"), seed=3, density=0.02)
    rng = np.random.default_rng(7)
    archs = [metagraph.sample(rng, max_macs=25_000_000) for _ in range(30)]
    assert fingerprint(archs) == "e6a54e6ffcbfd19a"
    tiny = MetaGraph.create(preset_space("tiny", input_size=8, in_channels=1), seed=1, density=0.3)
    rng = np.random.default_rng(2)
    assert fingerprint([tiny.sample(rng) for _ in range(30)]) == "02316b0bfd337086"


def test_a_weighted_path_is_drawn_in_proportion_to_the_product_of_its_weights():
    # 4 nodes; paths of length 2 from node 0: 0-1-2 (2 x 1), 0-1-3 (2 x 3), 0-2-3 (1 x 1)
    weights = np.zeros((4, 4))
    weights[0, 1], weights[0, 2], weights[1, 2], weights[1, 3], weights[2, 3] = 2, 1, 1, 3, 1
    rng = np.random.default_rng(0)
    counts = Counter(tuple(weighted_path(weights, 2, rng)) for _ in range(9000))
    total = 2 * 1 + 2 * 3 + 1 * 1
    expected = {
        ((0, 1), (1, 2)): 2 / total,
        ((0, 1), (1, 3)): 6 / total,
        ((0, 2), (2, 3)): 1 / total,
    }
    assert set(counts) == set(expected)
    for path, share in expected.items():
        assert counts[path] / 9000 == pytest.approx(share, abs=0.015)
    assert len(weighted_path(weights, 10, rng)) == 3  # capped by the longest path there is


def test_paths_candidates_are_deep_and_obey_the_macs_cap():
    """Uniform paper_stem meta-graph, the CIFAR-10 experiment's cap (docs/search.md has the table)."""
    metagraph = MetaGraph.create(preset_space("paper_stem"), seed=0, sampler=PATHS)
    rng = np.random.default_rng(0)
    archs = [metagraph.sample(rng, max_macs=25_000_000) for _ in range(120)]
    macs = np.array([count_macs(a) for a in archs])
    depth = np.array([a.depth for a in archs])
    assert macs.max() <= 25_000_000
    assert macs.min() < 2_500_000 < 10_000_000 < macs.max()  # budgets span sizes
    assert np.median(depth) >= 6 and np.percentile(depth, 90) >= 10
    # every sampled edge is reachable, so the update reinforces exactly the drawn paths
    for arch in archs[:10]:
        for dag in arch.dags:
            assert {j for _, j in dag.edges} == {node.id for node in dag.nodes}


def test_the_paths_sampler_follows_boosted_edges_and_is_seeded():
    metagraph = MetaGraph.create(preset_space("tiny", input_size=8, in_channels=1), sampler=PATHS)
    first = [metagraph.sample(np.random.default_rng(5)) for _ in range(3)]
    assert [a.id for a in first] == [metagraph.sample(np.random.default_rng(5)).id] * 3
    edge = 1  # (0, 2) in the lexicographic order of 6 nodes
    before = np.mean([(0, 2) in a.dags[0].edges for a in sample_many(metagraph, 300)])
    metagraph.weights[0, edge] *= 20
    metagraph.weights /= metagraph.weights.sum(axis=1, keepdims=True)
    after = np.mean([(0, 2) in a.dags[0].edges for a in sample_many(metagraph, 300)])
    assert after > before + 0.2


def sample_many(metagraph: MetaGraph, count: int):
    rng = np.random.default_rng(1)
    return [metagraph.sample(rng) for _ in range(count)]


def test_the_sampler_survives_a_round_trip_and_old_files_draw_independently(tmp_path):
    settings = SamplerSettings(method="paths", paths_per_dag=2, max_path_length=5, budget_range=4)
    metagraph = MetaGraph.create(preset_space("tiny"), sampler=settings)
    loaded = MetaGraph.load(metagraph.save(tmp_path / "m.json"))
    assert loaded.sampler == settings
    data = metagraph.to_dict()
    data["sampling"] = {k: data["sampling"][k] for k in ("density", "pi_min", "pi_max")}
    assert MetaGraph.from_dict(data).sampler.method == "independent"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "greedy"),
        ("paths_per_dag", 0),
        ("max_path_length", 0),
        ("max_path_length", 2.5),
        ("budget_range", 0.5),
    ],
)
def test_bad_sampler_settings_name_the_field(field, value):
    with pytest.raises(GramError, match=f"search.{'sampler' if field == 'method' else field}"):
        SamplerSettings(**{"method": "paths", field: value})
