"""GRAM search: ``python src/search.py [+experiment=cifar10] [key=value ...]``.

Composes the config, instantiates data, space, latency, reward, loggers and the
executor that trains candidates (this process, a local pool, or Ray), and
hands them to :class:`gramnas.search.runner.GramSearch`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gramnas.cli import one_line_errors, print_config_tree
from gramnas.errors import GramError
from gramnas.metagraph import MetaGraph
from gramnas.search.runconfig import check_resume_config, record_changes, write_run_config
from gramnas.search.runner import (
    METAGRAPH_FILE,
    GramSearch,
    SearchSettings,
    lock_run_dir,
    refuse_existing_run,
)
from gramnas.training.data import ImageDataModule
from gramnas.training.proxy import ProxyTrainer


@hydra.main(version_base="1.3", config_path="../conf", config_name="search")
def main(cfg: DictConfig) -> None:
    with one_line_errors():
        print_config_tree(cfg)
        search(cfg)


def search(cfg: DictConfig) -> MetaGraph:
    """The whole search, holding its run directory from the first write to the last.

    Bad input stops it before the run directory changes: the search settings
    and a resume's config are checked here, the data, meta-graph, reward,
    latency, proxy recipe and trainer as :func:`search_in` builds them.
    """
    settings = search_settings(cfg)
    run_dir, resume = run_directory(cfg)
    with lock_run_dir(run_dir):
        changes = {}
        if resume:
            config = OmegaConf.to_container(cfg, resolve=True)
            changes = check_resume_config(run_dir, config, cfg.search.allow_changes)
        else:
            refuse_existing_run(run_dir)
        return search_in(cfg, settings, run_dir, resume, changes)


def search_in(
    cfg: DictConfig,
    settings: SearchSettings,
    run_dir: Path,
    resume: bool,
    changes: dict[str, list[Any]],
) -> MetaGraph:
    datamodule = instantiate(cfg.data)
    metagraph = resume_or_create(cfg, datamodule, run_dir, resume)
    proxy_data = datamodule.proxy_data(cfg.search.proxy_train, cfg.search.proxy_val, metagraph.seed)
    update = instantiate(cfg.callbacks.metagraph_update)(
        metagraph=metagraph, reward=instantiate(cfg.reward), advantage=instantiate(cfg.advantage)
    )
    candidate_callbacks = [
        instantiate(c) for key, c in cfg.callbacks.items() if key != "metagraph_update"
    ]
    latency = [instantiate(cfg.latency, **d) for d in cfg.search.latency_devices or [{}]]
    proxy = ProxyTrainer(proxy_data, instantiate(cfg.proxy))
    config = OmegaConf.to_container(cfg, resolve=True)
    with instantiate(
        cfg.executor, proxy=proxy, latency=latency, callbacks=candidate_callbacks
    ) as executor:
        if resume:
            record_changes(run_dir, metagraph.iteration, changes)
        else:
            write_run_config(run_dir, config)
        # Loggers write into the run directory, so that a resumed search continues its logs.
        in_run = OmegaConf.merge(cfg, {"paths": {"output_dir": str(run_dir)}})
        loggers = [instantiate(c) for c in (in_run.logger or {}).values()]
        GramSearch(
            metagraph, executor, update, settings, run_dir, loggers, hyperparams=config
        ).run()
    print(f"meta-graph: {run_dir / METAGRAPH_FILE}")
    return metagraph


def search_settings(cfg: DictConfig) -> SearchSettings:
    """The loop's settings, checked before anything is read or written."""
    search = OmegaConf.to_container(cfg.search, resolve=True)
    return SearchSettings(**{f.name: search[f.name] for f in fields(SearchSettings)})


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


def resume_or_create(
    cfg: DictConfig, datamodule: ImageDataModule, run_dir: Path, resume: bool
) -> MetaGraph:
    """The meta-graph of the run being resumed, or a fresh one for this data and space."""
    if resume:
        metagraph = MetaGraph.load(run_dir / METAGRAPH_FILE)
        space = metagraph.space
        if (space.in_channels, space.input_size, space.input_size) != datamodule.input_shape:
            raise GramError(
                f"search.resume: {run_dir} searched {space.in_channels}x{space.input_size}x"
                f"{space.input_size} inputs, but data gives {datamodule.input_shape}; use its data"
            )
        return metagraph
    space = instantiate(
        cfg.space,
        in_channels=datamodule.in_channels,
        input_size=datamodule.input_size,
        num_classes=datamodule.num_classes,
    )
    s = cfg.search
    return MetaGraph.create(
        space,
        seed=s.seed,
        alpha=s.alpha,
        beta=s.beta,
        beta_momentum=s.beta_momentum,
        density=s.density,
        pi_min=s.pi_min,
        pi_max=s.pi_max,
    )


if __name__ == "__main__":
    main()
