"""The one-shot supernet: sliced forward against stand-alone networks, BN recalibration, training and scoring resume."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SUPERNET_SEARCH, Killed, compose_config, kill_at_call, search_into
from gramnas import GramError, MetaGraph, SearchSpace, preset_space
from gramnas.cli import one_line_errors
from gramnas.search.runner import GramSearch
from gramnas.supernet import SuperNet, recalibrate_bn
from gramnas.training import supernet_proxy
from gramnas.training.data import SyntheticDataModule
from gramnas.training.recipes import warmup_cosine
from gramnas.training.supernet_proxy import (
    CHECKPOINT,
    WEIGHTS,
    EpochCheckpoint,
    SampleSubnetworks,
    SupernetProxy,
    SupernetRecipe,
    supernet_data,
)


def metagraph_of(stem: tuple[int, ...] = (), seed: int = 1) -> MetaGraph:
    """A tiny space on 3x16x16 images; density 0.3 samples some identity DAGs and some wide ones."""
    space = preset_space("tiny", in_channels=3, input_size=16, num_classes=5, stem=stem)
    return MetaGraph.create(space, seed=seed, density=0.3)


@pytest.mark.parametrize("stem", [(), (8,)])
def test_sliced_forward_equals_the_exported_stand_alone_network(stem):
    torch.manual_seed(0)
    metagraph = metagraph_of(stem)
    net = SuperNet.from_metagraph(metagraph)
    for block in net.head.values():  # not the zeros it starts from
        torch.nn.init.normal_(block)
    rng = np.random.default_rng(0)
    x = torch.randn(4, 3, 16, 16)
    identities = duplicates = 0
    for _ in range(12):
        arch = metagraph.sample(rng)
        identities += sum(dag.is_identity for dag in arch.dags)
        net.set_active(arch)
        duplicates += sum(len(set(n.inputs)) < len(n.inputs) for h in net.plan for n in h.nodes)
        recalibrate_bn(net, torch.randn(32, 3, 16, 16), 16)  # statistics away from 0 and 1
        for node in net.nodes.values():  # and affine parameters away from 1 and 0
            torch.nn.init.uniform_(node.bn.weight, 0.5, 1.5)
            torch.nn.init.uniform_(node.bn.bias, -0.5, 0.5)
        net.eval()
        standalone = net.export(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), standalone(x), rtol=1e-5, atol=1e-5)
    assert identities >= 3 and duplicates >= 1  # nodes did read pieces passed twice


def test_a_duplicated_piece_is_read_once_and_its_copies_share_its_block():
    metagraph = metagraph_of()
    net = SuperNet.from_metagraph(metagraph)
    torch.nn.init.normal_(net.head["input"])
    arch = metagraph.to_architecture(np.zeros_like(metagraph.weights, bool))  # all identities
    net.set_active(arch)
    net.eval()
    standalone = net.export(arch).eval()
    assert standalone.classifier.in_features == 4 * 3  # the image, passed by 2 x 2 DAGs
    block = net.head["input"]
    torch.testing.assert_close(standalone.classifier.weight, block.repeat(1, 4) / 4)
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


def tiny_proxy(directory: Path) -> SupernetProxy:
    """A supernet of the tiny space on 160 synthetic 3x8x8 images, 2 epochs of 5 steps."""
    datamodule = SyntheticDataModule(in_channels=3, input_size=8, num_classes=4, train_samples=200)
    metagraph = MetaGraph.create(datamodule_space(), seed=0, density=0.3)
    recipe = SupernetRecipe(
        train_size=None,
        epochs=2,
        batch_size=32,
        optimizer=partial(torch.optim.SGD, lr=0.05, momentum=0.9),
        scheduler=partial(warmup_cosine, warmup_epochs=1),
        channels_last=True,
        val_size=40,
        calibration_size=64,
    )
    data = supernet_data(datamodule, recipe, seed=0)
    return SupernetProxy(metagraph, data, recipe, directory, max_macs=None, max_redraws=20)


def datamodule_space() -> SearchSpace:
    return preset_space("tiny", in_channels=3, input_size=8, num_classes=4)


def test_supernet_training_and_scoring_resume_exactly(tmp_path, monkeypatch):
    whole = tiny_proxy(tmp_path / "whole")
    whole.prepare()
    archs = [whole.metagraph.sample(np.random.default_rng(seed)) for seed in range(3)]
    scores = [whole.train(arch, seed=0).accuracy for arch in archs]
    assert sorted(p.name for p in (tmp_path / "whole").iterdir()) == [WEIGHTS]

    saved = EpochCheckpoint.on_train_epoch_end

    def killed_after_the_first_epoch(self, trainer, pl_module):
        saved(self, trainer, pl_module)
        raise Killed

    monkeypatch.setattr(supernet_proxy, "CHECKPOINT_SECONDS", 0.0)  # after every epoch
    with monkeypatch.context() as patch:
        patch.setattr(EpochCheckpoint, "on_train_epoch_end", killed_after_the_first_epoch)
        with pytest.raises(Killed):
            tiny_proxy(tmp_path / "killed").prepare()
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == [CHECKPOINT]
    steps = []
    sample = SampleSubnetworks.on_train_batch_start
    with monkeypatch.context() as patch:
        patch.setattr(
            SampleSubnetworks,
            "on_train_batch_start",
            lambda self, trainer, *args: (
                steps.append(trainer.global_step) or sample(self, trainer, *args)
            ),
        )
        resumed = tiny_proxy(tmp_path / "killed")
        resumed.prepare()
    assert steps == [5, 6, 7, 8, 9]  # the second epoch only
    expected = whole.net.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in resumed.net.state_dict().items())
    loaded = tiny_proxy(tmp_path / "killed")  # a resumed search loads the trained supernet
    loaded.prepare()
    assert [loaded.train(arch, seed=1).accuracy for arch in archs] == scores
    assert [resumed.train(arch, seed=2).accuracy for arch in reversed(archs)] == scores[::-1]


def test_a_supernet_search_killed_anywhere_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(GramSearch, "finish", lambda self: None)  # plots: most of a tiny search
    whole = search_into(tmp_path / "whole")
    assert sorted(p.name for p in (tmp_path / "whole" / "supernet").iterdir()) == [WEIGHTS]
    monkeypatch.setattr(supernet_proxy, "CHECKPOINT_SECONDS", 0.0)

    def killed(*args, **kwargs):
        raise Killed

    # killed while the supernet trains, after its first epoch's checkpoint
    saved = EpochCheckpoint.on_train_epoch_end
    with monkeypatch.context() as patch:
        patch.setattr(
            EpochCheckpoint,
            "on_train_epoch_end",
            lambda self, trainer, module: saved(self, trainer, module) or killed(),
        )
        with pytest.raises(Killed):
            search_into(tmp_path / "killed")
    assert (tmp_path / "killed" / "supernet" / CHECKPOINT).is_file()
    assert search_into(tmp_path / "new", f"search.resume={tmp_path / 'killed'}") == whole

    # killed while it scores the third candidate: the resume loads the supernet, never retrains it
    with monkeypatch.context() as patch:
        kill_at_call(patch, SupernetProxy, "train", 3)
        with pytest.raises(Killed):
            search_into(tmp_path / "scoring")
    with monkeypatch.context() as patch:
        patch.setattr(SupernetProxy, "_fit", killed)
        assert search_into(tmp_path / "scoring", "search.resume=auto") == whole


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("proxy.calibration_size=0", "proxy.calibration_size"),
        ("proxy.train_size=0", "proxy.train_size"),
        ("proxy.val_size=120", "proxy.train_size + proxy.val_size"),  # all 120 images
        ("proxy.optimizer.lr=-1", "proxy.optimizer.lr"),
    ],
)
def test_bad_supernet_settings_fail_in_one_line_naming_the_field(tmp_path, capsys, override, field):
    from search import search

    cfg = compose_config("search", tmp_path / "run", [*SUPERNET_SEARCH, override])
    with pytest.raises(SystemExit), one_line_errors():
        search(cfg)
    assert capsys.readouterr().err.startswith(f"error: {field}: ")
    assert not (tmp_path / "run" / "metagraph.json").exists()
