"""The search loop (Algorithm 1) in synchronous batches, with exact checkpoint and resume.

Each batch samples ``workers`` candidates from the current meta-graph, has an
executor evaluate them (concurrently, where it can), then applies their
updates in sample order; one worker is exactly the paper's loop. Iteration t
is seeded from (seed, t) alone, and the meta-graph file is the only state,
rewritten atomically after each batch. A search resumed from it with the same
``workers`` therefore replays exactly what an uninterrupted one would have
done, provided candidate evaluation is deterministic (latency from ``macs`` or
a lookup table; measured latencies differ between any two runs anyway).
A search holds its run directory (a lock file) so that no second one writes
into it at the same time.

Along the way it records diagnostics (:mod:`gramnas.search.diagnostics`),
warns once when a DAG collapses or nothing moves, and every ``probe_every``
iterations re-trains one fixed network with a new seed: the spread of those
probes is the proxy's seed noise. Probes never touch the meta-graph, so they
change nothing about the search or its resume.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
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

from gramnas.architecture import Architecture
from gramnas.errors import GramError, field_error, is_finite_number, require_int
from gramnas.metagraph import MetaGraph
from gramnas.plots import plot_edge_strengths, plot_level_profile, plot_search_curves
from gramnas.progress import PROGRESS, number
from gramnas.pruning import DEFAULT_MODE, LevelProfile, profile_levels
from gramnas.search.diagnostics import search_warnings
from gramnas.search.executors import Candidate, CandidateResult, Executor
from gramnas.search.logs import (
    CANDIDATES,
    CSV_COLUMNS,
    LEVEL_PROFILE,
    append_probe,
    append_record,
    truncate_logs,
    truncate_probes,
    write_level_profile,
    write_summary,
)
from gramnas.search.update import MetaGraphUpdate

METAGRAPH_FILE = "metagraph.json"
LOCK_FILE = ".lock"
FAILURE_OUTCOMES = ("lowest", "skip")
PAPER_LEVELS = (0.3, 0.4, 0.5, 0.65)  # the prune levels of the paper's models
PROFILE_LEVELS = tuple(round(0.05 * i, 2) for i in range(21))
# Latency backends that compute latency from the architecture alone: cheap and exact enough to
# repeat for every profiled level. Others measure (slow, noisy) or may measure (a lookup table
# with missing entries), so the profile leaves their latency out.
FORMULA_LATENCY = ("macs",)
PER_DAG_METRICS = ("effective_edges", "max_pi", "share_tried", "tried_below_untried")

log = logging.getLogger(__name__)
_LOCKED_RUN_DIRS: set[Path] = set()  # held by this process


@dataclass
class SearchSettings:
    """The loop's settings; no defaults, since ``conf/search/default.yaml`` is the one place they are set."""

    iterations: int
    workers: int  # candidates per synchronous batch
    max_macs: int | None
    max_redraws: int
    on_failure: str
    derive_levels: Sequence[float]
    probe_every: int  # re-train the probe network after every this many iterations; 0: never
    max_initial_failures: int  # stop when the first this many candidates all fail; 0: never

    def __post_init__(self) -> None:
        require_int("search.iterations", self.iterations, 0)
        require_int("search.workers", self.workers, 1)
        require_int("search.max_redraws", self.max_redraws, 0)
        require_int("search.probe_every", self.probe_every, 0)
        require_int("search.max_initial_failures", self.max_initial_failures, 0)
        levels = self.derive_levels
        if not isinstance(levels, (list, tuple)) or not all(
            is_finite_number(x) and 0 <= x <= 1 for x in levels
        ):
            raise field_error(
                "search.derive_levels", f"must be a list of levels in [0, 1], got {levels!r}"
            )
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


def iteration_line(record: Mapping[str, Any], total: int) -> str:
    """One iteration as a progress line: what a redirected search prints instead of a bar."""
    macs = record["macs"] / 1e6 if record["macs"] is not None else None
    error = f" ({record['error'].splitlines()[0]})" if record["error"] else ""
    return (
        f"iteration {record['iteration'] + 1}/{total} {record['status']}{error}: "
        f"accuracy {number(record['accuracy'])}, "
        f"latency {number(record['latency_ms'], '.4g', ' ms')}, {number(macs, '.2f', ' MMACs')}, "
        f"reward {number(record['reward'])}, {record['seconds']:.1f} s"
    )


