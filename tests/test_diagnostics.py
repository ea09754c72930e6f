"""Search diagnostics: coverage and correlations by hand, warnings, probes, the level profile."""

from __future__ import annotations

import csv
import json
import logging
import math

import numpy as np
import pytest

from gramnas import Architecture, Dag, MetaGraph, Node, SearchSpace
from gramnas.counting import count_macs
from gramnas.pruning import profile_levels
from gramnas.search.diagnostics import (
    per_dag_signals,
    reward_correlations,
    search_warnings,
    share_tried,
    tried_below_untried,
)
from gramnas.search.logs import read_jsonl
from gramnas.search.runner import PROFILE_LEVELS, probe_architecture
from test_search import DETERMINISTIC, run_search

OPS = ["input", "conv1x1_32", "conv3x3_32", "conv1x1_64"]


def four_node_metagraph(dags: int, weights: list[list[float]], tried: list[list[int]]) -> MetaGraph:
    """``dags`` DAGs of 4 nodes, so 6 edges each: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)."""
    space = SearchSpace(hierarchies=1, dags_per_hierarchy=dags, nodes=4, input_size=8)
    return MetaGraph(
        space=space, ops=[list(OPS)] * dags, weights=np.array(weights), tried=np.array(tried)
    )


def test_coverage_by_hand():
    metagraph = four_node_metagraph(
        3,
        weights=[
            [0.05, 0.1, 0.2, 0.1, 0.45, 0.1],  # untried edges 1, 3, 5 at 0.1; tried 0.05 is below
            [0.1, 0.2, 0.3, 0.1, 0.2, 0.1],  # every edge tried: no untried level
            [1 / 6] * 6,  # nothing tried
        ],
        tried=[[2, 0, 1, 0, 3, 0], [1, 1, 1, 1, 1, 1], [0] * 6],
    )
    np.testing.assert_allclose(share_tried(metagraph), [3 / 6, 1.0, 0.0])
    np.testing.assert_allclose(tried_below_untried(metagraph), [1 / 3, 0.0, 0.0])
    signals = per_dag_signals(metagraph)
    assert set(signals) >= {"effective_edges", "max_pi", "share_tried", "tried_below_untried"}
    assert signals["effective_edges"][2] == pytest.approx(6.0)  # uniform: all 6 edges


def test_a_penalised_try_falls_below_the_untried_level_and_a_rewarded_one_rises():
    metagraph = four_node_metagraph(1, weights=[[1 / 6] * 6], tried=[[0] * 6])
    dag = Dag(0, 0, (Node(1, "conv1x1_32", 32), Node(3, "conv1x1_64", 64)), ((0, 1), (1, 3)))
    chain = Architecture((3, 8, 8), 10, (dag,))  # edges 0 and 4
    metagraph.reinforce(chain, advantage=-1.0)
    assert share_tried(metagraph).tolist() == [2 / 6]
    assert tried_below_untried(metagraph).tolist() == [1.0]
    metagraph.reinforce(chain, advantage=3.0)  # net +2: both now above the untried edges
    assert tried_below_untried(metagraph).tolist() == [0.0]


def record(reward, accuracy, latency_ms, status="ok"):
    return {"status": status, "reward": reward, "accuracy": accuracy, "latency_ms": latency_ms}


def test_correlations_by_hand():
    rewards = np.arange(1.0, 11.0)
    accuracies = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9]  # pairs swapped: r = 77.5 / 82.5 = 31 / 33
    records = [record(r, a, math.exp(r)) for r, a in zip(rewards, accuracies, strict=True)]
    records.insert(3, record(None, None, None, status="skipped"))  # not ok: ignored
    expected = {"corr_reward_accuracy": 31 / 33, "corr_reward_neg_ln_latency": -1.0}
    assert reward_correlations(records) == pytest.approx(expected)
    # Only the last `window` ok records count: an outlier before them changes nothing.
    assert reward_correlations([record(100.0, 0.0, 1.0), *records], window=10) == pytest.approx(
        expected
    )
    assert reward_correlations(records[:-1]) == {
        "corr_reward_accuracy": None,  # 9 ok records: too few
        "corr_reward_neg_ln_latency": None,
    }
    constant = [record(float(r), 0.5, 1.0) for r in rewards]
    assert reward_correlations(constant) == {
        "corr_reward_accuracy": None,  # constant accuracy: undefined
        "corr_reward_neg_ln_latency": None,
    }


def test_warnings_by_hand():
    collapsed = search_warnings(np.array([1.5, 10.0, 1.0]), num_edges=15, iteration=7)
    assert set(collapsed) == {("collapsed", 0), ("collapsed", 2)}
    assert all("\n" not in message for message in collapsed.values())
    still = np.array([14.95, 14.99])  # within 0.5% of 15
    assert search_warnings(still, num_edges=15, iteration=199) == {}
    assert set(search_warnings(still, num_edges=15, iteration=200)) == {("still", None)}
    assert search_warnings(np.array([14.9, 15.0]), num_edges=15, iteration=500) == {}


