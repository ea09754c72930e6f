"""A search from a composed config: what ``src/search.py`` and the benches build alike.

Like :mod:`gramnas.cli`, this module works on a Hydra ``DictConfig`` and is
imported only by the entry point and the benches; the rest of the library
takes plain values. A bench that composes ``conf/`` with its overrides and
builds here times the search that ``src/search.py`` would run, not a copy of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from gramnas.errors import GramError, field_error
from gramnas.latency import LatencyBackend
from gramnas.metagraph import MetaGraph
from gramnas.sampling import SamplerSettings
from gramnas.search.executors import Executor
from gramnas.search.runner import METAGRAPH_FILE, SearchSettings
from gramnas.search.update import MetaGraphUpdate
from gramnas.training.data import ImageDataModule
from gramnas.training.proxy import Proxy, ProxyTrainer
from gramnas.training.supernet_proxy import (
    SUPERNET_DIR,
    SupernetProxy,
    SupernetRecipe,
    supernet_data,
)
from gramnas.training.zero_cost import SynflowProxy, SynflowRecipe


@dataclass
class SearchParts:
    """A search's pieces; :meth:`executor` starts the workers, so the caller holds it as a context."""

    metagraph: MetaGraph
    update: MetaGraphUpdate
    proxy: Proxy
    latency: list[LatencyBackend]
    callbacks: list[Callback]  # attached to every candidate's Trainer
    settings: SearchSettings
    executor_config: DictConfig

    def executor(self) -> Executor:
        return instantiate(
            self.executor_config, proxy=self.proxy, latency=self.latency, callbacks=self.callbacks
        )


def compose_search_config(config_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """``conf/search.yaml`` with ``overrides``, as ``src/search.py`` composes it, for a bench."""
    with initialize_config_dir(str(config_dir), version_base="1.3"):
        return compose("search", overrides=list(overrides))


def search_settings(cfg: DictConfig) -> SearchSettings:
    """The loop's settings, checked before anything is read or written."""
    search = OmegaConf.to_container(cfg.search, resolve=True)
    return SearchSettings(**{f.name: search[f.name] for f in fields(SearchSettings)})


def build_search(cfg: DictConfig, resume_dir: Path | None = None) -> SearchParts:
    """Every piece of ``cfg``'s search: the meta-graph of ``resume_dir`` or a fresh one, its
    update callback, the proxy trainer with its proxy sets, the latency backends, the settings.

    Bad input fails here, before a run directory is written.
    """
    settings = search_settings(cfg)
    datamodule = instantiate(cfg.data)
    metagraph = load_or_create_metagraph(cfg, datamodule, resume_dir)
    run_dir = resume_dir or Path(cfg.paths.output_dir)  # as src/search.py chooses it
    proxy = build_proxy(instantiate_recipe(cfg.proxy), datamodule, metagraph, settings, run_dir)
    update = instantiate(cfg.callbacks.metagraph_update)(
        metagraph=metagraph, reward=instantiate(cfg.reward), advantage=instantiate(cfg.advantage)
    )
    callbacks = [instantiate(c) for key, c in cfg.callbacks.items() if key != "metagraph_update"]
    latency = [instantiate(cfg.latency, **d) for d in cfg.search.latency_devices or [{}]]
    return SearchParts(
        metagraph,
        update,
        proxy,
        latency,
        callbacks,
        settings,
        cfg.executor,
    )


def instantiate_recipe(proxy: DictConfig) -> Any:
    """``cfg.proxy``'s recipe; a setting that recipe lacks fails in one line naming it.

    ``debug=search`` sets the training proxies' sizes, which ``proxy=synflow`` has no use for.
    """
    recipe = get_class(proxy._target_)
    if is_dataclass(recipe):
        settings = {f.name for f in fields(recipe)}
        for key in proxy:
            if not str(key).startswith("_") and key not in settings:
                raise field_error(
                    f"proxy.{key}",
                    f"{recipe.__name__} has no such setting",
                    "remove it (debug=search sets it for the proxies that train; proxy=synflow"
                    " is fast without it)",
                )
    return instantiate(proxy)


def build_proxy(
    recipe: Any,
    datamodule: ImageDataModule,
    metagraph: MetaGraph,
    settings: SearchSettings,
    run_dir: Path,
) -> Proxy:
    """The proxy ``cfg.proxy`` describes, with its sets from the training split (seeded by the search)."""
    if isinstance(recipe, SupernetRecipe):
        return SupernetProxy(
            metagraph,
            supernet_data(datamodule, recipe, metagraph.seed),
            recipe,
            run_dir / SUPERNET_DIR,
            settings.max_macs,
            settings.max_redraws,
        )
    if isinstance(recipe, SynflowRecipe):
        return SynflowProxy(metagraph, recipe, settings.max_macs, settings.max_redraws)
    proxy_data = datamodule.proxy_data(recipe.train_size, recipe.val_size, metagraph.seed)
    return ProxyTrainer(proxy_data, recipe)


def load_or_create_metagraph(
    cfg: DictConfig, datamodule: ImageDataModule, resume_dir: Path | None
) -> MetaGraph:
    """The meta-graph of the run being resumed, or a fresh one for this data and space."""
    if resume_dir is not None:
        metagraph = MetaGraph.load(resume_dir / METAGRAPH_FILE)
        space = metagraph.space
        if (space.in_channels, space.input_size, space.input_size) != datamodule.input_shape:
            raise GramError(
                f"search.resume: {resume_dir} searched {space.in_channels}x{space.input_size}x"
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
    hyperparameters: dict[str, Any] = {
        name: s[name] for name in ("alpha", "beta", "beta_momentum", "density", "pi_min", "pi_max")
    }
    sampler = SamplerSettings(
        method=s.sampler,
        paths_per_dag=s.paths_per_dag,
        max_path_length=s.max_path_length,
        budget_range=s.budget_range,
    )
    return MetaGraph.create(space, seed=s.seed, sampler=sampler, **hyperparameters)
