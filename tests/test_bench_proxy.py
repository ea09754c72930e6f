"""bench/proxy.py's statistics on hand-made numbers, and its proxy images never being the reference's."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gramnas import GramError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def proxy():
    spec = importlib.util.spec_from_file_location("bench_proxy", ROOT / "bench" / "proxy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_partial_spearman_matches_the_partial_correlation_formula(proxy) -> None:
    # Spearman: rho(a, c) = rho(b, c) = 0.8, rho(a, b) = 0.3 (sums of squared rank gaps 4, 4, 14),
    # so the partial correlation is (0.3 - 0.8 * 0.8) / (1 - 0.8**2) = -17/18.
    control = np.array([1.0, 2, 3, 4, 5])
    a = np.array([2.0, 1, 4, 3, 5])
    b = np.array([1.0, 3, 2, 5, 4])
    assert proxy.partial_spearman(a, b, control) == pytest.approx(-17 / 18)
    # Only the control's order matters: MACs or log MACs alike.
    assert proxy.partial_spearman(a, b, np.exp(control)) == pytest.approx(-17 / 18)
    # Agreeing on everything the control does not explain: 1.
    assert proxy.partial_spearman(a, a * 10, control) == pytest.approx(1.0)


def test_top_half_kendall_orders_only_the_best_half(proxy) -> None:
    truth = np.array([90.0, 80, 70, 60, 50, 40])
    score = np.array([3.0, 1, 2, 10, 20, 30])  # reversed overall, 2 of 3 pairs right at the top
    assert proxy.kendall(score, truth) < 0
    assert proxy.top_half_kendall(score, truth) == pytest.approx(1 / 3)
    # An odd count keeps ceil(n/2): the 3 best of 5, in any input order.
    order = np.array([4, 0, 2, 1, 3])
    assert proxy.top_half_kendall(score[:5][order], truth[:5][order]) == pytest.approx(1 / 3)


def test_bootstrap_interval_of_kendall(proxy) -> None:
    x = np.arange(8.0)
    assert proxy.bootstrap_spearman(x, x**2, statistic=proxy.kendall) == (1.0, 1.0)
    low, high = proxy.bootstrap_spearman(x, -x, statistic=proxy.kendall)
    assert low == high == -1.0


def test_truth_report_from_hand_made_rows(proxy) -> None:
    settings = proxy.TRUTH_SETTINGS
    keys = [s.key for s in settings] + list(proxy.ZERO_COST)
    rows = []
    for i, val in enumerate([70.0, 80.0, 60.0, 75.0]):
        row = {"name": f"n{i}", "arch_id": f"id{i}", "depth": "3", "macs": str(1e6 * (i + 2))}
        row |= {"params": "1000", "val_top1": str(val), "top1": str(val + 0.5), "load1": "1.0"}
        row |= {"wall_s": "10"} | {k: str(val / 100) for k in keys} | {f"{k}_s": "1" for k in keys}
        rows.append(row)
    manifest = proxy.Manifest([], ["mobilenet"], ["later"], {r["name"]: (1.0, 1.0) for r in rows})
    table = proxy.truth_report(rows, "# header", settings, manifest)
    assert "| n1 | 3 | 3.00 | 80.00 | 80.50 |" in table.splitlines()[4]  # best first
    line = next(x for x in table.splitlines() if x.startswith("| 5,000 img x 5 ep"))
    assert line.startswith(
        "| 5,000 img x 5 ep, lr 0.05 | 1.00 | 1.00 to 1.00 | 1.00 | 1.00 to 1.00"
    )
    assert "Sanity: test top-1 vs val top-1, Spearman 1.00 over these 4 networks." in table
    assert "Not scored: mobilenet" in table and "not finished yet: later" in table


def test_proxy_images_come_from_the_training_part_only(proxy, tmp_path: Path) -> None:
    """Image i is filled with level 5 * i: the held-out images and the proxy pool never meet."""
    for i in range(40):
        folder = tmp_path / "train" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (5 * i, 0, 0)).save(folder / f"{i:02d}.png")
    (tmp_path / "test" / "c0").mkdir(parents=True)
    datamodule = proxy.truth_datamodule(str(tmp_path))
    assert datamodule.val_fraction == 0.1  # conf/train.yaml, as the ground-truth runs
    datamodule.setup()  # what full training holds out: its "val" tensors
    held_out = set(datamodule.tensors["val"][0][:, 0, 0, 0].tolist())
    assert len(held_out) == 4
    pool = proxy.training_part_pool(datamodule, 30, 6, seed=0)
    mean, std = datamodule.mean[0], datamodule.std[0]
    drawn = torch.cat([pool.train_x, pool.val_x])[:, 0, 0, 0] * std + mean
    levels = {round(float(v) * 255) for v in drawn}
    assert len(levels) == 36 and not levels & held_out
    with pytest.raises(GramError, match="the 36 training samples"):
        proxy.training_part_pool(datamodule, 30, 7, seed=0)  # 37 > the 36 of the training part
    assert math.isclose(len(levels) + len(held_out), 40)
