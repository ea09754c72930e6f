"""Algorithm 1 (sample and update) and its unit-free variants, checked number by number and statistically."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gramnas import Architecture, Dag, GramError, MetaGraph, Node, SearchSpace
from gramnas.latency import LatencyResult
from gramnas.metagraph import edge_endpoints, edge_ids, reachable_edges
from gramnas.search.advantage import NormalizedAdvantage
from gramnas.search.candidate import Candidate, CandidateResult
from gramnas.search.reward import (
    AbsoluteReward,
    CandidateMetrics,
    PenalizedAccuracy,
    SoftConstraint,
)
from gramnas.search.update import MetaGraphUpdate

OPS = ["input", "conv1x1_32", "conv3x3_32", "conv1x1_64"]


def four_node_metagraph(weights: list[float]) -> MetaGraph:
    space = SearchSpace(hierarchies=1, dags_per_hierarchy=1, nodes=4, input_size=8)
    return MetaGraph(space=space, ops=[list(OPS)], weights=np.array([weights]), alpha=0.9, beta=0.4)


def chain_0_1_3() -> Architecture:
    dag = Dag(0, 0, (Node(1, "conv1x1_32", 32), Node(3, "conv1x1_64", 64)), ((0, 1), (1, 3)))
    return Architecture((3, 8, 8), 10, (dag,))


def test_edge_order_is_lexicographic():
    src, dst = edge_endpoints(4)
    assert list(zip(src.tolist(), dst.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
        (2, 3),
    ]
    assert edge_ids(4, src, dst).tolist() == list(range(6))


def test_update_rule_by_hand_uniform_start():
    metagraph = four_node_metagraph([1 / 6] * 6)
    metagraph.update(chain_0_1_3(), reward=0.7)
    # factor = exp(0.9 * (0.7 - 0.4)) = exp(0.27) = 1.3099644507332473
    # edges (0,1) and (1,3) get 1.30996.../6, the other four 1/6; the sum is (4 + 2 * 1.30996...)/6
    boosted = 1.3099644507332473 / 6.6199289014664946
    plain = 1.0 / 6.6199289014664946
    np.testing.assert_allclose(
        metagraph.weights[0], [boosted, plain, plain, plain, boosted, plain], rtol=1e-12
    )
    assert metagraph.weights[0, 0] == pytest.approx(0.19788195, abs=1e-8)
    assert metagraph.beta == pytest.approx(0.9 * 0.4 + 0.1 * 0.7)  # 0.43
    assert metagraph.iteration == 1


def test_update_rule_by_hand_penalised_reward():
    metagraph = four_node_metagraph([0.1, 0.2, 0.3, 0.1, 0.2, 0.1])
    metagraph.update(chain_0_1_3(), reward=0.1)  # below beta: the sampled edges shrink
    factor = math.exp(0.9 * (0.1 - 0.4))  # 0.7633794943368531
    assert factor == pytest.approx(0.76337949, abs=1e-8)
    z = 0.1 * factor + 0.2 + 0.3 + 0.1 + 0.2 * factor + 0.1
    expected = np.array([0.1 * factor, 0.2, 0.3, 0.1, 0.2 * factor, 0.1]) / z
    np.testing.assert_allclose(metagraph.weights[0], expected, rtol=1e-12)
    assert metagraph.weights[0].sum() == pytest.approx(1.0)
    assert metagraph.beta == pytest.approx(0.37)


def test_update_refuses_foreign_architecture(trained_metagraph):
    with pytest.raises(GramError, match="not sampled from this meta-graph"):
        trained_metagraph.update(chain_0_1_3(), 0.5)
    with pytest.raises(GramError, match="reward"):
        four_node_metagraph([1 / 6] * 6).update(chain_0_1_3(), float("nan"))


def test_only_edges_with_both_ends_active_count():
    chosen = np.zeros((1, 6), dtype=bool)
    chosen[0, [0, 5]] = True  # (0,1) reachable; (2,3) starts at inactive node 2
    kept = reachable_edges(chosen, 4)
    assert kept[0].tolist() == [True, False, False, False, False, False]


def test_sampling_frequencies_match_inclusion_probabilities(trained_metagraph):
    metagraph = trained_metagraph
    pi = metagraph.inclusion_probabilities()
    rng = np.random.default_rng(42)
    draws = 4000
    counts = sum(metagraph.draw_edges(rng).astype(np.int64) for _ in range(draws))
    # Binomial standard error; 5 sigma leaves a false-alarm rate far below 1e-4 over all edges.
    sigma = np.sqrt(pi * (1 - pi) / draws)
    assert np.all(np.abs(counts / draws - pi) <= 5 * sigma + 1e-12)
    # Edges out of node 0 are always reachable, so sampled architectures show them at rate pi too.
    src, _ = edge_endpoints(metagraph.space.nodes)
    from_input = np.flatnonzero(src == 0)
    seen = np.zeros_like(pi)
    for _ in range(2000):
        for dag in metagraph.sample(rng).dags:
            k = dag.hierarchy * metagraph.space.dags_per_hierarchy + dag.index
            for i, j in dag.edges:
                seen[k, edge_ids(metagraph.space.nodes, i, j)] += 1
    freq, p = seen[:, from_input] / 2000, pi[:, from_input]
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / 2000) + 1e-12)


def test_same_seed_same_samples(trained_metagraph):
    a = [trained_metagraph.sample(np.random.default_rng(7)).id for _ in range(3)]
    b = [trained_metagraph.sample(np.random.default_rng(7)).id for _ in range(3)]
    assert a == b
    other = trained_metagraph.sample(np.random.default_rng(8)).id
    assert other != a[0]


def test_create_is_seeded_and_normalised(tiny_space):
    a, b = MetaGraph.create(tiny_space, seed=5), MetaGraph.create(tiny_space, seed=5)
    assert a.ops == b.ops
    assert MetaGraph.create(tiny_space, seed=6).ops != a.ops
    np.testing.assert_allclose(a.weights.sum(axis=1), 1.0)
    assert a.weights.shape == (tiny_space.num_dags, tiny_space.num_edges)


def test_macs_budget_redraws_and_never_loops(trained_metagraph):
    from gramnas import count_macs

    rng = np.random.default_rng(0)
    unconstrained = [count_macs(trained_metagraph.sample(rng)) for _ in range(20)]
    budget = int(np.median(unconstrained))
    fitted = [count_macs(trained_metagraph.sample(rng, max_macs=budget)) for _ in range(20)]
    assert max(fitted) <= budget
    # An impossible budget returns the smallest draw instead of looping.
    arch = trained_metagraph.sample(rng, max_macs=1, max_redraws=5)
    assert count_macs(arch) > 1


def test_convergence_signals(trained_metagraph):
    signals = trained_metagraph.convergence()
    k = trained_metagraph.space.num_dags
    assert all(len(v) == k for v in signals.values())
    assert np.all(signals["effective_edges"] <= trained_metagraph.space.num_edges + 1e-9)
    uniform = MetaGraph.create(trained_metagraph.space)
    np.testing.assert_allclose(uniform.convergence()["effective_edges"], uniform.space.num_edges)


# --- the unit-free variants: rewards around a target, normalised advantage, evidence ----------


def test_reinforce_by_hand_records_the_evidence():
    metagraph = four_node_metagraph([1 / 6] * 6)
    metagraph.reinforce(chain_0_1_3(), advantage=2.0)
    factor = math.exp(0.9 * 2.0)  # 6.0496474644129465
    z = 4 + 2 * factor
    np.testing.assert_allclose(
        metagraph.weights[0], np.array([factor, 1, 1, 1, factor, 1]) / z, rtol=1e-12
    )
    assert metagraph.beta == 0.4  # only the paper's rule moves beta
    assert metagraph.tried[0].tolist() == [1, 0, 0, 0, 1, 0]
    assert metagraph.advantage_sum[0].tolist() == [2.0, 0, 0, 0, 2.0, 0]
    metagraph.update(chain_0_1_3(), reward=0.3)  # the paper's rule records reward - beta
    np.testing.assert_allclose(metagraph.advantage_sum[0], [1.9, 0, 0, 0, 1.9, 0])
    assert metagraph.tried[0].tolist() == [2, 0, 0, 0, 2, 0]


def test_evidence_and_update_state_survive_a_round_trip(tmp_path, trained_metagraph):
    trained_metagraph.update_state = {"advantage": {"count": 3, "mean": 0.25, "var": 0.01}}
    loaded = MetaGraph.load(trained_metagraph.save(tmp_path / "m.json"))
    np.testing.assert_array_equal(loaded.tried, trained_metagraph.tried)
    np.testing.assert_array_equal(loaded.advantage_sum, trained_metagraph.advantage_sum)
    assert loaded.update_state == trained_metagraph.update_state
    assert loaded.tried.sum() > 0


def test_format_1_files_load_without_evidence(tmp_path, trained_metagraph):
    data = trained_metagraph.to_dict()
    data["version"] = 1
    for dag in data["dags"]:
        del dag["tried"], dag["advantage_sum"]
    del data["update_state"]
    (tmp_path / "v1.json").write_text(json.dumps(data))
    loaded = MetaGraph.load(tmp_path / "v1.json")
    np.testing.assert_array_equal(loaded.weights, trained_metagraph.weights)
    assert loaded.tried.sum() == 0 and loaded.update_state == {}


def metrics(accuracy=0.5, latency_ms=1.0, macs=4_000_000, params=1000):
    return CandidateMetrics(accuracy, latency_ms, macs, params)


def test_soft_constraint_by_hand():
    reward = SoftConstraint(metric="macs", target=2e6, exponent=-0.07)
    # 0.5 * 2 ** -0.07 = 0.5 * exp(-0.07 ln 2) = 0.5 * 0.952637998...
    assert reward(metrics(macs=4_000_000)) == pytest.approx(0.476318999, abs=1e-9)
    assert reward(metrics(macs=2_000_000)) == pytest.approx(0.5)


def test_absolute_reward_by_hand_penalises_both_sides():
    reward = AbsoluteReward(metric="latency_ms", target=10.0, penalty=-0.1)
    assert reward(metrics(0.4, latency_ms=15.0)) == pytest.approx(0.35)
    assert reward(metrics(0.4, latency_ms=5.0)) == pytest.approx(0.35)


def test_target_is_calibrated_on_the_first_candidates_and_restored():
    reward = SoftConstraint(metric="latency_ms", calibration=3, exponent=-1.0)
    # T: median of the costs seen so far, fixed after 3 candidates: 4, 3, 4, 4
    results = [reward(metrics(1.0, latency_ms=ms)) for ms in (4.0, 2.0, 8.0, 1.0)]
    assert results == pytest.approx([1.0, 3 / 2, 4 / 8, 4 / 1])
    restored = SoftConstraint(metric="latency_ms", calibration=3, exponent=-1.0)
    restored.load_state_dict(reward.state_dict())
    assert restored(metrics(1.0, latency_ms=2.0)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: SoftConstraint(exponent=0.1), "reward.exponent"),
        (lambda: AbsoluteReward(penalty=0.5), "reward.penalty"),
        (lambda: SoftConstraint(metric="flops"), "reward.metric"),
        (lambda: SoftConstraint(target=-1.0), "reward.target"),
        (lambda: SoftConstraint(target=float("nan")), "reward.target"),
        (lambda: PenalizedAccuracy(gamma=float("inf")), "reward.gamma"),
        (lambda: NormalizedAdvantage(momentum=0), "advantage.momentum"),
        (lambda: NormalizedAdvantage(warmup=1), "advantage.warmup"),
        (lambda: NormalizedAdvantage(clip=-1), "advantage.clip"),
    ],
)
def test_bad_reward_and_advantage_fields_are_named(make, field):
    with pytest.raises(GramError, match=field):
        make()


def test_normalized_advantage_by_hand():
    metagraph = four_node_metagraph([1 / 6] * 6)
    advantage = NormalizedAdvantage(momentum=0.5, warmup=2, clip=3.0)
    # warm-up: rewards 1 and 3 set mean 2 and variance 1, the weights stay uniform
    assert advantage.apply(metagraph, chain_0_1_3(), 1.0) == 0.0
    assert advantage.apply(metagraph, chain_0_1_3(), 3.0) == 0.0
    np.testing.assert_allclose(metagraph.weights[0], 1 / 6)
    assert (advantage.mean, advantage.var, metagraph.iteration) == (2.0, 1.0, 2)
    # then A = (4 - 2) / 1 = 2; moments move after: var 0.5*1 + 0.5*(4-2)^2 = 2.5, mean 3
    assert advantage.apply(metagraph, chain_0_1_3(), 4.0) == pytest.approx(2.0)
    factor = math.exp(0.9 * 2.0)
    assert metagraph.weights[0, 0] == pytest.approx(factor / (4 + 2 * factor))
    assert (advantage.mean, advantage.var) == pytest.approx((3.0, 2.5))
    assert advantage.apply(metagraph, chain_0_1_3(), 100.0) == 3.0  # clipped
    assert metagraph.tried[0, 0] == 2 and metagraph.advantage_sum[0, 0] == pytest.approx(5.0)


def test_the_update_callback_owns_update_skip_and_state():
    metagraph = four_node_metagraph([1 / 6] * 6)
    update = MetaGraphUpdate(
        metagraph,
        SoftConstraint(metric="macs", calibration=2),
        NormalizedAdvantage(momentum=0.5, warmup=2),
    )
    latency = LatencyResult(1.0, None, 1, "macs", "analytic", "-")
    scored = CandidateResult(Candidate(0, chain_0_1_3(), seed=0), 0.5, latency)
    update.on_candidate_end(scored)
    assert (scored.reward, scored.advantage) == (0.5, 0.0)  # at the target; warming up
    assert scored.status == "ok" and scored.beta == metagraph.beta
    skipped = CandidateResult(Candidate(1, chain_0_1_3(), seed=1), error="NonFiniteLoss")
    update.on_candidate_skipped(skipped)
    assert skipped.status == "skipped" and skipped.to_record()["reward"] is None
    assert metagraph.iteration == 2
    assert metagraph.update_state["reward"]["costs_seen"] == [float(scored.metrics.macs)]
    assert metagraph.update_state["advantage"] == {"count": 1, "mean": 0.5, "var": 0.0}
    # a new callback on the same meta-graph (a resume) continues from that state
    resumed = MetaGraphUpdate(
        metagraph, SoftConstraint(metric="macs", calibration=2), NormalizedAdvantage(warmup=2)
    )
    assert resumed.advantage.count == 1 and resumed.reward.costs_seen == [scored.metrics.macs]
