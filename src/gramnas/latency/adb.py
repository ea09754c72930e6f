"""Android phones over ADB: push a ``.tflite`` file, run TFLite's ``benchmark_model`` there.

``benchmark_model`` must already be on the phone (``adb push benchmark_model
/data/local/tmp/``, from TensorFlow's releases or a source build). It reports a
mean and a standard deviation in microseconds, no median: the result carries
the mean with ``statistic="mean"``. One measurement runs at a time per phone,
across threads and processes (a lock file per serial, in a directory of this
user's). ``adb shell`` hands its words to the phone's shell, so every word is
quoted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError, field_error
from gramnas.latency.base import RUNS, WARMUP, LatencyBackend, LatencyResult, resolve_model

_STATS = re.compile(
    r"count=(\d+)\s+first=(\d+)\s+curr=(\d+)\s+min=(\d+)\s+max=(\d+)\s+avg=([\d.e+]+)\s+std=(\d+)"
)
_THREAD_LOCKS: dict[str, threading.Lock] = {}


@dataclass(frozen=True)
class BenchmarkStats:
    """The steady-state line of benchmark_model, in microseconds."""

    count: int
    first_us: float
    min_us: float
    max_us: float
    avg_us: float
    std_us: float


def parse_benchmark_output(text: str) -> BenchmarkStats:
    """The last ``count=... avg=... std=...`` line: the timed runs (the first is the warm-up)."""
    matches = _STATS.findall(text)
    if not matches:
        tail = " | ".join(text.strip().splitlines()[-3:])
        raise GramError(
            f"latency (adb): benchmark_model printed no timing line; its output ended: {tail}"
        )
    count, first, _curr, low, high, avg, std = matches[-1]
    return BenchmarkStats(int(count), float(first), float(low), float(high), float(avg), float(std))


def lock_dir() -> Path:
    """This user's directory for lock files: in the shared temp directory anyone could plant a symlink."""
    path = Path(tempfile.gettempdir()) / f"gramnas-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise GramError(f"{path}: not a private directory of this user; remove it")
    return path


