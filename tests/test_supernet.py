"""The one-shot supernet: sliced forward against stand-alone networks, BN recalibration, training and scoring resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gramnas import GramError, MetaGraph, preset_space
from gramnas.supernet import SuperNet, recalibrate_bn


def metagraph_of(stem: tuple[int, ...] = (), seed: int = 1) -> MetaGraph:
    """A tiny space on 3x16x16 images; density 0.3 samples some identity DAGs and some wide ones."""
    space = preset_space("tiny", in_channels=3, input_size=16, num_classes=5, stem=stem)
    return MetaGraph.create(space, seed=seed, density=0.3)


@pytest.mark.parametrize("stem", [(), (8,)])
def test_sliced_forward_equals_the_exported_stand_alone_network(stem):
    torch.manual_seed(0)
    metagraph = metagraph_of(stem)
    net = SuperNet.from_metagraph(metagraph)
    rng = np.random.default_rng(0)
    x = torch.randn(4, 3, 16, 16)
    identities = 0
    for _ in range(12):
        arch = metagraph.sample(rng)
        identities += sum(dag.is_identity for dag in arch.dags)
        net.set_active(arch)
        recalibrate_bn(net, torch.randn(32, 3, 16, 16), 16)  # statistics away from 0 and 1
        for node in net.nodes.values():  # and affine parameters away from 1 and 0
            torch.nn.init.uniform_(node.bn.weight, 0.5, 1.5)
            torch.nn.init.uniform_(node.bn.bias, -0.5, 0.5)
        net.eval()
        standalone = net.export(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), standalone(x), rtol=1e-5, atol=1e-5)
    assert identities >= 3  # pieces did pass through identity DAGs


def test_duplicated_pieces_share_one_block_and_the_head_reads_it_twice():
    metagraph = metagraph_of()
    net = SuperNet.from_metagraph(metagraph)
    arch = metagraph.to_architecture(np.zeros_like(metagraph.weights, bool))  # all identities
    net.set_active(arch)
    net.eval()
    standalone = net.export(arch).eval()
    assert standalone.classifier.in_features == 4 * 3  # the image, passed by 2 x 2 DAGs
    block = net.head["input"]
    torch.testing.assert_close(standalone.classifier.weight, block.repeat(1, 4))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), standalone(x))


def test_an_architecture_of_another_meta_graph_is_refused_in_one_line():
    net = SuperNet.from_metagraph(metagraph_of(seed=1))
    other = metagraph_of(seed=5)  # other node operations
    with pytest.raises(GramError, match="not sampled from this meta-graph"):
        for seed in range(20):  # until a draw holds a node whose operation differs
            net.set_active(other.sample(np.random.default_rng(seed)))
    with pytest.raises(GramError, match="set_active"):
        SuperNet.from_metagraph(other)(torch.randn(1, 3, 16, 16))


def test_bn_recalibration_changes_the_statistics_and_nothing_else():
    torch.manual_seed(0)
    metagraph = metagraph_of((8,))
    net = SuperNet.from_metagraph(metagraph)
    arch = metagraph.sample(np.random.default_rng(3))
    net.set_active(arch)
    net.eval()
    momenta = {name: m.momentum for name, m in net.named_modules() if hasattr(m, "momentum")}
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recalibrate_bn(net, 3 + 2 * torch.randn(64, 3, 16, 16), 16)
    after = net.state_dict()
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(statistics) for k in changed)
    active = [f"nodes.{node.name}.bn.running_mean" for h in net.plan for node in h.nodes]
    assert {"stem.0.1.running_mean", *active} <= changed
    assert not net.training  # mode and momentum restored
    assert momenta == {
        name: m.momentum for name, m in net.named_modules() if hasattr(m, "momentum")
    }
