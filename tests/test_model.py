"""build_model shapes, analytic counts against hooks, ONNX export."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from gramnas import MetaGraph, build_model, count_macs, count_params, derive, preset_space
from gramnas.counting import count_with_hooks
from gramnas.export import export_onnx


@pytest.mark.parametrize(
    ("input_shape", "classes", "stem"),
    [((3, 32, 32), 10, ()), ((1, 28, 28), 10, ()), ((3, 96, 96), 1000, (32,))],
)
def test_forward_shapes_and_counts(trained_metagraph, input_shape, classes, stem):
    arch = derive(trained_metagraph, 0.4, input_shape=input_shape, num_classes=classes, stem=stem)
    model = build_model(arch)
    out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, classes)
    assert count_with_hooks(model, input_shape) == (count_macs(arch), count_params(arch))


def test_analytic_counts_equal_hooks_on_many_random_architectures():
    space = preset_space("small", input_size=16)
    for seed in range(25):
        metagraph = MetaGraph.create(space, seed=seed, density=0.15)
        arch = metagraph.sample(np.random.default_rng(seed))
        if seed % 3 == 0:
            arch = derive(metagraph, 0.0, upscale=1.25, max_channels=48)  # the complete DAGs
        assert count_with_hooks(build_model(arch), arch.input_shape) == (
            count_macs(arch),
            count_params(arch),
        ), seed


def test_identity_network_still_classifies():
    space = preset_space("tiny", input_size=8, in_channels=1)
    metagraph = MetaGraph.create(space, seed=0)
    arch = derive(metagraph, 1.0, input_shape=(1, 8, 8))
    arch = type(arch)(
        arch.input_shape,
        arch.num_classes,
        tuple(type(d)(d.hierarchy, d.index, (), ()) for d in arch.dags),
    )
    model = build_model(arch)
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert count_macs(arch) == count_with_hooks(model, (1, 8, 8))[0] == 4 * 10


def test_onnx_export_matches_pytorch(trained_metagraph, tmp_path):
    arch = derive(trained_metagraph, 0.4)
    model = build_model(arch).eval()
    data = export_onnx(model, arch.input_shape, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").read_bytes() == data
    x = torch.randn(1, *arch.input_shape)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        torch_out = model(x).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)
