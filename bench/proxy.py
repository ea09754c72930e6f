"""Rank fidelity of search proxies: how well cheap evaluations order architectures as longer training does.

Architectures are drawn from the paper space (3x32x32, 10 classes) with uniform
meta-graphs (densities 0.01-0.03, fresh seed and node operations per draw),
one per log-spaced MACs bin between ``--min-mmacs`` and ``--max-mmacs``
(default 1-40 MMAC; bigger draws are rejected so the run stays affordable).

Ground truth ("longer training"): a plain PyTorch loop (channels_last) on
10,000 CIFAR-10 training images for ``--gt-epochs`` epochs, batch 128, SGD
momentum 0.9 (not cycled), one-cycle lr (max 0.1), weight decay 5e-4, random
flips and 4-pixel pad-crops done as batched tensor ops (zero padding in
normalised space, i.e. the mean colour); accuracy on 2,000 other training
images. The test split is never read.

Proxies, on 500 further training images for validation and up to 2,000 for
training, all disjoint from the ground-truth images:

* ``ProxyTrainer`` settings (the search's own training path, channels_last):
  the paper's (``+experiment=cifar10_paper``: 500 images, 5 epochs, batch 64, lr 0.01,
  two seeds, also averaged), ``conf/proxy`` default (500 images, 3 epochs,
  lr 0.05), 1,000 images x 3 epochs and 2,000 images x 2 epochs at lr 0.05;
* zero-cost scores at initialisation: NASWOT (Mellor et al. 2021: log|det K|
  of the Hamming kernel of the binary codes sign(pre-activation) of every ELU,
  BatchNorm on batch statistics, one batch of 128 proxy training images),
  synflow (Tanaka et al. 2020: log of sum(theta * dR/dtheta) over conv and
  linear weights, |parameters|, BatchNorm in eval mode, an all-ones input,
  float64), and the baselines log MACs and log parameters.

Fidelity = Spearman (and Kendall) rank correlation with the ground truth, with
a 95% bootstrap interval over architectures; "rho per second" = Spearman
divided by the proxy's seconds per architecture. Results are appended per
architecture to ``<out>/results.csv`` (a stopped run resumes where it left
off; the configuration must match ``<out>/config.json``), the architectures
go to ``<out>/architectures.jsonl`` and the table to ``<out>/table.md``
(rewritten after every architecture).

Run: .venv/bin/python bench/proxy.py [--archs 24] [--gt-epochs 3] [--threads 1]
     [--out outputs/proxy_fidelity]; ``--smoke`` shrinks every image count and
     epoch count to check the pipeline in a minute.

``--truth assets/ground_truth`` scores the proxies against the 30-epoch ground truth
(bench/ground_truth.py) instead; nothing is sampled and no ground truth is trained. The
architectures are the manifest's finished networks (``<truth>/<name>/metrics.json``); the
reference is ``val_top1``, the top-1 on the 5,000 training images that full training holds
out (``conf/train.yaml`` ``data.val_fraction`` 0.1 of the 50,000, chosen by
``ImageDataModule.validation_split``: ``torch.randperm`` seeded by the data module's
``seed``, 0). Every proxy image, training and validation, is drawn (seeded by ``--seed``)
from the other 45,000 only, so no proxy sees a reference image; the test top-1 is only
reported (its Spearman with val_top1 is the sanity line). Proxies: the paper's (two seeds
and their mean), the conf/proxy default, 2,000 and 5,000 images x 5 epochs at lr 0.05 (as
the larger settings above), NASWOT, synflow, log MACs and log params
(``TRUTH_SETTINGS``, ``proxy_scorers``: one entry per proxy, so more are easy to add).
Networks without an ``architecture`` (the MobileNetV2 entries) are skipped: ProxyTrainer and
the zero-cost scores build SwiftNets from Architectures. Per proxy: Spearman and Kendall with
95% bootstrap intervals, the partial Spearman at equal MACs, Kendall within the top half of
the reference, seconds per network. Output: ``assets/proxy_fidelity/thirty_epochs/``
(``results.csv`` one row per network, ``config.json``, ``table.md`` rewritten after every
network); running the same command again scores only the networks finished since.

     .venv/bin/python bench/proxy.py --truth assets/ground_truth [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf
from scipy import stats
from torch import nn

from gramnas import Architecture, MetaGraph, build_model, count_macs, count_params, preset_space
from gramnas.training.data import ImageFolderDataModule, ProxyData
from gramnas.training.proxy import ProxyRecipe, ProxyTrainer
from gramnas.training.tensor_fit import TensorRecipe, train_and_evaluate
from gramnas.training.zero_cost import synflow

ROOT = Path(__file__).resolve().parents[1]

DENSITIES = (0.01, 0.015, 0.02, 0.03)
GT_BATCH, GT_MAX_LR = 128, 0.1
NASWOT_BATCH = 128
PROXY_VAL = 500
BOOTSTRAP = 1000


@dataclass(frozen=True)
class Setting:
    """One ProxyTrainer configuration: training images, epochs, learning rate, seed."""

    key: str
    label: str
    images: int
    epochs: int
    lr: float
    seed: int = 0


SETTINGS = (
    Setting("paper_s0", "paper: 500 img x 5 ep, lr 0.01, seed 0", 500, 5, 0.01, 0),
    Setting("paper_s1", "paper: 500 img x 5 ep, lr 0.01, seed 1", 500, 5, 0.01, 1),
    Setting("p500x3", "500 img x 3 ep, lr 0.05 (conf/proxy default)", 500, 3, 0.05),
    Setting("p1000x3", "1,000 img x 3 ep, lr 0.05", 1000, 3, 0.05),
    Setting("p2000x2", "2,000 img x 2 ep, lr 0.05", 2000, 2, 0.05),
)
TRUTH_SETTINGS = (
    *(s for s in SETTINGS if s.key in ("paper_s0", "paper_s1", "p500x3")),
    Setting("p2000x5", "2,000 img x 5 ep, lr 0.05", 2000, 5, 0.05),
    Setting("p5000x5", "5,000 img x 5 ep, lr 0.05", 5000, 5, 0.05),
)
ZERO_COST = {
    "naswot": "NASWOT (init, 1 batch)",
    "synflow": "synflow (init, log)",
    "log_macs": "log MACs",
    "log_params": "log params",
}


# --- architectures ---------------------------------------------------------------------------


def sample_architectures(
    count: int, min_mmacs: float, max_mmacs: float, seed: int
) -> list[Architecture]:
    """One architecture per log-spaced MACs bin, bins visited in a shuffled order.

    The shuffle makes any prefix of the list (a stopped run) span the MACs range.
    """
    space = preset_space("paper")
    edges = np.geomspace(min_mmacs * 1e6, max_mmacs * 1e6, count + 1)
    order = np.random.default_rng(seed).permutation(count)
    archs, draw = [], 0
    for b in order:
        while True:
            metagraph = MetaGraph.create(
                space, seed=seed * 1_000_003 + draw, density=DENSITIES[draw % len(DENSITIES)]
            )
            arch = metagraph.sample(np.random.default_rng([seed, draw]))
            draw += 1
            if edges[b] <= count_macs(arch) <= edges[b + 1]:
                archs.append(arch)
                break
    return archs


# --- ground truth ----------------------------------------------------------------------------


def ground_truth(arch: Architecture, data: ProxyData, epochs: int, seed: int) -> float:
    """Longer training with the plain tensor loop; returns accuracy on ``data.val_x``."""
    recipe = TensorRecipe(epochs=epochs, batch_size=GT_BATCH, max_lr=GT_MAX_LR)
    return train_and_evaluate(
        arch, (data.train_x, data.train_y), (data.val_x, data.val_y), recipe, seed
    )


# --- zero-cost scores ------------------------------------------------------------------------


def naswot(arch: Architecture, x: torch.Tensor, seed: int) -> float:
    """log|det K|, K[i, j] = number of ELUs on which images i and j have the same sign pattern."""
    torch.manual_seed(seed)
    model = build_model(arch).train()  # BatchNorm on batch statistics, as at the first step
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64)

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        code = (inputs[0] > 0).flatten(1).float()  # before the in-place ELU overwrites it
        kernel.add_((code @ code.T + (1 - code) @ (1 - code).T).double())

    for module in model.modules():
        if isinstance(module, nn.ELU):
            module.register_forward_pre_hook(record)
    with torch.no_grad():
        model(x)
    return float(torch.linalg.slogdet(kernel).logabsdet)


def timed(fn: Callable[[], float]) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


# --- one architecture ------------------------------------------------------------------------


def make_trainers(
    settings: tuple[Setting, ...], pool: ProxyData
) -> dict[str, tuple[Setting, ProxyTrainer]]:
    """One ProxyTrainer per setting: the first ``images`` of the pool's training images, its validation images."""
    px, py, vx, vy = pool.train_x, pool.train_y, pool.val_x, pool.val_y
    return {
        s.key: (
            s,
            ProxyTrainer(
                ProxyData(px[: s.images], py[: s.images], vx, vy, pool.num_classes),
                ProxyRecipe(
                    epochs=s.epochs,
                    batch_size=64,
                    optimizer=partial(torch.optim.SGD, lr=s.lr, momentum=0.9, weight_decay=5e-4),
                    channels_last=True,
                    train_size=s.images,
                    val_size=len(vy),
                ),
            ),
        )
        for s in settings
    }


