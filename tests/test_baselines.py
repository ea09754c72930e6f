"""The yardsticks a search is compared with: random networks at equal MACs, tensor training."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from gramnas import GramError, MetaGraph, count_macs, derive
from gramnas.baselines import random_architectures, shuffle_evidence, shuffled_derivations
from gramnas.counting import count_with_hooks
from gramnas.mobilenet import cifar_mobilenet_v2, width_for_macs
from gramnas.training.tensor_fit import TensorRecipe, train_and_evaluate


def test_random_networks_match_the_macs_and_the_space(trained_metagraph):
    target = count_macs(derive(trained_metagraph, 0.5, mode="strength"))
    randoms = random_architectures(trained_metagraph, target, count=4, tolerance=0.2, seed=1)
    assert len({a.id for a in randoms}) == 4
    for arch in randoms:
        assert abs(count_macs(arch) - target) <= 0.2 * target
        for dag in arch.dags:
            k = dag.hierarchy * trained_metagraph.space.dags_per_hierarchy + dag.index
            assert all(node.op == trained_metagraph.ops[k][node.id] for node in dag.nodes)
    again = random_architectures(trained_metagraph, target, count=4, tolerance=0.2, seed=1)
    assert [a.id for a in again] == [a.id for a in randoms]


def test_impossible_random_budget_is_one_line(trained_metagraph):
    with pytest.raises(GramError, match="widen the tolerance"):
        random_architectures(trained_metagraph, 10, count=2, max_draws=50)
    with pytest.raises(GramError, match="tolerance"):
        random_architectures(trained_metagraph, 10**6, tolerance=1.5)


def test_tensor_training_learns_a_separable_task(tiny_space):
    torch.manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.randn(200, 1, 8, 8) * 0.3 + y[:, None, None, None].float() * 2 - 1
    metagraph = MetaGraph.create(tiny_space, seed=0, density=0.5)
    arch = metagraph.sample(np.random.default_rng(0))
    recipe = TensorRecipe(epochs=3, batch_size=32, augment=False)
    top1 = train_and_evaluate(arch, (x[:160], y[:160]), (x[160:], y[160:]), recipe, seed=0)
    assert top1 >= 0.9
    assert top1 == train_and_evaluate(arch, (x[:160], y[:160]), (x[160:], y[160:]), recipe, seed=0)


def test_cifar_mobilenet_keeps_a_4x4_map_and_adapts_to_the_data():
    model = cifar_mobilenet_v2(0.25, in_channels=1, num_classes=7).eval()
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    assert model.features(torch.zeros(1, 1, 32, 32)).shape[-2:] == (4, 4)  # total stride 8
    with pytest.raises(GramError, match=r"model\.width_mult"):
        cifar_mobilenet_v2(0.0)


@pytest.mark.parametrize("target", [9_000_000, 20_000_000])
def test_mobilenet_width_comes_closest_to_the_macs(target):
    def macs(width: float) -> int:
        return count_with_hooks(cifar_mobilenet_v2(width), (3, 32, 32))[0]

    width = width_for_macs(target)
    gap = abs(macs(width) - target)
    assert gap <= 0.25 * target
    assert gap <= min(abs(macs(round(width + d, 2)) - target) for d in (-0.01, 0.01))
    with pytest.raises(GramError, match="narrowest"):
        width_for_macs(10_000)


def test_tensor_training_takes_a_model_factory():
    torch.manual_seed(0)
    y = torch.arange(64) % 2
    x = torch.randn(64, 3, 32, 32)
    recipe = TensorRecipe(epochs=1, batch_size=32, augment=False)
    build = partial(cifar_mobilenet_v2, 0.1, 3, 2)
    top1 = train_and_evaluate(build, (x, y), (x, y), recipe, seed=0)
    assert top1 == train_and_evaluate(build, (x, y), (x, y), recipe, seed=0)


def test_shuffled_evidence_keeps_each_dags_tries_and_effects(trained_metagraph):
    shuffled = shuffle_evidence(trained_metagraph, np.random.default_rng(0))
    assert (shuffled.tried > 0).tolist() == (trained_metagraph.tried > 0).tolist()
    for k in range(trained_metagraph.space.num_dags):
        pairs = sorted(
            zip(trained_metagraph.tried[k], trained_metagraph.advantage_sum[k], strict=True)
        )
        assert sorted(zip(shuffled.tried[k], shuffled.advantage_sum[k], strict=True)) == pairs
    assert not np.array_equal(shuffled.advantage_sum, trained_metagraph.advantage_sum)
    assert np.array_equal(shuffled.weights, trained_metagraph.weights)


def test_shuffled_derivations_match_the_macs(trained_metagraph):
    target = count_macs(derive(trained_metagraph, 0.5))
    archs = shuffled_derivations(trained_metagraph, target, count=2, tolerance=0.5, seed=3)
    assert len({a.id for a in archs}) == 2
    assert all(abs(count_macs(a) - target) <= 0.5 * target for a in archs)
    fresh = MetaGraph.create(trained_metagraph.space, seed=0)
    with pytest.raises(GramError, match="no evidence"):
        shuffled_derivations(fresh, target)
