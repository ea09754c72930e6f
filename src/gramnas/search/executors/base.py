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
from types import TracebackType

import torch
from lightning.pytorch.callbacks import Callback

from gramnas.errors import field_error, require_int
from gramnas.latency import LatencyBackend
from gramnas.search.candidate import Candidate, CandidateResult
from gramnas.training.proxy import Proxy


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def train_candidate(
    proxy: Proxy, candidate: Candidate, callbacks: Sequence[Callback], worker: str
) -> CandidateResult:
    """Proxy-train one candidate; a diverging or crashing candidate is a result, not a crash."""
    try:
        run = proxy.train(candidate.architecture, candidate.seed, callbacks)
    except Exception as exc:
        return CandidateResult(candidate, error=describe(exc), worker=worker)
    return CandidateResult(candidate, run.accuracy, timings=run.timings, worker=worker)


def measure_latency(backend: LatencyBackend, result: CandidateResult) -> CandidateResult:
    """Measure the candidate's latency into ``result``; a failed measurement is its error unless training failed first."""
    start = time.perf_counter()
    try:
        with torch.no_grad():
            result.latency = backend.measure(result.architecture)
    except Exception as exc:
        result.error = result.error or describe(exc)
    result.timings["latency"] = time.perf_counter() - start
    return result


def worker_death(candidate: Candidate, attempts: int, reason: str) -> CandidateResult:
    error = f"WorkerDied: {reason} ({attempts} attempts)"
    return CandidateResult(candidate, error=error, worker="dead", attempts=attempts)


class Executor(ABC):
    """Evaluates batches of candidates; a context manager that releases its workers on exit.

    ``latency`` holds one backend per measuring device (one phone each, say):
    candidate of iteration t is measured on device ``t % len(latency)``, and
    no device ever measures two candidates at once.
    """

    trains_here = True  # candidates train on this machine, so its Trainer settings can be checked

    def __init__(
        self,
        proxy: Proxy,
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
    def evaluate(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        """One result per candidate, in the candidates' order: accuracy and latency, or the error."""

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

    def evaluate(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        self.proxy.prepare()
        return [
            measure_latency(
                self.device_for(c), train_candidate(self.proxy, c, self.callbacks, "main")
            )
            for c in candidates
        ]