def test_level_profile_summary_and_records_of_a_short_search(tmp_path):
    metagraph = run_search(tmp_path, "run", "search.iterations=3", *DETERMINISTIC)
    run_dir = tmp_path / "run"
    rows = list(csv.DictReader((run_dir / "level_profile.csv").open()))
    assert [float(r["level"]) for r in rows] == list(PROFILE_LEVELS)  # derive levels among them
    macs = [int(r["macs"]) for r in rows]
    assert macs == sorted(macs, reverse=True)  # a higher level keeps a subset of the edges
    [at_04] = profile_levels(metagraph, [0.4])
    row = rows[PROFILE_LEVELS.index(0.4)]
    assert (int(row["macs"]), int(row["params"]), row["architecture_id"]) == (
        at_04.macs,
        at_04.params,
        at_04.architecture_id,
    )
    assert float(row["latency_ms"]) == pytest.approx(at_04.macs / 1e10 * 1e3)  # macs: 10 GMAC/s
    assert "| 0.40 |" in (run_dir / "level_profile.md").read_text()
    assert (run_dir / "level_profile.png").stat().st_size > 0
    summary = (run_dir / "summary.md").read_text()
    assert "3 iterations" in summary and "No probe accuracy" in summary
    records = read_jsonl(run_dir / "candidates.jsonl")
    assert all(r["corr_reward_accuracy"] is None for r in records)  # fewer than 10 so far
    final = {k: v.tolist() for k, v in per_dag_signals(metagraph).items()}
    assert records[-1]["convergence"] == final  # JSON keeps floats exact
    assert records[-1]["share_tried"] == pytest.approx(np.mean(final["share_tried"]))


def runner_warnings(caplog):
    return [r for r in caplog.records if r.name == "gramnas.search.runner"]


def test_a_search_without_tried_edges_skips_the_profile_and_warns_once_per_dag(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="gramnas.search.runner")
    run_search(tmp_path, "run", "search.iterations=0", *DETERMINISTIC)
    run_dir = tmp_path / "run"
    assert not (run_dir / "level_profile.csv").exists()
    assert "Not computed" in (run_dir / "summary.md").read_text()
    assert [r.message for r in runner_warnings(caplog)] == [
        "no derived architectures or level profile: the search tried no edge"
    ]
    caplog.clear()
    # Collapse every DAG onto edge (0, 1), then search two more batches: one warning per DAG.
    metagraph = MetaGraph.load(run_dir / "metagraph.json")
    metagraph.weights[:] = 1e-9
    metagraph.weights[:, 0] = 1.0
    metagraph.weights /= metagraph.weights.sum(axis=1, keepdims=True)
    metagraph.save(run_dir / "metagraph.json")
    run_search(
        tmp_path, "ignored", "search.iterations=2", f"search.resume={run_dir}", *DETERMINISTIC
    )
    collapsed = [r.message for r in runner_warnings(caplog) if "collapsed" in r.message]
    assert len(collapsed) == metagraph.space.num_dags
    assert all(f"DAG {k} collapsed" in m for k, m in enumerate(collapsed))


def without_seconds(path):
    return [{k: v for k, v in p.items() if k != "seconds"} for p in read_jsonl(path)]


def test_probes_every_n_and_a_resume_repeats_them_exactly(tmp_path, caplog):
    probing = ["search.probe_every=2", *DETERMINISTIC]
    with caplog.at_level("INFO"):
        straight = run_search(tmp_path, "straight", "search.iterations=4", "logger=csv", *probing)
    probe_lines = [m.split(":")[0] for m in caplog.messages if m.startswith("probe")]
    assert probe_lines == ["probe after iteration 2", "probe after iteration 4"]
    straight_dir = tmp_path / "straight"
    probes = read_jsonl(straight_dir / "probes.jsonl")
    assert [p["iteration"] for p in probes] == [2, 4]
    first = read_jsonl(straight_dir / "candidates.jsonl")[0]
    arch = probe_architecture(straight)  # the uniform start's first sample: candidate 0
    assert arch.id == first["architecture_id"]
    assert all(p["architecture_id"] == arch.id for p in probes)
    assert all(0 <= p["accuracy"] <= 1 and p["error"] is None for p in probes)
    assert probes[0]["latency_ms"] == pytest.approx(count_macs(arch) / 1e10 * 1e3)
    metrics = (straight_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"search/probe_accuracy", "search/dag0/tried_below_untried"} <= set(metrics)
    assert "trained 2 times" in (straight_dir / "summary.md").read_text()

    run_search(tmp_path, "split", "search.iterations=2", *probing)
    split_dir = tmp_path / "split"
    # A kill after iteration 2's checkpoint, before its probe; and a probe beyond the checkpoint
    # (as if metagraph.json were an older copy): the resume redoes the one and drops the other.
    with (split_dir / "probes.jsonl").open("w") as f:
        f.write(json.dumps({**probes[0], "iteration": 3, "accuracy": 9.9}) + "\n")
    resumed = run_search(
        tmp_path, "ignored", "search.iterations=4", f"search.resume={split_dir}", *probing
    )
    np.testing.assert_array_equal(resumed.weights, straight.weights)
    assert (split_dir / "metagraph.json").read_text() == (
        straight_dir / "metagraph.json"
    ).read_text()
    assert without_seconds(split_dir / "probes.jsonl") == without_seconds(
        straight_dir / "probes.jsonl"
    )
