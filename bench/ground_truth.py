"""The 30-epoch ground truth that proxies are scored against: train a fixed set of networks, resumably.

The set is ``assets/ground_truth/networks.yaml``. Each network trains with Table 1's recipe
(``src/train.py recipe=cosine trainer.max_epochs=30`` on the offline CIFAR-10 copy) into
``<runs>/<name>``; when it ends, its ``metrics.json`` and ``train.log`` are copied into
``assets/ground_truth/<name>/``, and a network with that record is never trained again.
An unfinished run resumes from its ``last.ckpt`` (``--carry`` copies those into
``assets/ground_truth/<name>/`` so that the next machine resumes them too).
Then ``table.md`` / ``table.csv`` list depth, MACs, parameters, MACs per parameter, the
validation top-1 (the reference) and the test top-1 (reported, never used to choose).

    python bench/ground_truth.py --status                 # what is done, partial, to do
    python bench/ground_truth.py --jobs 2                 # train what is left, two at a time (CPU)
    python bench/ground_truth.py --gpu --jobs 8           # the whole set in one call on a GPU machine
    python bench/ground_truth.py --carry --runs outputs/depth   # keep unfinished runs for later
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gramnas import Architecture, count_macs, count_params  # noqa: E402
from gramnas.summary import markdown_table  # noqa: E402

ASSETS = ROOT / "assets" / "ground_truth"
RECIPE = ["recipe=cosine", "trainer.max_epochs=30", "data=imagefolder", "data.num_workers=0"]
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+):.*; ([\d.]+) s$")
COLUMNS = (
    "network", "depth", "MMAC", "K params", "MACs/param", "val top-1", "test top-1", "epochs",
    "train time (min)",
)  # fmt: skip


def load_networks() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ASSETS / "networks.yaml").read_text())["networks"]


def overrides(spec: dict[str, Any]) -> list[str]:
    if "architecture" in spec:
        return ["model=architecture", f"model.path={ROOT / spec['architecture']}"]
    return list(spec["overrides"])


def record_dir(name: str) -> Path:
    return ASSETS / name


def is_done(name: str) -> bool:
    return (record_dir(name) / "metrics.json").is_file()


def last_checkpoint(name: str, runs: Path) -> Path | None:
    """The newest state of an unfinished run: this machine's run, else one carried in assets/."""
    for path in (runs / name / "checkpoints" / "last.ckpt", record_dir(name) / "last.ckpt"):
        if path.is_file():
            return path
    return None


def import_record(name: str, spec: dict[str, Any], runs: Path) -> bool:
    """Copy a finished run (an earlier ``record``, or this machine's run) into assets/."""
    sources = [runs / name / "metrics.json", runs / name / "train.log"]
    if "record" in spec:
        base = ROOT / spec["record"]
        sources = [Path(f"{base}.metrics.json"), Path(f"{base}.train.log")]
    if not sources[0].is_file():
        return False
    record_dir(name).mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, ("metrics.json", "train.log"), strict=True):
        if source.is_file():
            shutil.copyfile(source, record_dir(name) / target)
    (record_dir(name) / "last.ckpt").unlink(missing_ok=True)
    return True


def train(name: str, spec: dict[str, Any], args: argparse.Namespace) -> str:
    """One network's 30-epoch training, resumed where it stopped; returns a status line."""
    command = [
        sys.executable, "src/train.py", *RECIPE, f"data.root={args.data}", *overrides(spec),
        f"hydra.run.dir={args.runs / name}",
    ]  # fmt: skip
    resume = last_checkpoint(name, args.runs)
    if resume is not None:
        command.append(f"ckpt_path={resume}")
    if args.gpu:
        command.append("trainer=gpu")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    log = args.runs / f"{name}.stdout"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        code = subprocess.call(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if code != 0 or not import_record(name, {}, args.runs):
        return f"{name}: failed (exit {code}), see {log}"
    return f"{name}: done"


def carry(name: str, runs: Path) -> str | None:
    """Keep an unfinished run's last.ckpt in assets/ so another machine resumes it."""
    source = runs / name / "checkpoints" / "last.ckpt"
    if is_done(name) or not source.is_file():
        return None
    record_dir(name).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, record_dir(name) / "last.ckpt")
    return f"{name}: carried {source}"