def proxy_scorers(
    trainers: dict[str, tuple[Setting, ProxyTrainer]], naswot_batch: torch.Tensor
) -> dict[str, Callable[[Architecture], float]]:
    """Every proxy as key -> score(architecture), in the order they run; add a proxy here."""
    scorers: dict[str, Callable[[Architecture], float]] = {
        key: lambda arch, t=trainer, s=setting: t.train(arch, s.seed).accuracy
        for key, (setting, trainer) in trainers.items()
    }
    return scorers | {
        "naswot": lambda arch: naswot(arch, naswot_batch, 0),
        "synflow": synflow,
        "log_macs": lambda arch: math.log(count_macs(arch)),
        "log_params": lambda arch: math.log(count_params(arch)),
    }


def score(
    arch: Architecture, scorers: dict[str, Callable[[Architecture], float]]
) -> dict[str, float]:
    """Every proxy's score of one architecture: ``<key>`` is the score, ``<key>_s`` its seconds."""
    row: dict[str, float] = {}
    for key, scorer in scorers.items():
        row[key], row[f"{key}_s"] = timed(partial(scorer, arch))
    return row


def evaluate(
    arch: Architecture,
    gt_data: ProxyData,
    trainers: dict[str, tuple[Setting, ProxyTrainer]],
    naswot_batch: torch.Tensor,
    gt_epochs: int,
) -> dict[str, float]:
    """Every measurement of one architecture: ``<key>`` is the score, ``<key>_s`` its seconds."""
    row: dict[str, float] = {}
    row["gt"], row["gt_s"] = timed(partial(ground_truth, arch, gt_data, gt_epochs, 0))
    return row | score(arch, proxy_scorers(trainers, naswot_batch))


