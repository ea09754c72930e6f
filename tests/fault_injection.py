"""A Lightning callback that kills the process training a candidate: a worker dying mid-candidate.

It lives in its own module so that pool and Ray workers can import it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class KillWorker(Callback):
    """SIGKILLs the training process the first ``times`` times any candidate starts training.

    Kills are counted with marker files created atomically in ``marker_dir``,
    which every worker process shares.
    """

    def __init__(self, marker_dir: str, times: int = 1) -> None:
        self.marker_dir = marker_dir
        self.times = times

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        Path(self.marker_dir).mkdir(parents=True, exist_ok=True)
        for kill in range(self.times):
            try:
                os.close(os.open(Path(self.marker_dir) / f"kill-{kill}", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            os.kill(os.getpid(), signal.SIGKILL)
