"""Where candidates are evaluated: this process, a local process pool, or a Ray cluster."""

from gramnas.search.executors.base import Candidate, Evaluation, Executor, SerialExecutor
from gramnas.search.executors.local import LocalExecutor

__all__ = ["Candidate", "Evaluation", "Executor", "LocalExecutor", "SerialExecutor"]