# --- report ----------------------------------------------------------------------------------


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def kendall(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.kendalltau(a, b).statistic)


def bootstrap_spearman(
    a: np.ndarray,
    b: np.ndarray,
    seed: int = 0,
    statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
) -> tuple[float, float]:
    """95% interval of ``statistic`` (Spearman unless told) over resampled architectures."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(len(a), size=len(a))
        if np.ptp(a[idx]) > 0 and np.ptp(b[idx]) > 0:
            samples.append(statistic(a[idx], b[idx]))
    if not samples:  # a constant score: no rank correlation to bound
        return math.nan, math.nan
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def partial_spearman(a: np.ndarray, b: np.ndarray, control: np.ndarray) -> float:
    """Spearman of a and b with the control's rank regressed out of both: ranking at equal size."""
    rc = stats.rankdata(control)

    def residual(x: np.ndarray) -> np.ndarray:
        rx = stats.rankdata(x)
        return rx - np.polyval(np.polyfit(rc, rx, 1), rc)

    return float(stats.pearsonr(residual(a), residual(b)).statistic)


def top_half_kendall(score: np.ndarray, truth: np.ndarray) -> float:
    """Kendall within the best half of the ground truth (ceil(n/2) networks): ordering the good ones."""
    top = np.argsort(-truth, kind="stable")[: math.ceil(len(truth) / 2)]
    return kendall(score[top], truth[top])


def add_paper_mean(col: dict[str, np.ndarray]) -> None:
    col["paper_mean"] = (col["paper_s0"] + col["paper_s1"]) / 2
    col["paper_mean_s"] = col["paper_s0_s"] + col["paper_s1_s"]


def proxy_labels(settings: tuple[Setting, ...]) -> dict[str, str]:
    """Table label of every proxy key, in table order (the paper's mean after the settings)."""
    return (
        {s.key: s.label for s in settings}
        | {"paper_mean": "paper: mean of seeds 0 and 1"}
        | ZERO_COST
    )


