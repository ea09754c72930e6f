"""The zero-cost proxy: a candidate scored by synflow at initialisation, in milliseconds, untrained.

synflow (Tanaka et al. 2020) is log sum(theta * dR/dtheta) over the conv and
linear weights of the network whose parameters are replaced by their absolute
values, R being the sum of its outputs on an all-ones input (float64,
BatchNorm in eval mode). It needs no data. Against 30-epoch training it ranks
CIFAR-10 SwiftNets about as well as any proxy measured (docs/search.md, "Choosing
the proxy"), mostly through depth and width.

The search's reward multiplies an accuracy by a MACs term, so a raw synflow
(a log, tens to hundreds) cannot enter it. The proxy reports instead the
score's percentile among ``reference_size`` networks that the meta-graph draws
at the search's start (its sampler and MACs cap, uniform edge weights, seeded
by the search): a number in [0, 1] that ranks candidates exactly as synflow
does and that a resumed search recomputes identically.

synflow grows with size, so a search rewarded by it learns that more edges
pay (docs/search.md, "Deriving within a budget"). With ``at_equal_macs`` the
percentile is of the score's residual after a least-squares line of synflow
on log MACs through the reference draws: it ranks a candidate against
networks of its own size, and size is left to the reward's MACs term and to
the budget that derives the SwiftNet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from gramnas.architecture import Architecture
from gramnas.counting import count_macs
from gramnas.errors import field_error, require_int
from gramnas.metagraph import MetaGraph
from gramnas.model import build_model
from gramnas.training.proxy import Proxy, ProxyRun

# The third word of a reference draw's seed: search iterations use (seed, t), probes (seed, t, 1),
# the supernet's training steps (seed, t, 2).
REFERENCE_STREAM = 3
INIT_SEED = 0  # synflow's weights: a score is a function of the architecture alone


def synflow(arch: Architecture) -> float:
    """log sum(theta * dR/dtheta), R = sum of outputs of the |parameter| network on an all-ones input."""
    torch.manual_seed(INIT_SEED)
    model = build_model(arch).double().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.abs_()
    model(torch.ones(1, *arch.input_shape, dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        score = sum(
            (m.weight * m.weight.grad).sum()
            for m in model.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))
        )
    return math.log(float(score))


@dataclass
class SynflowRecipe:
    """How many reference networks the percentile is taken over, and whether at equal MACs (``conf/proxy/synflow.yaml``)."""

    reference_size: int
    at_equal_macs: bool = False

    def __post_init__(self) -> None:
        require_int("proxy.reference_size", self.reference_size, 1)
        if not isinstance(self.at_equal_macs, bool):
            raise field_error(
                "proxy.at_equal_macs", f"must be true or false, got {self.at_equal_macs!r}"
            )
        if self.at_equal_macs:
            require_int("proxy.reference_size", self.reference_size, 3)


class SynflowProxy(Proxy):
    """Scores a candidate by its synflow's percentile among the meta-graph's reference draws.

    Nothing is trained, so neither ``seed`` nor the candidate's ``callbacks``
    (which see Trainer stages) take part: a probe scores the same every time.
    """

    def __init__(
        self, metagraph: MetaGraph, recipe: SynflowRecipe, max_macs: int | None, max_redraws: int
    ) -> None:
        super().__init__({}, epochs=1)
        uniform = np.full_like(metagraph.weights, 1.0 / metagraph.space.num_edges)
        self.metagraph = replace(
            metagraph, weights=uniform, tried=None, advantage_sum=None, update_state={}, iteration=0
        )
        self.recipe, self.max_macs, self.max_redraws = recipe, max_macs, max_redraws
        self.reference: np.ndarray | None = None  # sorted scores (residuals at equal MACs)
        self.line = (0.0, 0.0)  # synflow = intercept + slope * ln MACs, at equal MACs

    def prepare(self) -> None:
        """Score the reference draws (about 0.1 s each on one core at CIFAR-10 size)."""
        if self.reference is None:
            seed = self.metagraph.seed
            draws = (
                self.metagraph.sample(
                    np.random.default_rng([seed, i, REFERENCE_STREAM]),
                    self.max_macs,
                    self.max_redraws,
                )
                for i in range(self.recipe.reference_size)
            )
            archs = list(draws)
            scores = np.array([synflow(arch) for arch in archs])
            if self.recipe.at_equal_macs:
                log_macs = np.log([count_macs(arch) for arch in archs])
                slope, intercept = np.polyfit(log_macs, scores, 1)
                self.line = (float(intercept), float(slope))
                scores = scores - intercept - slope * log_macs
            self.reference = np.sort(scores)

    def score(self, arch: Architecture) -> float:
        """synflow, less the reference line's value at the network's MACs when at equal MACs."""
        score = synflow(arch)
        if self.recipe.at_equal_macs:
            intercept, slope = self.line
            score -= intercept + slope * math.log(count_macs(arch))
        return score

    def check_trainer(self) -> None:
        """No Trainer runs: nothing to check."""

    def train(self, arch: Architecture, seed: int, callbacks: Sequence[Callback] = ()) -> ProxyRun:
        self.prepare()  # a worker process scores its reference once
        assert self.reference is not None
        start = time.perf_counter()
        score = self.score(arch)
        below = np.searchsorted(self.reference, score, side="left")
        not_above = np.searchsorted(self.reference, score, side="right")
        percentile = (below + not_above) / (2 * len(self.reference))  # ties count half
        return ProxyRun(
            accuracy=float(percentile), timings={"synflow": time.perf_counter() - start}
        )
