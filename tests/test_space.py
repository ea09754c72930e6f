"""Search-space validation and the core's independence from Hydra and Lightning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gramnas import GramError, SearchSpace, preset_space


def test_paper_preset():
    space = preset_space("paper")
    assert (space.hierarchies, space.dags_per_hierarchy, space.nodes) == (3, 3, 30)
    assert space.num_dags == 9 and space.num_edges == 435
    assert space.operations == (
        "conv1x1_32",
        "conv1x1_64",
        "conv1x1_128",
        "conv3x3_32",
        "conv3x3_64",
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"nodes": -3}, "space.nodes"),
        ({"hierarchies": 0}, "space.hierarchies"),
        ({"nodes": "many"}, "space.nodes"),
        ({"operations": ("conv1x1_32", "sepconv3x3_32")}, "unknown operation"),
        ({"operations": ("conv2x2_32",)}, "square and odd"),
        ({"operations": ()}, "space.operations"),
        ({"input_size": 4}, "too small"),
        ({"stem": (0,)}, "space.stem"),
    ],
)
def test_invalid_spaces_name_the_field(changes, match):
    with pytest.raises(GramError, match=match):
        SearchSpace(**changes)


def test_unknown_preset_and_field():
    with pytest.raises(GramError, match=r"space\.name"):
        preset_space("huge")
    with pytest.raises(GramError, match=r"space\.depth"):
        SearchSpace.from_dict({"depth": 3})


def test_import_gramnas_leaves_hydra_and_lightning_out():
    code = (
        "import sys, gramnas, gramnas.latency; "
        "bad = [m for m in ('hydra', 'lightning', 'pytorch_lightning', 'omegaconf') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