def report(rows: list[dict[str, str]], header: str) -> str:
    """The markdown table of every proxy's fidelity against the ground truth."""
    col = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k not in ("arch_id",)}
    gt, macs = col["gt"], col["macs"]
    add_paper_mean(col)
    labels = proxy_labels(SETTINGS)
    lines = [
        header,
        "",
        "| proxy | Spearman | 95% CI | Kendall | at equal MACs | Spearman vs MACs"
        " | score range | s/arch | rho per s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in labels.items():
        score, seconds = col[key], float(np.mean(col[f"{key}_s"]))
        rho, tau = stats.spearmanr(score, gt).statistic, stats.kendalltau(score, gt).statistic
        low, high = bootstrap_spearman(score, gt)
        lines.append(
            f"| {label} | {rho:.2f} | {low:.2f} to {high:.2f} | {tau:.2f}"
            f" | {partial_spearman(score, gt, macs):.2f}"
            f" | {stats.spearmanr(score, macs).statistic:.2f}"
            f" | {score.min():.3g} to {score.max():.3g} | {seconds:.3g} | {rho / seconds:.3g} |"
        )
    s0, s1 = col["paper_s0"], col["paper_s1"]
    lines += [
        "",
        f"Paper proxy, seed 0 vs seed 1: Spearman {stats.spearmanr(s0, s1).statistic:.2f},"
        f" Kendall {stats.kendalltau(s0, s1).statistic:.2f}.",
        f"Ground truth: accuracy {gt.min():.1%} to {gt.max():.1%},"
        f" {np.mean(col['gt_s']):.0f} s per architecture;"
        f" MACs {macs.min() / 1e6:.1f} to {macs.max() / 1e6:.1f} M.",
        f"Measured time, summed over architectures: {col['wall_s'].sum() / 60:.1f} min.",
        "at equal MACs = partial Spearman, the rank of MACs regressed out of both rankings:"
        " how well a proxy orders networks of the same size, which is what a search with a MACs"
        " term in its reward needs from it.",
        "rho per s = Spearman vs ground truth / seconds per architecture.",
    ]
    return "\n".join(lines)


# --- against the 30-epoch ground truth (--truth) ---------------------------------------------

TRUTH_ONLY = ("threads", "out", "truth", "limit")  # not in the sampled mode's config.json
TRUTH_FIELDS = ["name", "arch_id", "depth", "macs", "params", "val_top1", "top1", "load1", "wall_s"]


@dataclass(frozen=True)
class Network:
    """A finished network of the ground truth: its architecture, val top-1 (the reference), test top-1."""

    name: str
    arch: Architecture
    val_top1: float
    top1: float


@dataclass
class Manifest:
    scorable: list[Network]
    skipped: list[str]  # finished, but no Architecture (the MobileNetV2 entries)
    unfinished: list[str]
    finished: dict[str, tuple[float, float]]  # every finished network's (val top-1, test top-1)


def read_manifest(truth: Path) -> Manifest:
    """The manifest's networks (``<truth>/networks.yaml``), finished ones with their top-1s, in its order."""
    networks = yaml.safe_load((truth / "networks.yaml").read_text())["networks"]
    manifest = Manifest([], [], [], {})
    for name, spec in networks.items():
        metrics_path = truth / name / "metrics.json"
        if not metrics_path.is_file():
            manifest.unfinished.append(name)
            continue
        metrics = json.loads(metrics_path.read_text())
        manifest.finished[name] = (float(metrics["val_top1"]), float(metrics["top1"]))
        if "architecture" not in spec:
            manifest.skipped.append(name)
            continue
        arch = Architecture.load(ROOT / spec["architecture"])
        manifest.scorable.append(Network(name, arch, *manifest.finished[name]))
    return manifest


def truth_datamodule(root: str) -> ImageFolderDataModule:
    """The CIFAR-10 copy with the ``data`` settings of ``conf/train.yaml`` (val_fraction 0.1, seed 0).

    They are what the ground-truth runs trained with: the same held-out images.
    """
    data = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "train.yaml").data)
    return ImageFolderDataModule(root=root, input_size=32, in_channels=3, **data)  # type: ignore[arg-type]


