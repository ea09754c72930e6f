"""Candidates on a Ray cluster: one actor per training slot, one actor per latency device.

Training actors receive the proxy data once, when they start (through the
object store), and then only architectures. A latency actor runs one
measurement at a time (a phone, or a quiet measuring host), and measures each
candidate while it trains, since latency depends on the architecture alone.
An actor that dies mid-candidate is replaced and the candidate retried up to
``max_retries`` times, then recorded as failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from gramnas.errors import GramError, field_error
from gramnas.latency import LatencyBackend
from gramnas.search.candidate import Candidate, CandidateResult
from gramnas.search.executors.base import (
    Executor,
    measure_latency,
    train_candidate,
    worker_death,
)
from gramnas.training.proxy import Proxy


class TrainingActor:
    def __init__(
        self, proxy: Proxy, callbacks: Sequence[Callback], threads: int, name: str
    ) -> None:
        torch.set_num_threads(threads)
        self.proxy, self.callbacks, self.name = proxy, callbacks, name

    def ready(self) -> str:
        return self.name

    def train(self, candidate: Candidate) -> CandidateResult:
        return train_candidate(self.proxy, candidate, self.callbacks, self.name)


class LatencyActor:
    def __init__(self, backend: LatencyBackend) -> None:
        self.backend = backend

    def measure(self, candidate: Candidate) -> CandidateResult:
        """A result that holds only the latency: it is measured while the candidate trains."""
        return measure_latency(self.backend, CandidateResult(candidate))


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise GramError("executor=ray: Ray is not installed; pip install 'gramnas[ray]'") from None
    return ray


class RayExecutor(Executor):
    """``workers`` training actors, each holding ``num_cpus`` CPUs and ``num_gpus`` GPUs."""

    trains_here = False  # the actors' nodes may have GPUs that this one lacks

    def __init__(
        self,
        proxy: Proxy,
        latency: LatencyBackend | Sequence[LatencyBackend],
        callbacks: Sequence[Callback] = (),
        workers: int = 1,
        max_retries: int = 2,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        latency_num_cpus: float = 0,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(proxy, latency, callbacks, workers, max_retries)
        for name, value in (
            ("num_cpus", num_cpus),
            ("num_gpus", num_gpus),
            ("latency_num_cpus", latency_num_cpus),
        ):
            if not isinstance(value, (int, float)) or value < 0:
                raise field_error(f"executor.{name}", f"must be a number >= 0, got {value!r}")
        self.ray = ray = import_ray()
        self.started_ray = not ray.is_initialized()
        self.trainers: list[Any] = []
        self.meters: list[Any] = []
        try:
            if self.started_ray:  # address None starts a local instance; "auto" joins a running one
                ray.init(address=address, **{"log_to_driver": False, **(init or {})})
            self.threads = max(1, int(num_cpus))
            self.trainer_class = ray.remote(TrainingActor).options(
                num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0
            )
            self.shared_proxy = ray.put(proxy)  # stored once; each actor fetches it once
            self.shared_callbacks = ray.put(list(callbacks))
            self.trainers = [self._trainer(i) for i in range(workers)]
            meter = ray.remote(LatencyActor).options(num_cpus=latency_num_cpus, max_restarts=-1)
            self.meters = [meter.remote(backend) for backend in self.latency]
            ray.get([trainer.ready.remote() for trainer in self.trainers])  # started, data loaded
        except Exception:
            self.close()
            raise

    def _trainer(self, slot: int) -> Any:
        return self.trainer_class.remote(
            self.shared_proxy, self.shared_callbacks, self.threads, f"ray-{slot}"
        )

    def evaluate(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        self.proxy.prepare()  # here: the actors load what it left in the run directory
        ray = self.ray
        measuring = [self.meters[self.device_index(c)].measure.remote(c) for c in candidates]
        attempts = [0] * len(candidates)
        running: dict[Any, tuple[int, Any]] = {}

        def submit(i: int) -> None:
            attempts[i] += 1
            actor = self.trainers[i % self.workers]
            running[actor.train.remote(candidates[i])] = (i, actor)

        for i in range(len(candidates)):
            submit(i)
        trained: dict[int, CandidateResult] = {}
        while running:
            [ref], _ = ray.wait(list(running), num_returns=1)
            i, actor = running.pop(ref)
            try:
                trained[i] = ray.get(ref)
                trained[i].attempts = attempts[i]
            except ray.exceptions.RayActorError as exc:  # the actor's process died
                slot = i % self.workers
                if self.trainers[slot] is actor:  # not yet replaced for an earlier failure
                    ray.kill(actor, no_restart=True)
                    self.trainers[slot] = self._trainer(slot)
                if attempts[i] <= self.max_retries:
                    submit(i)
                else:
                    trained[i] = worker_death(
                        candidates[i], attempts[i], f"ray-{slot}: {type(exc).__name__}"
                    )
        return [self._add_latency(trained[i], ref) for i, ref in enumerate(measuring)]

    def _add_latency(self, result: CandidateResult, measuring: Any) -> CandidateResult:
        """The latency actor's measurement into the trained result; one that died (Ray restarts it) leaves none."""
        try:
            measured: CandidateResult = self.ray.get(measuring)
        except self.ray.exceptions.RayActorError as exc:
            measured = CandidateResult(
                result.candidate,
                error=f"LatencyDeviceDied: {type(exc).__name__}",
                timings={"latency": 0.0},
            )
        result.latency = measured.latency
        result.error = result.error or measured.error
        result.timings["latency"] = measured.timings["latency"]
        return result

    def close(self) -> None:
        for actor in [*self.trainers, *self.meters]:
            self.ray.kill(actor)
        self.trainers, self.meters = [], []
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()