def epochs_and_minutes(log: Path) -> tuple[int, str]:
    """The last epoch reached and the minutes the log's epochs took; a run resumed on another
    machine logs only its last epochs, and the time says how many."""
    lines = [m for m in map(EPOCH_LINE.search, log.read_text().splitlines()) if m]
    epochs, minutes = (
        max(int(m.group(1)) for m in lines),
        sum(float(m.group(3)) for m in lines) / 60,
    )
    return epochs, f"{minutes:.1f}" + (f" (last {len(lines)})" if len(lines) < epochs else "")


def table_row(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    metrics = json.loads((record_dir(name) / "metrics.json").read_text())
    macs, params = metrics["macs"], metrics["params"]
    depth = metrics.get("depth", spec.get("depth"))
    if depth is None and "architecture" in spec:
        arch = Architecture.load(ROOT / spec["architecture"])
        assert (count_macs(arch), count_params(arch)) == (macs, params), name
        depth = arch.depth
    epochs, minutes = epochs_and_minutes(record_dir(name) / "train.log")
    return {
        "network": name,
        "depth": depth,
        "MMAC": round(macs / 1e6, 2),
        "K params": round(params / 1e3, 1),
        "MACs/param": round(macs / params, 1),
        "val top-1": round(metrics["val_top1"], 2),
        "test top-1": round(metrics["top1"], 2),
        "epochs": epochs,
        "train time (min)": minutes,
    }


def write_table(networks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = sorted(
        (table_row(name, spec) for name, spec in networks.items() if is_done(name)),
        key=lambda row: (row["MMAC"], row["network"]),
    )
    with open(ASSETS / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# 30-epoch ground truth: {len(rows)} of {len(networks)} networks",
        "",
        "Table 1's recipe (recipe=cosine, 30 epochs, batch 128) on the offline CIFAR-10 JPEG copy:",
        "45,000 training images, validation on the 5,000 held out (the reference), test on the",
        "10,000 test images. Hardware and wall time per network: its train.log.",
        "",
        *markdown_table(COLUMNS, ([row[c] for c in COLUMNS] for row in rows)),
    ]
    (ASSETS / "table.md").write_text("\n".join(lines) + "\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", action="store_true", help="list the networks and stop")
    parser.add_argument("--only", nargs="*", help="these networks only")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at a time")
    parser.add_argument("--gpu", action="store_true", help="trainer=gpu (bf16, data on the GPU)")
    parser.add_argument("--carry", action="store_true", help="copy unfinished runs' last.ckpt")
    parser.add_argument("--runs", type=Path, default=ROOT / "outputs" / "ground_truth")
    parser.add_argument("--data", default="data/cifar10-jpg", help="the unpacked JPEG copy")
    args = parser.parse_args()
    networks = load_networks()
    unknown = sorted(set(args.only or ()) - set(networks))
    if unknown:
        parser.error(f"--only: unknown network(s) {unknown}; see {ASSETS / 'networks.yaml'}")
    chosen = {n: s for n, s in networks.items() if not args.only or n in args.only}
    for name, spec in chosen.items():
        if not is_done(name) and import_record(name, spec, args.runs):
            print(f"{name}: recorded from {spec.get('record', args.runs / name)}")
    if args.carry:
        for name in chosen:
            if line := carry(name, args.runs):
                print(line)
    elif not args.status:
        todo = [name for name in chosen if not is_done(name)]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for line in pool.map(lambda n: train(n, chosen[n], args), todo):
                print(line)
    for name in chosen:
        state = (
            "done" if is_done(name) else "partial" if last_checkpoint(name, args.runs) else "to do"
        )
        print(f"{state:8} {name}")
    rows = write_table(networks)
    print(f"{len(rows)} of {len(networks)} networks done: {ASSETS / 'table.md'}")


if __name__ == "__main__":
    main()
