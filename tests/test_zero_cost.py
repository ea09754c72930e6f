"""proxy=synflow: a percentile that ranks as synflow does, and a search with it that resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SYNTHETIC, Killed, compose_config, kill_at_call
from gramnas import MetaGraph, count_macs, preset_space
from gramnas.cli import one_line_errors
from gramnas.search.runner import GramSearch
from gramnas.training.zero_cost import SynflowProxy, SynflowRecipe, synflow

SYNFLOW_SEARCH = [
    *SYNTHETIC,
    "space=tiny",
    "logger=none",
    "latency=macs",
    "proxy=synflow",
    "proxy.reference_size=16",
    "search.iterations=5",
]


def tiny_metagraph() -> MetaGraph:
    return MetaGraph.create(
        preset_space("tiny", in_channels=3, input_size=8, num_classes=4), seed=2
    )


def test_the_percentile_ranks_candidates_as_synflow_does() -> None:
    metagraph = tiny_metagraph()
    proxy = SynflowProxy(metagraph, SynflowRecipe(reference_size=30), max_macs=None, max_redraws=20)
    rng = np.random.default_rng(7)
    archs = [metagraph.sample(rng) for _ in range(12)]
    scores = [synflow(a) for a in archs]
    percentiles = [proxy.train(a, seed=s).accuracy for s, a in enumerate(archs)]
    assert all(0.0 <= p <= 1.0 for p in percentiles)
    assert np.array_equal(np.argsort(scores, kind="stable"), np.argsort(percentiles, kind="stable"))
    assert len(set(percentiles)) > 3  # spread over the reference, not all 0 or 1
    # A function of the architecture alone: another seed, another process's proxy, the same.
    again = SynflowProxy(metagraph, SynflowRecipe(reference_size=30), None, 20)
    assert [again.train(a, seed=99).accuracy for a in archs] == percentiles


def test_at_equal_macs_the_percentile_ranks_residuals_of_synflow_on_log_macs() -> None:
    metagraph = tiny_metagraph()
    proxy = SynflowProxy(metagraph, SynflowRecipe(30, at_equal_macs=True), None, 20)
    rng = np.random.default_rng(7)
    archs = [metagraph.sample(rng) for _ in range(12)]
    percentiles = [proxy.train(a, seed=0).accuracy for a in archs]
    # the line is the least-squares fit through the reference, refitted here from its draws
    draws = [
        proxy.metagraph.sample(np.random.default_rng([metagraph.seed, i, 3]), None, 20)
        for i in range(30)
    ]
    log_macs = np.log([count_macs(a) for a in draws])
    slope, intercept = np.polyfit(log_macs, [synflow(a) for a in draws], 1)
    assert slope > 0  # bigger networks score higher: what the residual takes out
    residuals = [synflow(a) - intercept - slope * np.log(count_macs(a)) for a in archs]
    by_residual = np.array(percentiles)[np.argsort(residuals)]
    assert np.all(np.diff(by_residual) >= 0) and len(set(percentiles)) > 3
    plain = SynflowProxy(metagraph, SynflowRecipe(30), None, 20)
    assert percentiles != [plain.train(a, seed=0).accuracy for a in archs]


def search_into(output_dir, *overrides: str) -> dict:
    from search import search

    return search(compose_config("search", output_dir, [*SYNFLOW_SEARCH, *overrides])).to_dict()


def test_a_synflow_search_killed_while_scoring_resumes_exactly(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(GramSearch, "finish", lambda self: None)  # plots: most of a tiny search
    whole = search_into(tmp_path / "whole")
    with monkeypatch.context() as patch:
        kill_at_call(patch, SynflowProxy, "train", 3)
        with pytest.raises(Killed):
            search_into(tmp_path / "killed")
    assert search_into(tmp_path / "new", f"search.resume={tmp_path / 'killed'}") == whole


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("proxy.reference_size=0", "proxy.reference_size"),
        ("debug=search", "proxy.train_size"),  # the training proxies' sizes, no use to synflow
    ],
)
def test_bad_synflow_settings_fail_in_one_line_naming_the_field(
    tmp_path, capsys, override, field
) -> None:
    from search import search

    cfg = compose_config("search", tmp_path / "run", [*SYNFLOW_SEARCH, override])
    with pytest.raises(SystemExit), one_line_errors():
        search(cfg)
    assert capsys.readouterr().err.startswith(f"error: {field}: ")
    assert not (tmp_path / "run" / "metagraph.json").exists()
