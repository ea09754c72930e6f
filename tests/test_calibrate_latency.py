"""``src/calibrate_latency.py``: fills and calibrates a lookup table, saves its correction; bad input in one line.

The table measures with a fake backend registered for these tests: deterministic
and instant (no timing), and whole networks cost a known amount per piece
more than their pieces alone, so the fitted correction is known.
"""

from __future__ import annotations

import csv
import json

import pytest
from torch import nn

from gramnas import count_macs
from gramnas.architecture import Architecture
from gramnas.counting import count_with_hooks
from gramnas.latency import LatencyBackend, LatencyResult
from gramnas.latency.calibration import calibration_networks
from gramnas.latency.lut import FEATURES
from gramnas.registry import load_metagraph
from test_bad_input import assert_one_line, run_main

OVERHEAD_MS, MS_PER_MAC, MS_PER_PIECE = 0.05, 1e-6, 0.002
TRUTH = {"conv_ms": 1.0, "other_ms": 1.0, "pieces": MS_PER_PIECE}


class PieceCostBackend(LatencyBackend):
    """A fixed overhead plus MACs at 1 GMAC/s; a whole network also pays ``MS_PER_PIECE`` per piece."""

    name = "fake"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def measure(
        self, model: nn.Module | Architecture, input_shape: tuple[int, ...] | None = None
    ) -> LatencyResult:
        if isinstance(model, Architecture):
            ms = OVERHEAD_MS + count_macs(model) * MS_PER_MAC + MS_PER_PIECE * len(model.pieces)
        else:
            ms = OVERHEAD_MS + count_with_hooks(model, input_shape)[0] * MS_PER_MAC
        return LatencyResult(ms, ms, 1, self.name, "fake device", "1.0")


@pytest.fixture
def fake_measurer(monkeypatch):
    import gramnas.latency

    monkeypatch.setitem(gramnas.latency._BACKENDS, "fake", (__name__, "PieceCostBackend", None))


def test_calibrates_fills_and_saves_the_table(tmp_path, fake_measurer, capsys):
    table = tmp_path / "table.json"
    code, stderr = run_main(
        "calibrate_latency",
        f"latency.path={table}",
        "latency.measure_with=fake",
        "networks.count=8",
        f"hydra.run.dir={tmp_path / 'run'}",
        capsys=capsys,
    )
    assert code == 0, stderr
    saved = json.loads(table.read_text())
    assert saved["format"] == "gramnas.latency_lut" and saved["version"] == 2
    assert saved["measured_with"]["backend"] == "fake" and saved["device"] == "fake device"
    correction = saved["correction"]  # {"coefficients": {"conv_ms": a, ...}, "networks": n}
    assert set(correction) == {"coefficients", "networks"} and correction["networks"] == 8
    assert list(correction["coefficients"]) == list(FEATURES)
    assert correction["coefficients"] == pytest.approx(TRUTH, rel=1e-3)
    assert any(k.startswith("conv") for k in saved["entries"])
    with open(tmp_path / "run" / "calibration.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and len({r["architecture_id"] for r in rows}) == 8
    for row in rows:  # the raw sum misses the per-piece cost; the correction restores it
        assert float(row["before_ms"]) < float(row["measured_ms"])
        assert float(row["after_ms"]) == pytest.approx(float(row["measured_ms"]), rel=1e-3)


def test_calibration_networks_span_sizes_and_are_distinct():
    metagraph = load_metagraph("cifar10-paper-gamma1")
    archs = calibration_networks(metagraph, 12, sampled=3, seed=1)
    macs = [count_macs(a) for a in archs]
    assert len({a.id for a in archs}) == 12 and all(1e6 <= m <= 1.2e8 for m in macs)
    assert max(macs) > 4 * min(macs)
    assert len({a.input_shape for a in archs}) == 1
    assert archs == calibration_networks(metagraph, 12, sampled=3, seed=1)  # deterministic


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["latency=macs"], "latency"),
        (["~latency"], "latency"),
        (["networks.count=2"], "networks.count"),
        (["latency.path=null"], "latency.path"),
        (["networks.max_macs=-1"], "networks.max_macs"),
        (["networks.sampled=30"], "networks.sampled"),
        (["networks.levels=[0.5]"], "networks.levels"),
        (["metagraph=no-such-metagraph"], "metagraph"),
    ],
)
def test_bad_input_fails_in_one_line(tmp_path, capsys, overrides, field):
    table = (
        []
        if overrides[0] in ("latency=macs", "~latency")
        else [f"latency.path={tmp_path / 'table.json'}"]
    )
    code, stderr = run_main(
        "calibrate_latency",
        *table,
        *overrides,
        f"hydra.run.dir={tmp_path / 'run'}",
        capsys=capsys,
    )
    assert_one_line(code, stderr, field)
    assert not (tmp_path / "table.json").exists()