@contextlib.contextmanager
def device_lock(serial: str) -> Iterator[None]:
    """One measurement at a time per phone: a thread lock and a lock file per serial.

    The lock file is opened without following a symlink and never truncated.
    """
    thread_lock = _THREAD_LOCKS.setdefault(serial, threading.Lock())
    path = lock_dir() / f"adb-{re.sub(r'[^A-Za-z0-9_.-]', '_', serial)}.lock"
    with thread_lock:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise GramError(f"{path}: cannot open the phone's lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def device_path(field: str, value: str) -> str:
    """An absolute path on the phone: the words around it in ``adb shell`` assume one."""
    if not value.startswith("/") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise field_error(
            field,
            f"must be an absolute path on the phone without control characters, got {value!r}",
        )
    return value


class AdbBackend(LatencyBackend):
    name = "adb"

    def __init__(
        self,
        serial: str | None = None,
        adb: str = "adb",
        binary: str = "/data/local/tmp/benchmark_model",
        device_dir: str = "/data/local/tmp",
        threads: int = 1,
        use_gpu: bool = False,
        warmup_runs: int = WARMUP,
        num_runs: int = RUNS,
        extra_args: Sequence[str] = (),
        timeout_s: float = 300.0,
    ) -> None:
        self.serial = serial
        self.adb = adb
        self.binary = device_path("latency.binary", binary)
        self.device_dir = device_path("latency.device_dir", device_dir).rstrip("/")
        self.threads = threads
        self.use_gpu = use_gpu
        self.warmup_runs = warmup_runs
        self.num_runs = num_runs
        self.extra_args = list(extra_args)
        self.timeout_s = timeout_s

    # --- commands -----------------------------------------------------------------------

    def adb_command(self, serial: str | None, *args: str) -> list[str]:
        return [self.adb, *(["-s", serial] if serial else []), *args]

    def shell_command(self, serial: str, *words: str) -> list[str]:
        """``adb shell`` joins its arguments into one line for the phone's shell: quote each word."""
        return self.adb_command(serial, "shell", shlex.join(words))

    def benchmark_command(self, serial: str, remote_model: str) -> list[str]:
        return self.shell_command(
            serial,
            self.binary,
            f"--graph={remote_model}",
            f"--num_threads={self.threads}",
            f"--use_gpu={str(self.use_gpu).lower()}",
            f"--warmup_runs={self.warmup_runs}",
            f"--num_runs={self.num_runs}",
            *self.extra_args,
        )

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise GramError(
                f"latency (adb): {' '.join(command[:4])} ... did not finish in {self.timeout_s} s"
            ) from None

    # --- device checks ------------------------------------------------------------------

    def resolve_device(self) -> str:
        """The serial to use, or a one-line error saying what is wrong with the attached phones."""
        if shutil.which(self.adb) is None:
            raise field_error(
                "latency.adb",
                f"{self.adb!r} not found",
                "apt-get install adb, or set latency.adb=/path/to/adb",
            )
        listing = self._run(self.adb_command(None, "devices")).stdout
        attached = [
            line.split()[0] for line in listing.splitlines()[1:] if line.strip().endswith("device")
        ]
        if self.serial:
            if self.serial not in attached:
                raise field_error(
                    "latency.serial",
                    f"phone {self.serial!r} is not attached",
                    f"attached: {attached or 'none'}",
                )
            return self.serial
        if not attached:
            raise field_error(
                "latency.serial",
                "no phone is attached",
                "connect one with USB debugging on (adb devices)",
            )
        if len(attached) > 1:
            raise field_error(
                "latency.serial",
                f"{len(attached)} phones are attached: {attached}",
                "choose one with latency.serial=...",
            )
        return attached[0]

    # --- measuring ----------------------------------------------------------------------

    def measure_file(self, tflite_path: str | Path) -> LatencyResult:
        """Push a ``.tflite`` file and benchmark it on the phone."""
        serial = self.resolve_device()
        remote = f"{self.device_dir}/{Path(tflite_path).name}"
        with device_lock(serial):
            if self._run(self.shell_command(serial, "test", "-x", self.binary)).returncode != 0:
                raise field_error(
                    "latency.binary",
                    f"{self.binary} is not an executable on phone {serial}",
                    f"adb push benchmark_model {self.device_dir}/ and chmod +x it",
                )
            pushed = self._run(self.adb_command(serial, "push", str(tflite_path), remote))
            if pushed.returncode != 0:
                raise GramError(
                    f"latency (adb): pushing to {serial} failed: {pushed.stderr.strip()[:200]}"
                )
            output = self._run(self.benchmark_command(serial, remote))
        stats = parse_benchmark_output(output.stdout + output.stderr)
        model_name = self._run(
            self.shell_command(serial, "getprop", "ro.product.model")
        ).stdout.strip()
        return LatencyResult(
            median_ms=stats.avg_us / 1e3,
            p90_ms=None,
            runs=stats.count,
            backend=self.name,
            device=f"{model_name or 'android'} ({serial}, {'GPU' if self.use_gpu else 'CPU'})",
            runtime_version="TFLite benchmark_model",
            threads=self.threads,
            std_ms=stats.std_us / 1e3,
            statistic="mean",
        )

    def measure(
        self,
        model_or_architecture: nn.Module | Architecture,
        input_shape: tuple[int, ...] | None = None,
    ) -> LatencyResult:
        from gramnas.latency.tflite import convert_to_tflite

        model, shape = resolve_model(model_or_architecture, input_shape)
        self.resolve_device()  # fail fast, before a conversion of several seconds
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "gramnas_model.tflite"
            path.write_bytes(convert_to_tflite(model, shape))
            return self.measure_file(path)
