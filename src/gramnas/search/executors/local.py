"""A pool of worker processes on this machine: one per GPU, or one per group of CPU cores.

Each worker receives the proxy data once, when it starts, then trains the
candidates it is sent. A worker that dies mid-candidate (killed, out of
memory, a segfault in a kernel) is replaced, and its candidate is retried up
to ``max_retries`` times before it is recorded as failed. Latency is measured
in this process after the batch has trained, one candidate at a time, so
measurements neither overlap each other nor compete with training.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from multiprocessing.connection import Connection, wait
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from gramnas.errors import GramError, field_error
from gramnas.latency import LatencyBackend
from gramnas.search.candidate import Candidate, CandidateResult
from gramnas.search.executors.base import (
    SerialExecutor,
    measure_latency,
    train_candidate,
    worker_death,
)
from gramnas.training.proxy import Proxy


def _serve(
    conn: Connection,
    proxy: Proxy,
    callbacks: Sequence[Callback],
    threads: int,
    gpu: int | None,
    name: str,
) -> None:
    """A worker's life: train each candidate received until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search's to handle
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before CUDA initialises
    torch.set_num_threads(threads)
    conn.send(name)  # ready
    while (candidate := conn.recv()) is not None:
        conn.send(train_candidate(proxy, candidate, callbacks, name))


class _Worker:
    def __init__(self, context: Any, name: str, args: tuple[Any, ...]) -> None:
        self.name = name
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, *args, name), name=name, daemon=True
        )
        self.process.start()
        child.close()  # so that the worker's death reads as end-of-file here
        self.job: int | None = None

    def wait_ready(self) -> _Worker:
        try:
            self.conn.recv()
        except (EOFError, OSError):
            raise GramError(
                f"executor: {self.exit_reason()} while starting; run with executor=serial to see why"
            ) from None
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with suppress(OSError):  # already gone
            self.conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()

    def exit_reason(self) -> str:
        self.process.join(5.0)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"{self.name} was killed by signal {-code}"
        return f"{self.name} exited with code {code}"


def resolve_gpus(gpus: str | Sequence[int] | None) -> list[int] | None:
    if gpus is None:
        return None
    if gpus == "auto":
        gpus = list(range(torch.cuda.device_count()))
    if isinstance(gpus, str) or not all(isinstance(g, int) and g >= 0 for g in gpus) or not gpus:
        raise field_error(
            "executor.gpus",
            f"needs GPU indices or 'auto' with a visible GPU, got {gpus!r}",
            "use null to train on CPU cores",
        )
    return list(gpus)


class LocalExecutor(SerialExecutor):
    """``workers`` processes; with one worker, candidates train in this process (no pool)."""

    def __init__(
        self,
        proxy: Proxy,
        latency: LatencyBackend | Sequence[LatencyBackend],
        callbacks: Sequence[Callback] = (),
        workers: int = 1,
        max_retries: int = 2,
        threads: int | None = None,
        gpus: str | Sequence[int] | None = None,
        start_method: str = "spawn",
    ) -> None:
        super().__init__(proxy, latency, callbacks, workers, max_retries)
        cores = len(os.sched_getaffinity(0))
        self.threads = threads or max(1, cores // workers)
        self.gpus = resolve_gpus(gpus)
        self.context = mp.get_context(start_method)
        # Started now, so that a worker that cannot start fails before the search does.
        self.pool = [self._spawn(i) for i in range(workers)] if workers > 1 else []
        for worker in self.pool:
            worker.wait_ready()

    def evaluate(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        if self.workers == 1:
            return super().evaluate(candidates)
        self.proxy.prepare()  # here, not in each worker: they load what it left in the run directory
        trained = self._train(candidates)
        return [
            measure_latency(self.device_for(c), t) for c, t in zip(candidates, trained, strict=True)
        ]

    def _spawn(self, index: int) -> _Worker:
        gpu = None if self.gpus is None else self.gpus[index % len(self.gpus)]
        args = (self.proxy, self.callbacks, self.threads, gpu)
        return _Worker(self.context, f"local-{index}", args)

    def _train(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        queue = deque(range(len(candidates)))
        attempts = [0] * len(candidates)
        results: dict[int, CandidateResult] = {}
        while queue or any(w.job is not None for w in self.pool):
            for worker in self.pool:
                if worker.job is None and queue:
                    worker.job = queue.popleft()
                    attempts[worker.job] += 1
                    with suppress(OSError):  # died while idle: its sentinel is ready, handled below
                        worker.conn.send(candidates[worker.job])
            busy = [w for w in self.pool if w.job is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for index, worker in enumerate(self.pool):
                if worker.job is None or not {worker.conn, worker.process.sentinel} & ready:
                    continue
                job, worker.job = worker.job, None
                try:
                    result: CandidateResult = worker.conn.recv()
                except (EOFError, OSError):  # the worker died mid-candidate
                    reason = worker.exit_reason()
                    worker.stop()
                    self.pool[index] = self._spawn(index).wait_ready()
                    if attempts[job] <= self.max_retries:
                        queue.appendleft(job)
                    else:
                        results[job] = worker_death(candidates[job], attempts[job], reason)
                    continue
                result.attempts = attempts[job]
                results[job] = result
        return [results[i] for i in range(len(candidates))]

    def close(self) -> None:
        for worker in self.pool:
            worker.stop()
        self.pool = []
