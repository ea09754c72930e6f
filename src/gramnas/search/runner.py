"""The search loop (Algorithm 1) in synchronous batches, with exact checkpoint and resume.

Each batch samples ``workers`` candidates from the current meta-graph, has an
executor evaluate them (concurrently, where it can), then applies their
updates in sample order; one worker is exactly the paper's loop. Iteration t
is seeded from (seed, t) alone, and the meta-graph file is the only state,
rewritten atomically after each batch. A search resumed from it with the same
``workers`` therefore replays exactly what an uninterrupted one would have
done, provided candidate evaluation is deterministic (latency from ``macs`` or
a lookup table; measured latencies differ between any two runs anyway).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.image import imread
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gramnas.errors import field_error, require_int
from gramnas.metagraph import MetaGraph
from gramnas.pruning import derive
from gramnas.search.executors import Candidate, Evaluation, Executor
from gramnas.search.logs import CSV_COLUMNS, append_record, truncate_logs
from gramnas.search.plots import plot_edge_strengths, plot_search_curves
from gramnas.search.update import CandidateOutcome, MetaGraphUpdate

METAGRAPH_FILE = "metagraph.json"
FAILURE_OUTCOMES = ("lowest", "skip")


@dataclass
class SearchSettings:
    iterations: int
    workers: int = 1  # candidates per synchronous batch
    max_macs: int | None = None
    max_redraws: int = 20
    on_failure: str = "lowest"
    derive_levels: Sequence[float] = (0.3, 0.4, 0.5, 0.65)

    def __post_init__(self) -> None:
        require_int("search.iterations", self.iterations, 0)
        require_int("search.workers", self.workers, 1)
        if self.on_failure not in FAILURE_OUTCOMES:
            raise field_error(
                "search.on_failure",
                f"unknown outcome {self.on_failure!r}",
                f"choose one of {FAILURE_OUTCOMES}",
            )
        if self.max_macs is not None and (not isinstance(self.max_macs, int) or self.max_macs < 1):
            raise field_error(
                "search.max_macs", f"must be a positive integer or null, got {self.max_macs!r}"
            )


def iteration_seeds(seed: int, iteration: int) -> tuple[np.random.Generator, int]:
    """The sampling generator and the torch seed of one iteration, from (seed, iteration) alone."""
    sequence = np.random.SeedSequence([seed, iteration])
    return np.random.default_rng(sequence), int(sequence.generate_state(1)[0])


class GramSearch:
    """Runs iterations from ``metagraph.iteration`` to ``settings.iterations``, writing into ``run_dir``."""

    def __init__(
        self,
        metagraph: MetaGraph,
        executor: Executor,
        update: MetaGraphUpdate,
        settings: SearchSettings,
        run_dir: str | Path,
        loggers: Sequence[Any] = (),
        progress: bool = True,
    ) -> None:
        if update.metagraph is not metagraph:
            raise ValueError("the MetaGraphUpdate callback must update the searched meta-graph")
        self.metagraph = metagraph
        self.executor = executor
        self.update = update
        self.settings = settings
        self.run_dir = Path(run_dir)
        self.loggers = list(loggers)
        self.progress = progress

    def run(self) -> MetaGraph:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        records = truncate_logs(self.run_dir, self.metagraph.iteration)
        best = max((r["reward"] for r in records if r["reward"] is not None), default=-math.inf)
        if not records:
            self.metagraph.save(
                self.run_dir / METAGRAPH_FILE
            )  # iteration 0: resumable from the start
        with self._progress_bar() as bar:
            task = bar.add_task(
                "GRAM search",
                total=self.settings.iterations,
                completed=self.metagraph.iteration,
                best=best,
                beta=self.metagraph.beta,
            )
            while self.metagraph.iteration < self.settings.iterations:
                for record in self.step():
                    self._log_metrics(record)
                    records.append(record)
                    if record["reward"] is not None:
                        best = max(best, record["reward"])
                    bar.update(task, advance=1, best=best, beta=self.metagraph.beta)
        self.finish(records)
        return self.metagraph

    def step(self) -> list[dict[str, Any]]:
        """One batch: sample, evaluate, update in sample order, log, checkpoint."""
        first = self.metagraph.iteration
        last = min(first + self.settings.workers, self.settings.iterations)
        candidates, sample_seconds = [], []
        for iteration in range(first, last):
            start = time.perf_counter()
            rng, torch_seed = iteration_seeds(self.metagraph.seed, iteration)
            arch = self.metagraph.sample(rng, self.settings.max_macs, self.settings.max_redraws)
            candidates.append(Candidate(iteration, arch, torch_seed))
            sample_seconds.append(time.perf_counter() - start)
        evaluations = self.executor.evaluate(candidates)
        records = []
        for candidate, evaluation, seconds in zip(
            candidates, evaluations, sample_seconds, strict=True
        ):
            record = self.apply(candidate, evaluation, {"sample": seconds})
            append_record(self.run_dir, record)
            records.append(record)
        self.metagraph.save(self.run_dir / METAGRAPH_FILE)
        return records

    def apply(
        self, candidate: Candidate, evaluation: Evaluation, timings: dict[str, float]
    ) -> dict[str, Any]:
        """The update of one evaluated candidate, or the failure outcome; returns its log record."""
        arch, accuracy, latency = candidate.architecture, evaluation.accuracy, evaluation.latency
        status = "ok" if accuracy is not None else "failed"
        if accuracy is None and self.settings.on_failure == "lowest":
            accuracy = 0.0
        outcome = None
        if accuracy is not None and latency is not None:
            outcome = self.update.on_candidate_end(arch, accuracy, latency)
        else:  # skipped by choice, or no latency to compute a reward with
            status = "skipped"
            self.update.on_candidate_skipped()
        timings = {**timings, **evaluation.timings, **(outcome.timings if outcome else {})}
        return self._record(candidate, evaluation, status, outcome, timings)

    def _record(
        self,
        candidate: Candidate,
        evaluation: Evaluation,
        status: str,
        outcome: CandidateOutcome | None,
        timings: dict[str, float],
    ) -> dict[str, Any]:
        arch = candidate.architecture
        convergence = {k: v.tolist() for k, v in self.metagraph.convergence().items()}
        metrics = outcome.metrics if outcome else None
        return {
            "iteration": candidate.iteration,
            "status": status,
            "error": evaluation.error,
            "architecture_id": arch.id,
            "accuracy": metrics.accuracy if metrics else None,
            "latency_ms": metrics.latency_ms if metrics else None,
            "macs": metrics.macs if metrics else None,
            "params": metrics.params if metrics else None,
            "reward": outcome.reward if outcome else None,
            "advantage": outcome.advantage if outcome else None,
            "beta": self.metagraph.beta,
            "edges": arch.num_edges,
            "nodes": arch.num_nodes,
            "seconds": round(sum(timings.values()), 4),  # this candidate's own work
            "effective_edges": float(np.mean(convergence["effective_edges"])),
            "max_pi": float(np.max(convergence["max_pi"])),
            "timings": {k: round(v, 5) for k, v in timings.items()},
            "latency": outcome.latency.to_dict() if outcome else None,
            "convergence": convergence,
            "architecture": arch.to_dict(),
            "worker": evaluation.worker,
            "attempts": evaluation.attempts,
        }

    def finish(self, records: list[dict[str, Any]]) -> None:
        """Derived architectures at a few levels, plots, and the loggers' final flush."""
        for level in self.settings.derive_levels:
            derive(self.metagraph, float(level)).save(self.run_dir / f"architecture_{level}.json")
        plots = [plot_edge_strengths(self.metagraph, self.run_dir / "edge_strengths.png")]
        if records:
            plots.append(plot_search_curves(records, self.run_dir / "search_curves.png"))
        for logger in self.loggers:
            log_images(logger, plots)
            logger.finalize("success")

    def _log_metrics(self, record: dict[str, Any]) -> None:
        keys = [k for k in CSV_COLUMNS if k not in ("iteration", "architecture_id", "status")]
        metrics = {f"search/{k}": float(record[k]) for k in keys if record[k] is not None}
        for logger in self.loggers:
            logger.log_metrics(metrics, step=record["iteration"])

    def _progress_bar(self) -> Progress:
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best reward {task.fields[best]:.4f}  beta {task.fields[beta]:.4f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=not self.progress,
        )


def log_images(logger: Any, paths: Sequence[Path]) -> None:
    """Send PNG plots to loggers that take images (W&B, TensorBoard); others keep them as files."""
    if hasattr(logger, "log_image"):
        for path in paths:
            logger.log_image(key=f"search/{path.stem}", images=[str(path)])
    elif hasattr(getattr(logger, "experiment", None), "add_image"):
        for path in paths:
            logger.experiment.add_image(
                f"search/{path.stem}", imread(path)[..., :3], dataformats="HWC"
            )
