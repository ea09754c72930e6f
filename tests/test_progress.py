"""Progress lines: one per search iteration, training epoch and profiled level, in the log file and off a terminal."""

from __future__ import annotations

import logging
import re
import sys

import numpy as np
import pytest
import torch
from lightning.pytorch.utilities.model_summary import ModelSummary

from conftest import compose_config, run_entry_point
from gramnas import MetaGraph, SearchSpace
from gramnas.mobilenet import cifar_mobilenet_v2
from gramnas.model import build_model
from gramnas.progress import PROGRESS, OffTerminalOnly
from gramnas.training.module import ClassificationModule


def lines_matching(pattern: str, text: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(pattern, line)]


def test_a_redirected_search_prints_and_logs_one_line_per_iteration(tmp_path):
    result = run_entry_point("search.py", "debug=search", "extras.print_config=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run" / "search.log").read_text()
    for text in (result.stdout, log):
        lines = lines_matching(r"iteration \d+/2 ", text)
        assert [line.split(" - ")[1].split(":")[0] for line in lines] == [
            "iteration 1/2 ok",
            "iteration 2/2 ok",
        ], text
        assert all(re.search(r"accuracy 0\.\d+, latency .* ms, .* MMACs, reward", x) for x in lines)


def test_a_redirected_training_prints_and_logs_one_line_per_epoch(tmp_path):
    result = run_entry_point(
        "train.py", "debug=limit", "data=digits", "extras.print_config=false", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    for text in (result.stdout, log):
        lines = lines_matching(r"epoch \d/2: ", text)
        assert len(lines) == 2 and "epoch 2/2: train loss" in lines[1], text
        assert re.search(r"top-1 [\d.]+%; val loss [\d.]+, top-1 [\d.]+%", lines[1]), text
    # Lightning's summary of the module runs the example input: shapes and FLOPs (#12 item 3)
    assert re.search(r"Total FLOPs: [1-9]", result.stdout), result.stdout


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_lines_reach_stdout_only_off_a_terminal(monkeypatch, terminal):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    record = logging.LogRecord("gramnas", logging.INFO, __file__, 1, "iteration", (), None)
    progress = logging.makeLogRecord({**record.__dict__, **PROGRESS})
    assert OffTerminalOnly().filter(progress) is not terminal
    assert OffTerminalOnly().filter(record)  # every other record passes


def test_profile_logs_one_line_per_level(tmp_path, caplog):
    from profile_levels import profile

    with caplog.at_level(logging.INFO):
        profile(compose_config("profile", tmp_path, ["levels.num=3", "latency=macs"]))
    lines = [m for m in caplog.messages if m.startswith("level")]
    assert [m.split(":")[0] for m in lines] == ["level 0 (1/3)", "level 0.5 (2/3)", "level 1 (3/3)"]
    pattern = r"MMACs, \d+ params, depth \d+ \([^)]*\), latency [\d.]+ ms;"
    assert all(re.search(pattern, m) for m in lines), lines


@pytest.mark.parametrize("network", ["swiftnet", "mobilenet"])
def test_the_model_summary_shows_shapes_and_flops(tiny_space: SearchSpace, network: str):
    if network == "swiftnet":
        model = build_model(MetaGraph.create(tiny_space).sample(np.random.default_rng(0)))
        shape = (1, 8, 8)
    else:
        model, shape = cifar_mobilenet_v2(0.35), (3, 32, 32)
    module = ClassificationModule(model, 10, torch.optim.SGD, input_shape=shape)
    summary = ModelSummary(module, max_depth=1)
    assert summary.total_flops > 0
    assert summary.in_sizes[0] == [1, *shape] and summary.out_sizes[0] == [1, 10]


def test_without_an_input_shape_the_module_has_no_example_input(tiny_space: SearchSpace):
    model = build_model(MetaGraph.create(tiny_space).sample(np.random.default_rng(0)))
    assert ClassificationModule(model, 10, torch.optim.SGD).example_input_array is None
