"""What an executor does: evaluate a batch of candidates and return results in sample order.

The search samples W candidates from one meta-graph, hands them to an
executor, then applies the W updates in sample order. Executors differ only in
where proxy training and latency measurement run (this process, a local
process pool, a Ray cluster), so a batch's results depend on the seeds and the
torch thread count, not on the executor.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

import torch
from lightning.pytorch.callbacks import Callback

from gramnas.architecture import Architecture
from gramnas.errors import field_error, require_int
from gramnas.latency import LatencyBackend, LatencyResult
from gramnas.training.proxy import ProxyTrainer


@dataclass(frozen=True)
class Candidate:
    iteration: int
    architecture: Architecture
    seed: int  # torch seed of its proxy training


@dataclass
class Trained:
    """A candidate's proxy training: its accuracy, or the error that ended it."""

    accuracy: float | None
    error: str | None
    timings: dict[str, float]
    worker: str
    attempts: int = 1


@dataclass
class Measured:
    latency: LatencyResult | None
    error: str | None
    seconds: float


@dataclass
class Evaluation:
    """What the search needs of one candidate: accuracy (None: training failed) and latency."""

    accuracy: float | None
    latency: LatencyResult | None
    error: str | None
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = "main"
    attempts: int = 1

    @classmethod
    def of(cls, trained: Trained, measured: Measured) -> Evaluation:
        return cls(
            accuracy=trained.accuracy,
            latency=measured.latency,
            error=trained.error or measured.error,
            timings={**trained.timings, "latency": measured.seconds},
            worker=trained.worker,
            attempts=trained.attempts,
        )


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def train_candidate(
    proxy: ProxyTrainer, candidate: Candidate, callbacks: Sequence[Callback], worker: str
) -> Trained:
    """Proxy-train one candidate; a diverging or crashing candidate is a result, not a crash."""
    try:
        run = proxy.train(candidate.architecture, candidate.seed, callbacks)
    except Exception as exc:
        return Trained(None, describe(exc), {}, worker)
    return Trained(run.accuracy, None, run.timings, worker)


def measure_latency(backend: LatencyBackend, arch: Architecture) -> Measured:
    start = time.perf_counter()
    try:
        with torch.no_grad():
            latency = backend.measure(arch)
    except Exception as exc:
        return Measured(None, describe(exc), time.perf_counter() - start)
    return Measured(latency, None, time.perf_counter() - start)


def worker_death(attempts: int, reason: str) -> Trained:
    return Trained(None, f"WorkerDied: {reason} ({attempts} attempts)", {}, "dead", attempts)


class Executor(ABC):
    """Evaluates batches of candidates; a context manager that releases its workers on exit.

    ``latency`` holds one backend per measuring device (one phone each, say):
    candidate of iteration t is measured on device ``t % len(latency)``, and
    no device ever measures two candidates at once.
    """

    trains_here = True  # candidates train on this machine, so its Trainer settings can be checked

    def __init__(
        self,
        proxy: ProxyTrainer,
        latency: LatencyBackend | Sequence[LatencyBackend],
        callbacks: Sequence[Callback] = (),
        workers: int = 1,
        max_retries: int = 2,
    ) -> None:
        require_int("executor.workers", workers, 1)
        require_int("executor.max_retries", max_retries, 0)
        if self.trains_here:
            proxy.check_trainer()
        self.proxy = proxy
        self.latency = [latency] if isinstance(latency, LatencyBackend) else list(latency)
        if not self.latency:
            raise field_error("search.latency_devices", "is empty", "give at least one device")
        self.callbacks = list(callbacks)
        self.workers = workers
        self.max_retries = max_retries

    def device_index(self, candidate: Candidate) -> int:
        return candidate.iteration % len(self.latency)

    def device_for(self, candidate: Candidate) -> LatencyBackend:
        return self.latency[self.device_index(candidate)]

    @abstractmethod
    def evaluate(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        """One evaluation per candidate, in the candidates' order."""

    def close(self) -> None:  # noqa: B027 - an executor without workers has nothing to release
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SerialExecutor(Executor):
    """Everything in this process, one candidate after another: the paper's loop when W = 1.

    With W > 1 it reproduces a parallel search's batches without workers
    (useful to debug one, or to check that a pool changes nothing).
    """

    def evaluate(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        return [
            Evaluation.of(
                train_candidate(self.proxy, c, self.callbacks, "main"),
                measure_latency(self.device_for(c), c.architecture),
            )
            for c in candidates
        ]
