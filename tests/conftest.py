from __future__ import annotations

import numpy as np
import pytest

from gramnas import MetaGraph, SearchSpace, preset_space


@pytest.fixture
def tiny_space() -> SearchSpace:
    return preset_space("tiny", in_channels=1, input_size=8, num_classes=10)


@pytest.fixture
def trained_metagraph() -> MetaGraph:
    """A small meta-graph after 60 updates with a synthetic reward, so strengths differ."""
    metagraph = MetaGraph.create(preset_space("small"), seed=3, density=0.1)
    rng = np.random.default_rng(0)
    for _ in range(60):
        arch = metagraph.sample(rng)
        metagraph.update(arch, float(rng.random()))
    return metagraph