def training_part_pool(
    datamodule: ImageFolderDataModule, train_size: int, val_size: int, seed: int
) -> ProxyData:
    """Seeded, disjoint proxy sets from the 45,000 images full training trains on: the 5,000 it
    holds out (``validation_split``, the reference's images) are never drawn."""
    return datamodule.proxy_data(train_size, val_size, seed, outside_validation=True)


def fidelity_table(col: dict[str, np.ndarray], labels: dict[str, str]) -> list[str]:
    """Each labelled proxy's fidelity to ``col["val_top1"]``: rank correlations with bootstrap
    intervals, at equal MACs (``col["macs"]``), within the top half, and seconds per network."""
    truth, macs = col["val_top1"], col["macs"]
    lines = [
        "| proxy | Spearman | 95% CI | Kendall | 95% CI | at equal MACs | Kendall, top half"
        " | Spearman vs MACs | s/network |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in labels.items():
        x = col[key]
        rho_low, rho_high = bootstrap_spearman(x, truth)
        tau_low, tau_high = bootstrap_spearman(x, truth, statistic=kendall)
        lines.append(
            f"| {label} | {spearman(x, truth):.2f} | {rho_low:.2f} to {rho_high:.2f}"
            f" | {kendall(x, truth):.2f} | {tau_low:.2f} to {tau_high:.2f}"
            f" | {partial_spearman(x, truth, macs):.2f} | {top_half_kendall(x, truth):.2f}"
            f" | {spearman(x, macs):.2f} | {np.mean(col[f'{key}_s']):.3g} |"
        )
    return lines


def truth_report(
    rows: list[dict[str, str]], header: str, settings: tuple[Setting, ...], manifest: Manifest
) -> str:
    """:func:`truth_tables` without scipy's warning for a constant score: the table shows nan."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return truth_tables(rows, header, settings, manifest)


def truth_tables(
    rows: list[dict[str, str]], header: str, settings: tuple[Setting, ...], manifest: Manifest
) -> str:
    """Per-network scores, then every proxy's fidelity against val top-1 (from 3 networks on)."""
    labels = proxy_labels(settings)
    shown = [k for k in labels if k not in ("paper_mean", "log_macs", "log_params")]
    lines = [
        header,
        "",
        "| network | depth | MMAC | val top-1 | test top-1 | " + " | ".join(shown) + " | s |",
        "|---" * (6 + len(shown)) + "|",
    ]
    for r in sorted(rows, key=lambda r: -float(r["val_top1"])):
        cells = [
            f"{100 * float(r[k]):.1f}" if k in {s.key for s in settings} else f"{float(r[k]):.2f}"
            for k in shown
        ]
        lines.append(
            f"| {r['name']} | {r['depth']} | {float(r['macs']) / 1e6:.2f} | {float(r['val_top1']):.2f}"
            f" | {float(r['top1']):.2f} | " + " | ".join(cells) + f" | {float(r['wall_s']):.0f} |"
        )
    lines += [
        "",
        "Proxy accuracies in % of the proxy validation images; NASWOT and synflow as logs.",
    ]
    if len(rows) >= 3:
        col = {
            k: np.array([float(r[k]) for r in rows])
            for k in rows[0]
            if k not in ("name", "arch_id")
        }
        add_paper_mean(col)
        truth, macs = col["val_top1"], col["macs"]
        lines += ["", f"Fidelity against val top-1 over {len(rows)} networks:", ""]
        lines += fidelity_table(col, labels)
        s0, s1 = col["paper_s0"], col["paper_s1"]
        lines += [
            "",
            f"Sanity: test top-1 vs val top-1, Spearman {spearman(col['top1'], truth):.2f}"
            f" over these {len(rows)} networks.",
            f"Paper proxy, seed 0 vs seed 1: Spearman {spearman(s0, s1):.2f},"
            f" Kendall {kendall(s0, s1):.2f}.",
            f"Reference: val top-1 {truth.min():.2f} to {truth.max():.2f}%;"
            f" MACs {macs.min() / 1e6:.2f} to {macs.max() / 1e6:.2f} M.",
        ]
    else:
        lines += ["", f"Fidelity needs at least 3 scored networks; {len(rows)} so far."]
    finished = np.array(list(manifest.finished.values()))
    if len(finished) >= 3:
        lines.append(
            f"Sanity over all {len(finished)} finished networks (MobileNetV2 included):"
            f" test vs val top-1 Spearman {spearman(finished[:, 1], finished[:, 0]):.2f}."
        )
    load = [float(r["load1"]) for r in rows]
    lines += [
        f"Not scored: {', '.join(manifest.skipped) or 'none'} (no Architecture: ProxyTrainer and"
        " the zero-cost scores build SwiftNets);"
        f" not finished yet: {', '.join(manifest.unfinished) or 'none'}"
        " (re-running the same command scores them once they are).",
        f"Scoring time summed over networks: {sum(float(r['wall_s']) for r in rows) / 60:.1f} min"
        + (f"; 1-minute load average {min(load):.1f} to {max(load):.1f} on" if load else "; on")
        + f" {os.cpu_count()} cores shared with other work, so s/network are upper bounds.",
        "at equal MACs = partial Spearman, the rank of MACs regressed out of both rankings."
        " Kendall, top half = Kendall among the ceil(n/2) networks best by val top-1."
        " 95% CI = bootstrap over networks (wide at this n).",
    ]
    return "\n".join(lines)


def truth_main(args: argparse.Namespace) -> None:
    """Score the proxies on the ground truth's finished networks not scored yet; rewrite the table."""
    start = time.perf_counter()
    settings, proxy_val = TRUTH_SETTINGS, PROXY_VAL
    if args.smoke:
        settings = tuple(replace(s, images=s.images // 10, epochs=1) for s in settings)
        proxy_val = 50
        args.limit = 3 if args.limit is None else args.limit
    out = args.out or Path(
        "outputs/proxy_fidelity/thirty_epochs_smoke"
        if args.smoke
        else "assets/proxy_fidelity/thirty_epochs"
    )
    out.mkdir(parents=True, exist_ok=True)
    datamodule = truth_datamodule(args.data)
    config = {
        "truth": str(args.truth),
        "reference": "val_top1",
        "seed": args.seed,
        "data": args.data,
        "held_out": {"val_fraction": datamodule.val_fraction, "seed": datamodule.seed},
        "smoke": args.smoke,
        "settings": [vars(s) for s in settings],
        "proxy_val": proxy_val,
        "naswot_batch": NASWOT_BATCH,
    }
    config_path = out / "config.json"
    if config_path.exists() and json.loads(config_path.read_text()) != config:
        raise SystemExit(f"error: {config_path} holds another configuration; use another --out")
    config_path.write_text(json.dumps(config, indent=1) + "\n")

    manifest = read_manifest(args.truth)
    networks = {n.name: n for n in manifest.scorable}
    results = out / "results.csv"
    fields = TRUTH_FIELDS + [
        f for key in [s.key for s in settings] + list(ZERO_COST) for f in (key, f"{key}_s")
    ]
    done: list[dict[str, str]] = []
    if results.exists():
        with open(results) as f:
            done = [r for r in csv.DictReader(f) if all(r.get(k) for k in fields)]
    for r in done:
        net = networks.get(r["name"])
        if net is not None and (r["arch_id"], float(r["val_top1"])) != (
            net.arch.id,
            round(net.val_top1, 6),
        ):
            raise SystemExit(
                f"error: {results} scored another {r['name']} (architecture or val top-1 changed);"
                " remove its row to score it again"
            )
    with open(results, "w") as f:  # the complete rows only: a row cut by a stop is scored again
        writer = csv.DictWriter(f, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: r[k] for k in fields} for r in done)
    done = [r for r in done if r["name"] in networks]
    todo = [n for n in manifest.scorable if n.name not in {r["name"] for r in done}]
    todo = todo[: args.limit] if args.limit is not None else todo
    print(
        f"proxy fidelity against {args.truth}: {len(manifest.finished)} networks finished,"
        f" {len(networks)} with an architecture, {len(done)} already scored in {results},"
        f" {len(todo)} to score now",
        flush=True,
    )
    biggest = max(s.images for s in settings)
    header = (
        f"# Proxy rank fidelity against the 30-epoch ground truth ({args.truth})\n\n"
        f"{platform.platform()}, {platform.processor() or 'cpu'}, torch {torch.__version__},"
        f" {torch.get_num_threads()} thread(s). Reference: val top-1 on the 5,000 held-out training"
        f" images after 30 epochs of Table 1's recipe. Proxy images: {biggest:,} training (a setting"
        f" of N images trains on the first N) + {proxy_val:,} validation images drawn (seed"
        f" {args.seed}) from the other 45,000 training images, none of the held-out 5,000;"
        " the test split only in the sanity line."
    )
    if todo:
        pool = training_part_pool(datamodule, biggest, proxy_val, args.seed)
        scorers = proxy_scorers(make_trainers(settings, pool), pool.train_x[:NASWOT_BATCH])
        assert list(scorers) == [s.key for s in settings] + list(ZERO_COST), "label every proxy"
        print(f"images loaded in {time.perf_counter() - start:.0f} s", flush=True)
    for i, net in enumerate(todo):
        load1 = os.getloadavg()[0]
        begin = time.perf_counter()
        row = score(net.arch, scorers)
        wall = time.perf_counter() - begin
        record = {
            "name": net.name,
            "arch_id": net.arch.id,
            "depth": net.arch.depth,
            "macs": count_macs(net.arch),
            "params": count_params(net.arch),
            "val_top1": round(net.val_top1, 6),
            "top1": round(net.top1, 6),
            "load1": round(load1, 2),
            "wall_s": round(wall, 3),
        } | {k: round(v, 6) for k, v in row.items()}
        with open(results, "a") as f:
            f.write(",".join(str(record[k]) for k in fields) + "\n")
            f.flush()
            os.fsync(f.fileno())
        done.append({k: str(v) for k, v in record.items()})
        (out / "table.md").write_text(truth_report(done, header, settings, manifest) + "\n")
        print(
            f"[{i + 1}/{len(todo)}] {net.name} {record['macs'] / 1e6:.2f} MMAC, val top-1"
            f" {net.val_top1:.2f}: "
            + ", ".join(f"{k} {v:.3g}" for k, v in row.items() if not k.endswith("_s"))
            + f"; {wall:.0f} s",
            flush=True,
        )
    table = truth_report(done, header, settings, manifest)
    (out / "table.md").write_text(table + "\n")
    print(f"\n{table}\n\nthis process: {(time.perf_counter() - start) / 60:.1f} min wall time")


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=24)
    parser.add_argument("--min-mmacs", type=float, default=1.0)
    parser.add_argument("--max-mmacs", type=float, default=40.0, help="MACs cap of the sample")
    parser.add_argument("--gt-train", type=int, default=10_000)
    parser.add_argument("--gt-val", type=int, default=2_000)
    parser.add_argument(
        "--gt-epochs", type=int, default=3, help="3 keeps 24 architectures near 1 h on 1 thread"
    )
    parser.add_argument("--seed", type=int, default=0, help="architectures and image subsets")
    parser.add_argument("--data", default="data/cifar10-jpg", help="CIFAR-10 in ImageFolder layout")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out",
        type=Path,
        help="default outputs/proxy_fidelity; with --truth assets/proxy_fidelity/thirty_epochs",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny image and epoch counts, to test the pipeline"
    )
    parser.add_argument(
        "--truth",
        type=Path,
        help="score against this 30-epoch ground truth (assets/ground_truth) instead",
    )
    parser.add_argument(
        "--limit", type=int, help="with --truth: score at most this many new networks in this call"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.truth is not None:
        truth_main(args)
        return
    if args.limit is not None:
        parser.error("--limit goes with --truth")
    args.out = args.out or Path("outputs/proxy_fidelity")
    start = time.perf_counter()

    settings = SETTINGS
    proxy_val = PROXY_VAL
    if args.smoke:
        settings = tuple(replace(s, images=s.images // 10, epochs=1) for s in SETTINGS)
        proxy_val = 50
        args.gt_train, args.gt_val, args.gt_epochs = 256, 64, 1

    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: str(v) for k, v in vars(args).items() if k not in TRUTH_ONLY} | {
        "settings": [vars(s) for s in settings],
        "proxy_val": proxy_val,
    }
    config_path = args.out / "config.json"
    if config_path.exists() and json.loads(config_path.read_text()) != config:
        raise SystemExit(f"error: {config_path} holds another configuration; use another --out")
    config_path.write_text(json.dumps(config, indent=1) + "\n")

    archs = sample_architectures(args.archs, args.min_mmacs, args.max_mmacs, args.seed)
    with open(args.out / "architectures.jsonl", "w") as f:
        for i, arch in enumerate(archs):
            f.write(json.dumps({"index": i, "id": arch.id, "architecture": arch.to_dict()}) + "\n")

    results = args.out / "results.csv"
    fields = ["index", "arch_id", "macs", "params", "wall_s", "gt", "gt_s"]
    fields += [f for key in [s.key for s in settings] + list(ZERO_COST) for f in (key, f"{key}_s")]
    done: list[dict[str, str]] = []
    if results.exists():
        with open(results) as f:
            done = [r for r in csv.DictReader(f) if all(r.get(k) for k in fields)]
    for r in done:
        if r["arch_id"] != archs[int(r["index"])].id:
            raise SystemExit(f"error: {results} row {r['index']} is another architecture")
    done_ids = {r["arch_id"] for r in done}
    if not results.exists():
        results.write_text(",".join(fields) + "\n")

    macs = np.array([count_macs(a) for a in archs]) / 1e6
    print(
        f"proxy fidelity: {len(archs)} architectures, {macs.min():.1f}-{macs.max():.1f} MMAC"
        f" (cap {args.max_mmacs:g}, total {macs.sum():.0f}); ground truth {args.gt_train} images"
        f" x {args.gt_epochs} epochs; {len(done)} already done in {results}",
        flush=True,
    )
    datamodule = ImageFolderDataModule(root=args.data, input_size=32, in_channels=3)
    biggest = max(s.images for s in settings)
    pool = datamodule.proxy_data(args.gt_train + args.gt_val, biggest + proxy_val, seed=args.seed)
    gt_data = ProxyData(
        pool.train_x[: args.gt_train],
        pool.train_y[: args.gt_train],
        pool.train_x[args.gt_train :],
        pool.train_y[args.gt_train :],
        pool.num_classes,
    )
    px, py = pool.val_x[:biggest], pool.val_y[:biggest]
    vx, vy = pool.val_x[biggest:], pool.val_y[biggest:]
    trainers = make_trainers(settings, ProxyData(px, py, vx, vy, pool.num_classes))
    print(f"images loaded in {time.perf_counter() - start:.0f} s", flush=True)

    header = (
        f"Proxy rank fidelity on CIFAR-10 ({platform.platform()}, {platform.processor() or 'cpu'},"
        f" torch {torch.__version__}, {torch.get_num_threads()} thread(s));"
        f" ground truth: {args.gt_train} images x {args.gt_epochs} epochs, one-cycle lr 0.1,"
        f" flip + pad-crop, accuracy on {args.gt_val} other training images"
    )
    measured = [float(r["wall_s"]) for r in done]
    measured_macs = [float(r["macs"]) / 1e6 for r in done]
    for i, arch in enumerate(archs):
        if arch.id in done_ids:
            continue
        begin = time.perf_counter()
        row = evaluate(arch, gt_data, trainers, px[:NASWOT_BATCH], args.gt_epochs)
        wall = time.perf_counter() - begin
        record = {
            "index": i,
            "arch_id": arch.id,
            "macs": count_macs(arch),
            "params": count_params(arch),
            "wall_s": round(wall, 3),
        } | {k: round(v, 6) for k, v in row.items()}
        with open(results, "a") as f:
            f.write(",".join(str(record[k]) for k in fields) + "\n")
            f.flush()
            os.fsync(f.fileno())
        done.append({k: str(v) for k, v in record.items()})
        measured.append(wall)
        measured_macs.append(count_macs(arch) / 1e6)
        # Remaining time: seconds per architecture fitted linearly in MACs once there are 3 points.
        todo = [macs[j] for j in range(i + 1, len(archs)) if archs[j].id not in done_ids]
        if len(measured) >= 3:
            slope, intercept = np.polyfit(measured_macs, measured, 1)
            remaining = max(0.0, float(np.sum(intercept + slope * np.array(todo))))
        else:
            remaining = float(np.mean(measured)) * len(todo)
        print(
            f"[{len(done)}/{len(archs)}] arch {i} {count_macs(arch) / 1e6:5.1f} MMAC:"
            f" gt {row['gt']:.3f} ({row['gt_s']:.0f} s), paper {row['paper_s0']:.3f}/{row['paper_s1']:.3f},"
            f" {wall:.0f} s; measured so far {sum(measured) / 60:.1f} min,"
            f" estimated remaining {remaining / 60:.1f} min",
            flush=True,
        )
        if len(done) >= 3:
            (args.out / "table.md").write_text(report(done, header) + "\n")

    table = report(done, header)
    (args.out / "table.md").write_text(table + "\n")
    print(f"\n{table}\n\nthis process: {(time.perf_counter() - start) / 60:.1f} min wall time")


if __name__ == "__main__":
    main()
