"""What the entry points share: one-line errors instead of tracebacks, the config tree at start.

A command refused with one line leaves an existing output directory as it
found it: Hydra writes ``.hydra/`` and its log there, and this module the
config tree, before any check runs, so those files are put back.
"""

from __future__ import annotations

import errno
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from gramnas.errors import GramError, field_error

_WRITE_ELSEWHERE = "check its permissions or write elsewhere (hydra.run.dir, --out)"
FILE_SYSTEM_REFUSALS = {
    errno.EACCES: _WRITE_ELSEWHERE,
    errno.EPERM: _WRITE_ELSEWHERE,
    errno.EROFS: _WRITE_ELSEWHERE,
    errno.ENOSPC: "free some space or write elsewhere; an interrupted search resumes",
    errno.EDQUOT: "free some space or write elsewhere; an interrupted search resumes",
}
CONFIG_TREE_FILE = "config_tree.log"
LOG_WIDTH = 200  # where output is not a terminal: wide, so that YAML lines stay whole

HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes in .hydra/

# An existing output directory's files that this command rewrites before its checks, as they
# were (None: absent), so that a refusal can put them back; set by WritableOutput.
_before_this_command: dict[Path, bytes | None] = {}


def _gram_error_in(exc: BaseException) -> GramError | None:
    """The bad input that caused ``exc``, also when Hydra's instantiate wrapped it.

    A GramError, a mandatory config value left out (``???``), or a file system
    that refuses a write (read-only, full): the user's to fix, not a bug.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GramError):
            return exc
        if isinstance(exc, MissingMandatoryValue):
            return field_error(exc.full_key, "has no value", f"set {exc.full_key}=<value>")
        if isinstance(exc, OSError) and exc.errno in FILE_SYSTEM_REFUSALS:
            return GramError(f"{exc.filename}: {exc.strerror}; {FILE_SYSTEM_REFUSALS[exc.errno]}")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn bad input (a GramError, possibly wrapped) into ``error: ...`` and exit status 2.

    The output directory's Hydra files and config tree go back to what they were.
    """
    try:
        yield
    except Exception as exc:
        gram_error = _gram_error_in(exc)
        if gram_error is None:
            raise
        _restore(_before_this_command)
        print(f"error: {_message(gram_error)}", file=sys.stderr)
        sys.exit(2)
    finally:
        _before_this_command.clear()


@contextmanager
def fields_under(group: str, keys: Iterable[str]) -> Iterator[None]:
    """Name a config group's keys in full: the library's ``metagraph: ...`` is ``model.metagraph: ...``.

    The library names its parameters; only the entry point knows which config
    group (``keys``: the group's) passed them.
    """
    try:
        yield
    except Exception as exc:
        gram_error = _gram_error_in(exc)
        if gram_error is None or str(gram_error).split(":", 1)[0].split(".")[0] not in keys:
            raise
        raise GramError(f"{group}.{gram_error}") from None


def _message(error: GramError) -> str:
    """The error's one line; raised in a DataLoader worker, it comes back with the worker's
    traceback in front (``Caught GramError in DataLoader worker ...``), its own line last."""
    last = str(error).strip().splitlines()[-1:] or [""]
    return last[0].removeprefix(f"{GramError.__module__}.{GramError.__name__}: ")


def print_config_tree(cfg: DictConfig) -> None:
    """Show the resolved config as a tree, one branch per top-level key, and keep a copy.

    Printed where ``extras.print_config`` is true, once (by global rank 0 under
    DDP), and written to ``<output dir>/config_tree.log``. Off a terminal (a log
    file, SLURM) it prints plain text: no colours, no cropping.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only  # rank from the launcher's env

    if not cfg.get("extras", {}).get("print_config") or rank_zero_only.rank != 0:
        return
    tree = Tree("CONFIG", style="dim", guide_style="dim")
    for key, value in cfg.items():
        if OmegaConf.is_config(value):
            tree.add(str(key)).add(_yaml(OmegaConf.to_yaml(value, resolve=True)))
        else:
            tree.add(_yaml(OmegaConf.to_yaml({key: value})))
    _console().print(tree)
    output = Path(cfg.paths.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with open(output / CONFIG_TREE_FILE, "w") as file:
        _console(file).print(tree)


def _console(file: IO[str] | None = None) -> Console:
    """A terminal's own width and colours; plain and wide anywhere else."""
    console = Console(file=file)
    return console if console.is_terminal else Console(file=file, width=LOG_WIDTH)


def _yaml(text: str) -> Syntax:
    return Syntax(text.rstrip(), "yaml", word_wrap=True, background_color="default")


class WritableOutput(Callback):
    """Hydra callback: an output directory that cannot be written fails in one line.

    Hydra creates the directory and writes ``.hydra/`` before any entry point
    runs, so a read-only or missing parent would end in Hydra's traceback.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _before_this_command.clear()
        _before_this_command.update(_rewritten_files(config))
        _require_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _require_writable("hydra.sweep.dir", config.hydra.sweep.dir)


def _rewritten_files(config: DictConfig) -> dict[Path, bytes | None]:
    """The files of an existing run directory that a command writes before its checks, as they are.

    Hydra's ``.hydra/*.yaml`` and log, and the config tree. A new directory
    has nothing to keep.
    """
    directory = Path(config.hydra.run.dir)
    if not directory.is_dir() or not any(directory.iterdir()):
        return {}
    hydra = config.hydra
    names = [CONFIG_TREE_FILE, f"{hydra.job.name}.log"]
    if hydra.output_subdir:
        names += [f"{hydra.output_subdir}/{name}" for name in HYDRA_FILES]
    return {
        directory / name: (directory / name).read_bytes() if (directory / name).is_file() else None
        for name in names
    }


def _restore(files: dict[Path, bytes | None]) -> None:
    """Put ``files`` back as they were: rewritten ones to their bytes, new ones removed."""
    for path, content in files.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)
    for folder in {path.parent for path in files}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # .hydra/, where this command made it


def _require_writable(field: str, directory: str) -> None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as exc:
        print(f"error: {field}: cannot write to {directory} ({exc.strerror})", file=sys.stderr)
        sys.exit(2)
