from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

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


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the Hydra entry points live in src/


def compose_config(config_name: str, output_dir: Path, overrides: list[str]) -> DictConfig:
    """Compose an entry point's config as Hydra would, writing into ``output_dir``."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg


# A tiny search: synthetic 3x8x8 images, 4 classes, two 1-epoch candidates per second or so.
SYNTHETIC = ["data=synthetic", "data.input_size=8", "data.num_classes=4", "data.train_samples=120"]
SEARCH = [
    "space=tiny",
    "proxy.train_size=64",
    "proxy.val_size=32",
    "proxy.epochs=1",
    "proxy.batch_size=32",
    "logger=none",
]
TINY = [*SYNTHETIC, *SEARCH]
DETERMINISTIC = ["latency=macs"]  # measured latencies differ run to run; MACs do not


def run_search(tmp_path: Path, name: str, *overrides: str) -> MetaGraph:
    """The tiny search into ``tmp_path / name``, through the entry point's ``search``."""
    from search import search

    return search(compose_config("search", tmp_path / name, [*TINY, *overrides]))


# The tiny search of conftest with the one-shot proxy: a supernet of 2 epochs on 64 images.
SUPERNET_SEARCH = [
    *TINY,
    *DETERMINISTIC,
    "proxy=supernet",
    "proxy.epochs=2",
    "proxy.calibration_size=32",
    "search.iterations=4",
]


def search_into(output_dir: Path, *overrides: str) -> dict[str, Any]:
    """The tiny supernet search through the entry point: its final meta-graph, as saved."""
    from search import search

    return search(compose_config("search", output_dir, [*SUPERNET_SEARCH, *overrides])).to_dict()


def snapshot(run_dir: Path) -> dict[Path, bytes]:
    """Every file of a run directory: a refused search or resume must leave it byte-identical."""
    return {
        p.relative_to(run_dir): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()
    }


class Killed(BaseException):
    """A kill, as far as the code under test can tell: nothing catches it."""


def kill_at_call(monkeypatch, owner: Any, name: str, n: int) -> None:
    """The n-th call of ``owner.name`` raises :class:`Killed`; the calls before it run as usual."""
    real = getattr(owner, name)
    calls = itertools.count(1)

    def call(*args, **kwargs):
        if next(calls) == n:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, call)


def run_entry_point(script: str, *overrides: str, cwd: Path, env: dict[str, str] | None = None):
    """Run ``src/<script>`` in a subprocess, as a user would from the shell."""
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *overrides, f"hydra.run.dir={cwd}/run"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
