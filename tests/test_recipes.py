"""The recipes' learning-rate schedules, epoch by epoch, against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import ROOT
from gramnas.training.recipes import multistep_at_fractions, warmup_cosine


def learning_rates(make_scheduler, epochs: int, lr: float = 0.1) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(optimizer, epochs)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_paper_cifar_schedule_decays_at_half_and_three_quarters():
    assert learning_rates(multistep_at_fractions, 8) == pytest.approx(
        [0.1] * 4 + [0.01] * 2 + [0.001] * 2
    )


def test_warmup_cosine_rises_linearly_then_anneals():
    # 2 warm-up epochs at 1/3 and 2/3 of the rate, then 0.5 (1 + cos(pi k / 4)) for k = 0..3
    expected = [0.1 / 3, 0.2 / 3] + [0.05 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert learning_rates(warmup_cosine, 6) == pytest.approx(expected)
    assert learning_rates(warmup_cosine, 1) == pytest.approx([0.1])  # too short to warm up


@pytest.mark.parametrize(
    "path", sorted((ROOT / "conf" / "recipe").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_recipe_config_builds_its_optimizer_and_schedule(path):
    recipe = OmegaConf.load(path)
    optimizer = instantiate(recipe.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    scheduler = instantiate(recipe.scheduler)(optimizer, 10)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