def probe_seed(seed: int, iteration: int) -> int:
    """The torch seed of the probe after ``iteration`` iterations: new per probe, apart from the candidates'."""
    return int(np.random.SeedSequence([seed, iteration, 1]).generate_state(1)[0])


def probe_architecture(
    metagraph: MetaGraph, max_macs: int | None = None, max_redraws: int = 20
) -> Architecture:
    """The noise probe's fixed network: what this meta-graph, with uniform weights, samples at iteration 0.

    It depends on the space, the operations and the seed, never on learned
    weights, so every probe of a run, resumed or not, trains the same network;
    a search that starts uniform (as ``MetaGraph.create`` does) sampled it as
    its first candidate.
    """
    uniform = MetaGraph(
        space=metagraph.space,
        ops=metagraph.ops,
        weights=np.full_like(metagraph.weights, 1.0 / metagraph.space.num_edges),
        seed=metagraph.seed,
        density=metagraph.density,
        pi_min=metagraph.pi_min,
        pi_max=metagraph.pi_max,
        sampler=metagraph.sampler,
    )
    rng, _ = iteration_seeds(metagraph.seed, 0)
    return uniform.sample(rng, max_macs, max_redraws)


@contextlib.contextmanager
def lock_run_dir(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir`` for one search: a second one into it would interleave its writes with ours.

    An flock on ``run_dir/.lock``, which the kernel drops when the process ends,
    so a killed search leaves no stale lock. A process that holds the lock
    already (the entry point around :meth:`GramSearch.run`) holds it once.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _LOCKED_RUN_DIRS:
        yield
        return
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GramError(
                f"{run_dir}: another search is running in this directory; "
                "wait for it to end or write into another directory"
            ) from None
        _LOCKED_RUN_DIRS.add(key)
        try:
            yield
        finally:
            _LOCKED_RUN_DIRS.discard(key)
    finally:
        os.close(fd)


def refuse_existing_run(run_dir: str | Path) -> None:
    """A fresh search must not overwrite a run: continuing one is ``search.resume``'s job."""
    for name in (METAGRAPH_FILE, CANDIDATES):
        if (Path(run_dir) / name).exists():
            raise GramError(
                f"{run_dir}: holds a search run ({name}); continue it with "
                f"search.resume={run_dir}, or write into another directory"
            )


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
        hyperparams: Mapping[str, Any] | None = None,
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
        self.hyperparams = hyperparams
        self.progress = progress
        self.records: list[dict[str, Any]] = []  # every iteration's, resumed ones included
        self.probes: list[dict[str, Any]] = []
        self.warned: set[tuple[str, int | None]] = set()

    def run(self) -> MetaGraph:
        """The search to its last iteration, holding the run directory (:func:`lock_run_dir`)."""
        with lock_run_dir(self.run_dir):
            self.records = truncate_logs(self.run_dir, self.metagraph.iteration)
            self.probes = truncate_probes(self.run_dir, self.metagraph.iteration)
            self._start_loggers()
            best = max(
                (r["reward"] for r in self.records if r["reward"] is not None), default=-math.inf
            )
            if not self.records:  # iteration 0: resumable from the start
                self.metagraph.save(self.run_dir / METAGRAPH_FILE)
            total = self.settings.iterations
            if self.metagraph.iteration >= total:  # a resume past its target: shown done, not 30/10
                log.info(
                    "search already at iteration %d, search.iterations=%d reached: nothing to run",
                    self.metagraph.iteration,
                    total,
                )
            with self._progress_bar() as bar:
                task = bar.add_task(
                    "GRAM search",
                    total=max(total, self.metagraph.iteration),
                    completed=self.metagraph.iteration,
                    best=best,
                    beta=self.metagraph.beta,
                )
                self.probe_if_due()  # a resumed run may have stopped between a checkpoint and its probe
                while self.metagraph.iteration < self.settings.iterations:
                    records = self.step()
                    for record in records:
                        self._log_metrics(record)
                        log.info(iteration_line(record, total), extra=PROGRESS)
                        if record["reward"] is not None:
                            best = max(best, record["reward"])
                        bar.update(task, advance=1, best=best, beta=self.metagraph.beta)
                    for logger in self.loggers:
                        logger.save()  # a kill loses no logged iteration
                    self._stop_if_every_first_candidate_failed(len(records))
                    self._warn()
                    self.probe_if_due()
            self.finish()
        return self.metagraph

    def step(self) -> list[dict[str, Any]]:
        """One batch: sample, evaluate, update in sample order, log, checkpoint; returns its records."""
        first = self.metagraph.iteration
        last = min(first + self.settings.workers, self.settings.iterations)
        candidates, sample_seconds = [], []
        for iteration in range(first, last):
            start = time.perf_counter()
            rng, torch_seed = iteration_seeds(self.metagraph.seed, iteration)
            arch = self.metagraph.sample(rng, self.settings.max_macs, self.settings.max_redraws)
            candidates.append(Candidate(iteration, arch, torch_seed))
            sample_seconds.append(time.perf_counter() - start)
        records = []
        results = self.executor.evaluate(candidates)
        for result, seconds in zip(results, sample_seconds, strict=True):
            result.timings = {"sample": seconds, **result.timings}
            record = self.apply(result)
            append_record(self.run_dir, record)
            self.records.append(record)
            records.append(record)
        self.metagraph.save(self.run_dir / METAGRAPH_FILE)
        return records

    def apply(self, result: CandidateResult) -> dict[str, Any]:
        """Have the update callback score the candidate, or skip it (the failure outcome); returns its log record."""
        if result.accuracy is None and self.settings.on_failure == "lowest":
            result.accuracy = 0.0  # scored as the lowest accuracy; its error says it failed
        if result.accuracy is not None and result.latency is not None:
            self.update.on_candidate_end(result)
        else:  # skipped by choice, or no latency to compute a reward with
            self.update.on_candidate_skipped(result)
        return result.to_record(self.records)

    def probe_if_due(self) -> None:
        """Re-train the probe network for the last multiple of ``probe_every`` passed, if not done yet.

        With batches of W > 1 that is after the batch that passes the multiple.
        The probe's seed depends on the multiple alone, so a resumed run that
        lacks the probe of its checkpoint (a kill just after it) repeats it exactly.
        """
        every = self.settings.probe_every
        due = self.metagraph.iteration // every * every if every else 0
        if due == 0 or any(p["iteration"] == due for p in self.probes):
            return
        start = time.perf_counter()
        arch = probe_architecture(self.metagraph, self.settings.max_macs, self.settings.max_redraws)
        [result] = self.executor.evaluate(
            [Candidate(due, arch, probe_seed(self.metagraph.seed, due))]
        )
        probe = {
            "iteration": due,
            "accuracy": result.accuracy,
            "latency_ms": result.latency.median_ms if result.latency else None,
            "architecture_id": arch.id,
            "seconds": round(time.perf_counter() - start, 4),
            "error": result.error,
        }
        append_probe(self.run_dir, probe)
        self.probes.append(probe)
        self._log_probe(probe)
        log.info(
            "probe after iteration %d: accuracy %s, %.1f s%s",
            due,
            number(probe["accuracy"]),
            probe["seconds"],
            f" ({probe['error'].splitlines()[0]})" if probe["error"] else "",
            extra=PROGRESS,
        )

    def finish(self) -> None:
        """Derived architectures, level profile, summary, plots, and the loggers' final flush."""
        plots = [plot_edge_strengths(self.metagraph, self.run_dir / "edge_strengths.png")]
        if self.records:
            plots.append(plot_search_curves(self.records, self.run_dir / "search_curves.png"))
        if not self.metagraph.tried.any():  # no evidence: pruning would only echo the start
            profile_note = (
                "Not computed: the search tried no edge (no iterations, or every candidate "
                "skipped), so pruning has no evidence to derive models from."
            )
            log.warning("no derived architectures or level profile: the search tried no edge")
        else:
            derive_levels = [float(x) for x in self.settings.derive_levels]
            profiles = profile_levels(self.metagraph, sorted({*PROFILE_LEVELS, *derive_levels}))
            at_level = {p.level: p.architecture for p in profiles}
            for level in self.settings.derive_levels:
                at_level[float(level)].save(self.run_dir / f"architecture_{level}.json")
            profile_note = self._level_profile(profiles)
            plots.append(self.run_dir / f"{LEVEL_PROFILE}.png")
        write_summary(self.run_dir, self.metagraph, self.records, self.probes, profile_note)
        for logger in self.loggers:
            log_images(logger, plots)
            logger.finalize("success")

    def _level_profile(self, profiles: list[LevelProfile]) -> str:
        """MACs, parameters, nodes, edges (and latency, where a formula gives it) against prune level.

        The paper's Figure 5: how the derived model shrinks as the level rises.
        Writes the table and its plot; returns the note that describes them.
        """
        backend = self.executor.latency[0]
        with_latency = backend.name in FORMULA_LATENCY
        rows = []
        for profile in profiles:
            latency = backend.measure(profile.architecture).median_ms if with_latency else None
            rows.append({**profile.row(), "latency_ms": latency})
        latency_note = (
            f"latency from the search's `{backend.name}` backend"
            if with_latency
            else f"no latency: the search's `{backend.name}` backend measures (or may), too slow "
            "and noisy to repeat for every level"
        )
        note = (
            f"Models derived at each prune level (score `{DEFAULT_MODE}`) after "
            f"{self.metagraph.iteration} iterations; {latency_note}. Plot: {LEVEL_PROFILE}.png."
        )
        write_level_profile(self.run_dir, rows, note)
        plot_level_profile(
            rows,
            self.run_dir / f"{LEVEL_PROFILE}.png",
            "derived model size against prune level (dotted: the paper's levels)",
            PAPER_LEVELS,
        )
        return f"{note} Table: {LEVEL_PROFILE}.md."

    def _stop_if_every_first_candidate_failed(self, batch_size: int) -> None:
        """Stop once the first ``max_initial_failures`` candidates have all failed.

        Then the setup is broken (no device, a recipe that cannot train), not
        the candidates: going on would update the meta-graph from latency alone
        and report a meaningless search as a success. Checked once, by the batch
        that completes them, so a resumed run is not stopped again.
        """
        n = self.settings.max_initial_failures
        done = len(self.records)
        if not n or not done - batch_size < n <= done:
            return
        errors = [r["error"] for r in self.records[:n]]
        if all(errors):
            raise field_error(
                "search.max_initial_failures",
                f"the first {n} candidates all failed, the first with {errors[0]}",
                "fix the setup (proxy, trainer, latency, data) and start a new search",
            )

    def _warn(self) -> None:
        """Log each warning once per DAG and condition; a long search would repeat it every batch."""
        warnings = search_warnings(
            self.metagraph.convergence()["effective_edges"],
            self.metagraph.space.num_edges,
            self.metagraph.iteration,
        )
        for key, message in warnings.items():
            if key not in self.warned:
                self.warned.add(key)
                log.warning(message)

    def _start_loggers(self) -> None:
        """Give the loggers the config, and the metrics of every iteration done before this process.

        A resumed search's loggers start afresh (Lightning's CSVLogger deletes
        its metrics.csv), so they get the run's kept records and probes again,
        in the order they were logged: the log continues instead of restarting,
        and holds no line of an iteration that the checkpoint dropped.
        """
        for logger in self.loggers:
            if self.hyperparams is not None:
                logger.log_hyperparams(self.hyperparams)
        if not self.loggers or not self.records:
            return
        probes = sorted(self.probes, key=lambda p: p["iteration"])
        for record in self.records:
            self._log_metrics(record)
            while probes and probes[0]["iteration"] <= record["iteration"] + 1:
                self._log_probe(probes.pop(0))
        for logger in self.loggers:
            logger.save()

    def _log_probe(self, probe: dict[str, Any]) -> None:
        metrics = {f"search/probe_{k}": probe[k] for k in ("accuracy", "latency_ms")}
        for logger in self.loggers:
            logger.log_metrics(
                {k: v for k, v in metrics.items() if v is not None}, step=probe["iteration"]
            )

    def _log_metrics(self, record: dict[str, Any]) -> None:
        """The CSV's numbers, plus the per-DAG signals that a mean over DAGs hides."""
        keys = [k for k in CSV_COLUMNS if k not in ("iteration", "architecture_id", "status")]
        metrics = {f"search/{k}": float(record[k]) for k in keys if record[k] is not None}
        for name in PER_DAG_METRICS:
            for k, value in enumerate(record["convergence"][name]):
                metrics[f"search/dag{k}/{name}"] = float(value)
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
