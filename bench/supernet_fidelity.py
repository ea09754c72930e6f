"""Rank fidelity of the one-shot proxy (``proxy=supernet``) against the 30-epoch ground truth.

A supernet scores only sub-networks of its own meta-graph, so this scores the ground truth's
finished networks that the meta-graph of a search run can sample (``SuperNet.set_active``
accepts them), with the supernet that run trained, exactly as the search scores a candidate:
``SupernetProxy.train`` (BatchNorm recomputed on 2,000 training images, top-1 on the run's 500
held-out training images). The other proxies' scores of the same networks come from
``bench/proxy.py --truth``'s ``results.csv``, so the table compares every proxy on one set.

The supernet trains on 49,500 of the 50,000 training images, so it has seen the 5,000 that
the ground truth holds out for its reference; the networks it ranks never have.

    python bench/supernet_fidelity.py --run <search run dir with supernet/weights.pt>
"""

from __future__ import annotations

import argparse
import csv
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy import stats

from gramnas import MetaGraph, count_macs
from gramnas.errors import GramError
from gramnas.search.build import build_proxy, search_settings
from gramnas.search.runner import METAGRAPH_FILE
from gramnas.training.supernet_proxy import SUPERNET_DIR, WEIGHTS, SupernetProxy
from proxy import (
    TRUTH_SETTINGS,
    Network,
    add_paper_mean,
    fidelity_table,
    proxy_labels,
    read_manifest,
)

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ("paper_s0", "paper_s1", "paper_mean", "p5000x5", "naswot", "synflow", "log_macs",
            "log_params")  # fmt: skip


def load_supernet_proxy(run: Path) -> SupernetProxy:
    """The run's one-shot proxy with its trained supernet, built from the run's own config.yaml."""
    if not (run / SUPERNET_DIR / WEIGHTS).is_file():
        raise SystemExit(
            f"error: {run / SUPERNET_DIR / WEIGHTS} is missing: the supernet of"
            " --run is not trained yet (the search writes it when training ends)"
        )
    cfg = OmegaConf.load(run / "config.yaml")
    metagraph = MetaGraph.load(run / METAGRAPH_FILE)
    proxy = build_proxy(
        instantiate(cfg.proxy), instantiate(cfg.data), metagraph, search_settings(cfg), run
    )
    if not isinstance(proxy, SupernetProxy):
        raise SystemExit(
            f"error: {run} searched with proxy {cfg.proxy._target_}; use a proxy=supernet run"
        )
    proxy.prepare()
    return proxy


def sub_networks(proxy: SupernetProxy, networks: list[Network]) -> tuple[list[Network], list[str]]:
    """The networks the supernet holds, and the names of the others."""
    assert proxy.net is not None
    inside, outside = [], []
    for net in networks:
        try:
            proxy.net.set_active(net.arch)
            inside.append(net)
        except GramError:
            outside.append(net.name)
    return inside, outside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a proxy=supernet search run")
    parser.add_argument("--truth", type=Path, default=ROOT / "assets/ground_truth")
    parser.add_argument(
        "--proxies",
        type=Path,
        default=ROOT / "assets/proxy_fidelity/thirty_epochs/results.csv",
        help="bench/proxy.py --truth's scores of the same networks",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "assets/proxy_fidelity/supernet")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    proxy = load_supernet_proxy(args.run)
    manifest = read_manifest(args.truth)
    networks, outside = sub_networks(proxy, manifest.scorable)
    print(
        f"{len(networks)} finished networks are sub-networks of {args.run}'s meta-graph;"
        f" loaded in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    others: dict[str, dict[str, str]] = {}
    if args.proxies.is_file():
        with open(args.proxies) as f:
            others = {r["name"]: r for r in csv.DictReader(f)}

    rows = []
    for net in networks:
        begin = time.perf_counter()
        accuracy = proxy.train(net.arch, seed=0).accuracy
        row = {
            "name": net.name,
            "arch_id": net.arch.id,
            "depth": net.arch.depth,
            "macs": count_macs(net.arch),
            "val_top1": net.val_top1,
            "top1": net.top1,
            "supernet": round(accuracy, 6),
            "supernet_s": round(time.perf_counter() - begin, 3),
        }
        rows.append(
            row | {k: others[net.name][k] for k in others.get(net.name, {}) if k not in row}
        )
        print(
            f"{net.name}: {row['macs'] / 1e6:.2f} MMAC, depth {row['depth']}, val top-1"
            f" {net.val_top1:.2f}, supernet {accuracy:.1%}",
            flush=True,
        )

    args.out.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0]) if rows else []
    with open(args.out / "results.csv", "w") as f:
        writer = csv.DictWriter(f, fields, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = report(rows, args, proxy, outside)
    (args.out / "table.md").write_text(table + "\n")
    print(f"\n{table}\n\n{(time.perf_counter() - start) / 60:.1f} min wall time")


def report(
    rows: list[dict], args: argparse.Namespace, proxy: SupernetProxy, outside: list[str]
) -> str:
    recipe = proxy.recipe
    lines = [
        f"# The one-shot proxy against the 30-epoch ground truth ({args.run.name})",
        "",
        f"{platform.platform()}, torch {torch.__version__}, 1 thread. The supernet of"
        f" {args.run}/{METAGRAPH_FILE},"
        f" trained {recipe.epochs} epochs, batch {recipe.batch_size}, sampling with the search's"
        f" `{proxy.metagraph.sampler.method}` sampler from uniform edge weights; a network's score"
        f" is its top-1 on {recipe.val_size} held-out training images after BatchNorm is recomputed"
        f" on {recipe.calibration_size}. Reference: val top-1 after 30 epochs of Table 1's recipe.",
        "",
        "| network | depth | MMAC | val top-1 | supernet | paper (mean) | synflow | log params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -float(r["val_top1"])):
        paper = (float(r["paper_s0"]) + float(r["paper_s1"])) / 2 if "paper_s0" in r else None
        lines.append(
            f"| {r['name']} | {r['depth']} | {int(r['macs']) / 1e6:.2f} | {float(r['val_top1']):.2f}"
            f" | {100 * float(r['supernet']):.1f}"
            f" | {'-' if paper is None else f'{100 * paper:.1f}'}"
            + "".join(
                f" | {float(r[k]):.2f}" if k in r else " | -" for k in ("synflow", "log_params")
            )
            + " |"
        )
    complete = [r for r in rows if all(k in r for k in COMPARED if k != "paper_mean")]
    if len(complete) >= 3:
        col = {
            k: np.array([float(r[k]) for r in complete])
            for k in complete[0]
            if k not in ("name", "arch_id")
        }
        add_paper_mean(col)
        labels = {"supernet": "supernet (proxy=supernet)"} | {
            k: v for k, v in proxy_labels(TRUTH_SETTINGS).items() if k in COMPARED
        }
        lines += [
            "",
            f"Fidelity against val top-1 over the {len(complete)} networks every proxy scored:",
            "",
        ]
        with warnings.catch_warnings():  # a constant score shows nan
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            lines += fidelity_table(col, labels)
    else:
        lines += [
            "",
            f"Fidelity needs 3 networks that every proxy scored; {len(complete)} so far"
            " (bench/proxy.py --truth scores the others).",
        ]
    lines += [
        "",
        f"Not sub-networks of this meta-graph: {', '.join(outside) or 'none'}.",
        "at equal MACs = partial Spearman, the rank of MACs regressed out of both rankings."
        " Kendall, top half = Kendall among the ceil(n/2) networks best by val top-1."
        " 95% CI = bootstrap over networks.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
