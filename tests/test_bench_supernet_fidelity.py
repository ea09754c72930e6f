"""bench/supernet_fidelity.py: a search's supernet scores the ground truth's sub-networks of its meta-graph."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT, SUPERNET_SEARCH, compose_config, search_into
from gramnas import MetaGraph, preset_space
from gramnas.search.build import build_search
from gramnas.search.runner import GramSearch

sys.path.append(str(ROOT / "bench"))  # after src/: bench/search.py must not shadow src/search.py
import supernet_fidelity


def write_network(truth: Path, name: str, arch, val_top1: float) -> dict[str, str]:
    path = truth / "architectures" / f"{name}.json"
    arch.save(path)
    (truth / name).mkdir()
    (truth / name / "metrics.json").write_text(json.dumps({"val_top1": val_top1, "top1": val_top1}))
    return {"architecture": str(path)}


def test_scores_are_the_resumed_searchs_and_foreign_networks_are_left_out(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(GramSearch, "finish", lambda self: None)
    run = tmp_path / "run"
    search_into(run)
    metagraph = MetaGraph.load(run / "metagraph.json")
    rng = np.random.default_rng(5)
    archs = [metagraph.sample(rng) for _ in range(4)]
    truth = tmp_path / "truth"
    (truth / "architectures").mkdir(parents=True)
    networks = {f"n{i}": write_network(truth, f"n{i}", a, 50.0 + i) for i, a in enumerate(archs)}
    other = MetaGraph.create(
        preset_space("tiny", in_channels=1, input_size=8, num_classes=4), seed=1
    )
    networks["foreign"] = write_network(truth, "foreign", other.sample(rng), 99.0)
    (truth / "networks.yaml").write_text(yaml.safe_dump({"networks": networks}))
    # Another proxy's scores of three of them, as bench/proxy.py --truth writes them.
    proxies = tmp_path / "proxies.csv"
    keys = [k for k in supernet_fidelity.COMPARED if k != "paper_mean"]
    with open(proxies, "w") as f:
        writer = csv.DictWriter(f, ["name", *keys, *(f"{k}_s" for k in keys)])
        writer.writeheader()
        for i in range(3):
            writer.writerow({"name": f"n{i}"} | {k: i for k in keys} | {f"{k}_s": 1 for k in keys})
    out = tmp_path / "out"
    argv = [
        "x",
        "--run",
        str(run),
        "--truth",
        str(truth),
        "--proxies",
        str(proxies),
        "--out",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    supernet_fidelity.main()

    with open(out / "results.csv") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == ["n0", "n1", "n2", "n3"]
    resumed = build_search(compose_config("search", run, SUPERNET_SEARCH), resume_dir=run).proxy
    resumed.prepare()
    for i, arch in enumerate(archs):
        assert float(rows[f"n{i}"]["supernet"]) == pytest.approx(
            resumed.train(arch, 0).accuracy, abs=1e-6
        )
    table = (out / "table.md").read_text()
    assert "Not sub-networks of this meta-graph: foreign." in table
    assert "Fidelity against val top-1 over the 3 networks every proxy scored:" in table
    assert "| log params | 1.00 |" in table  # the hand-made scores rank as val top-1 does
