"""The config a search run was started with, and what a resume may change of it.

A fresh search writes its resolved config to ``<run>/config.yaml`` once, before
its first checkpoint; nothing rewrites it. A resume composes its config from
its own command line again, so it is compared with the run's: a key that
defines the search (space, seed, update, reward, advantage, latency, proxy
recipe and sets, data) must be the same, or named in ``search.allow_changes``.
An allowed change is logged and appended to ``<run>/config_changes.jsonl``,
which later resumes read on top of ``config.yaml``. Keys that only say how or
how long the run goes on (iterations, executor, loggers, paths) change freely.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from gramnas.errors import GramError, field_error
from gramnas.jsonio import write_text_atomic
from gramnas.search.logs import CONFIG_CHANGES, append_config_change, read_jsonl

CONFIG = "config.yaml"
# Keys (or whole groups) that never define the search's result.
CHANGEABLE = (
    "search.iterations",
    "search.resume",
    "search.allow_changes",
    "search.max_initial_failures",
    "search.derive_levels",
    "search.probe_every",
    "data.num_workers",
    "data.download",
    "executor",
    "logger",
    "paths",
    "extras",
    "task_name",
    "tags",
)
# Held by metagraph.json itself: a resume keeps the file's values whatever the config says.
HELD_BY_METAGRAPH = (
    "space",
    "search.seed",
    "search.alpha",
    "search.beta",
    "search.beta_momentum",
    "search.density",
    "search.pi_min",
    "search.pi_max",
    "search.sampler",
    "search.paths_per_dag",
    "search.max_path_length",
    "search.budget_range",
)

# Keys renamed since a run was stored ({old: new}): a stored run reads as if written today.
RENAMED = {
    "data.image_size": "data.input_size",
    "search.proxy_train": "proxy.train_size",
    "search.proxy_val": "proxy.val_size",
}

# Keys added since a run was stored, with the value that behaves as the run did.
ADDED = {
    "data.flips": True,  # ImageFolder data flipped in full training before the key existed
    "search.sampler": "independent",  # the paper's draw was the only one
    "search.paths_per_dag": 1.5,
    "search.max_path_length": 8,
    "search.budget_range": 20.0,
}

log = logging.getLogger(__name__)


def write_run_config(run_dir: Path, config: Mapping[str, Any]) -> None:
    """A fresh run's resolved config, written before its first checkpoint."""
    write_text_atomic(run_dir / CONFIG, OmegaConf.to_yaml(dict(config)))


def check_resume_config(
    run_dir: Path, config: Mapping[str, Any], allow: str | Iterable[str] | None
) -> dict[str, list[Any]]:
    """The allowed changes ``{key: [run's value, this value]}`` of a resume; a GramError for any other.

    Runs without ``config.yaml`` (written by the library, not ``src/search.py``)
    have nothing to compare with and resume unchecked.
    """
    allow = [allow] if isinstance(allow, str) else list(allow or [])
    stored = run_config(run_dir)
    if stored is None:
        log.warning("%s has no %s: resuming without checking the config", run_dir, CONFIG)
        return {}
    current = flatten(config)
    compared = {
        key: [stored.get(key, ADDED.get(key)), current.get(key)] for key in stored | current
    }
    changes = {
        key: values
        for key, values in sorted(compared.items())
        if not _under(key, CHANGEABLE) and not _same(*values)
    }
    refused = {
        key: values
        for key, values in changes.items()
        if not _under(key, allow) or _under(key, HELD_BY_METAGRAPH)
    }
    if refused:
        differences = ", ".join(f"{k}={new!r} (run: {old!r})" for k, (old, new) in refused.items())
        held = [key for key in refused if _under(key, HELD_BY_METAGRAPH)]
        allowable = [key for key in refused if key not in held]
        fix = "resume with the run's values"
        if allowable:
            fix += f", or allow a change with search.allow_changes=[{','.join(allowable)}]"
        if held:
            fix += f" ({', '.join(held)}: held by its metagraph.json, never changed)"
        raise field_error(
            "search.resume", f"{run_dir} was searched with other settings: {differences}", fix
        )
    return changes


def record_changes(run_dir: Path, iteration: int, changes: Mapping[str, list[Any]]) -> None:
    """Log the allowed changes of a resume and keep them with the run."""
    if not changes:
        return
    for key, (old, new) in changes.items():
        log.warning("resume at iteration %d changes %s from %r to %r", iteration, key, old, new)
    append_config_change(run_dir, {"iteration": iteration, "changes": dict(changes)})


def run_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's config, flattened to dotted keys: ``config.yaml`` and every allowed change since."""
    path = run_dir / CONFIG
    if not path.is_file():
        return None
    try:
        config = flatten(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise GramError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    for entry in read_jsonl(run_dir / CONFIG_CHANGES):
        config.update({key: new for key, (_, new) in entry["changes"].items()})
    return {RENAMED.get(key, key): value for key, value in config.items()}


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(f"{p}.") for p in prefixes)


def _same(old: Any, new: Any) -> bool:
    """Equal values, or two spellings of one path (``data/x`` and ``/work/data/x``)."""
    if old == new:
        return True
    if isinstance(old, str) and isinstance(new, str) and old and new:
        return Path(old).expanduser().resolve() == Path(new).expanduser().resolve()
    return False
