"""GRAM search: ``python src/search.py [+experiment=cifar10] [key=value ...]``.

Composes the config, has :func:`gramnas.search.build.build_search` build the
search from it (as the benches do), starts the executor that trains candidates
(this process, a local pool, or Ray) and the loggers, and hands them to
:class:`gramnas.search.runner.GramSearch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gramnas.cli import one_line_errors, print_config_tree
from gramnas.errors import GramError
from gramnas.metagraph import MetaGraph
from gramnas.search.build import build_search, search_settings
from gramnas.search.runconfig import check_resume_config, record_changes, write_run_config
from gramnas.search.runner import METAGRAPH_FILE, GramSearch, lock_run_dir, refuse_existing_run


@hydra.main(version_base="1.3", config_path="../conf", config_name="search")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        print_config_tree(cfg)
        search(cfg)


def search(cfg: DictConfig) -> MetaGraph:
    """The whole search, holding its run directory from the first write to the last.

    Bad input stops it before the run directory changes: the search settings
    and a resume's config are checked here, the data, meta-graph, reward,
    latency, proxy recipe and trainer as :func:`build_search` builds them.
    """
    search_settings(cfg)  # bad settings fail before the run directory is locked
    run_dir, resume = run_directory(cfg)
    with lock_run_dir(run_dir):
        changes = {}
        if resume:
            config = OmegaConf.to_container(cfg, resolve=True)
            changes = check_resume_config(run_dir, config, cfg.search.allow_changes)
        else:
            refuse_existing_run(run_dir)
        return search_in(cfg, run_dir, resume, changes)


def search_in(
    cfg: DictConfig, run_dir: Path, resume: bool, changes: dict[str, list[Any]]
) -> MetaGraph:
    parts = build_search(cfg, run_dir if resume else None)
    config = OmegaConf.to_container(cfg, resolve=True)
    with parts.executor() as executor:
        if resume:
            record_changes(run_dir, parts.metagraph.iteration, changes)
        else:
            write_run_config(run_dir, config)
        # Loggers write into the run directory, so that a resumed search continues its logs.
        in_run = OmegaConf.merge(cfg, {"paths": {"output_dir": str(run_dir)}})
        loggers = [instantiate(c) for c in (in_run.logger or {}).values()]
        GramSearch(
            parts.metagraph,
            executor,
            parts.update,
            parts.settings,
            run_dir,
            loggers,
            hyperparams=config,
        ).run()
    print(f"meta-graph: {run_dir / METAGRAPH_FILE}")
    return parts.metagraph


def run_directory(cfg: DictConfig) -> tuple[Path, bool]:
    """Where the search writes, and whether it continues a run there.

    ``search.resume=auto`` continues the output directory's own run if it has
    one: a cluster job requeued after a timeout picks up where it stopped.
    """
    resume = cfg.search.resume
    if resume == "auto":
        run_dir = Path(cfg.paths.output_dir)
        return run_dir, (run_dir / METAGRAPH_FILE).is_file()
    if resume and not (Path(resume) / METAGRAPH_FILE).is_file():
        raise GramError(
            f"search.resume: {resume} holds no {METAGRAPH_FILE}; pass a search run directory"
        )
    return Path(resume or cfg.paths.output_dir), bool(resume)


if __name__ == "__main__":
    main()
