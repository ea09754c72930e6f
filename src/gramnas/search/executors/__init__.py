"""Where candidates are evaluated: this process, a local process pool, or a Ray cluster."""

from gramnas.search.candidate import Candidate, CandidateResult
from gramnas.search.executors.base import Executor, SerialExecutor
from gramnas.search.executors.local import LocalExecutor

__all__ = ["Candidate", "CandidateResult", "Executor", "LocalExecutor", "SerialExecutor"]
