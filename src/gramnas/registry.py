"""Named models, as torchvision and timm keep them: ``create_model("swiftnet_0.4_1.5")``.

A SwiftNet name fixes how it is cut from a meta-graph: ``swiftnet_<L>_<U>``
is prune level L and channel up-scale U (paper Table 1, 32x32 input);
``swiftnet_<R>_<L>_<U>`` adds a stride-2 stem for R x R input (paper Table 3).
The input shape and classes come from the data at creation time, so the same
meta-graph adapts to any dataset without a new search. The baselines are
named too: ``mobilenetv2_035`` (torchvision's, ImageNet strides) and
``mobilenetv2_cifar_<width>`` (:mod:`gramnas.mobilenet`, for 32x32 input).
The named ``conf/model/*.yaml`` files instantiate :func:`create_model` by name,
so this list is the one source of each variant's settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError, field_error
from gramnas.metagraph import MetaGraph
from gramnas.model import build_model
from gramnas.pruning import DEFAULT_MODE, LevelProfile, profile_levels
from gramnas.space import SearchSpace

METAGRAPHS_DIR = Path(__file__).parent / "metagraphs"
DEFAULT_METAGRAPH = "cifar10-paper-gamma1"


@dataclass(frozen=True)
class SwiftNetSpec:
    """How a named SwiftNet is cut from its meta-graph; input and classes may change at creation."""

    level: float
    upscale: float = 1.0
    max_channels: int | None = None
    stem: tuple[int, ...] = ()
    input_size: int | None = None  # the resolution the variant is meant for; None: the meta-graph's
    num_classes: int | None = None
    metagraph: str = DEFAULT_METAGRAPH

    def build(self, **overrides: Any) -> nn.Module:
        return swiftnet(**{**dataclasses.asdict(self), **overrides})


@dataclass(frozen=True)
class MobileNetSpec:
    """A MobileNetV2 baseline: torchvision's (ImageNet strides) or gramnas.mobilenet's for 32x32 input."""

    width_mult: float
    cifar: bool = False

    def build(self, **overrides: Any) -> nn.Module:
        if self.cifar:
            from gramnas.mobilenet import cifar_mobilenet_v2 as factory  # imports torchvision
        else:
            factory = mobilenet_v2
        return factory(**{"width_mult": self.width_mult, **overrides})


def variant_name(level: float, upscale: float, resolution: int | None = None) -> str:
    """``swiftnet_0.4_1.5``, ``swiftnet_96_0.5_1.0``: up-scale printed with one or two decimals."""
    prefix = f"swiftnet_{resolution}_" if resolution else "swiftnet_"
    scale = f"{upscale:.2f}".rstrip("0")
    return f"{prefix}{level:g}_{scale}0" if scale.endswith(".") else f"{prefix}{level:g}_{scale}"


_MODELS: dict[str, SwiftNetSpec | MobileNetSpec] = {}
for _level in (0.3, 0.4, 0.5, 0.65):
    for _up in (1.0, 1.25, 1.5):
        _MODELS[variant_name(_level, _up)] = SwiftNetSpec(_level, _up)
for _res in (96, 128):
    for _level in (0.4, 0.5):
        for _up in (1.0, 1.5):
            _MODELS[variant_name(_level, _up, _res)] = SwiftNetSpec(
                _level, _up, stem=(32,), input_size=_res, num_classes=1000
            )
_MODELS["mobilenetv2_035"] = MobileNetSpec(0.35)  # timm's name for torchvision's width 0.35
for _width in (0.25, 0.35, 0.5, 0.75, 1.0):
    _MODELS[f"mobilenetv2_cifar_{_width:g}"] = MobileNetSpec(_width, cifar=True)


def list_models(pattern: str | None = None, pretrained: bool = False) -> list[str]:
    """Every name :func:`create_model` knows, sorted; ``pattern`` keeps those it matches (``swiftnet_96_*``).

    ``pretrained=True`` lists the published weights instead, ``<model>.<dataset>``: the
    package's and those of the folders in ``$GRAMNAS_WEIGHTS_PATH``.
    """
    from gramnas.pretrained import pretrained_weights

    names = sorted(pretrained_weights() if pretrained else _MODELS)
    return fnmatch.filter(names, pattern) if pattern else names


def available_metagraphs() -> list[str]:
    return sorted(p.parent.name for p in METAGRAPHS_DIR.glob("*/metagraph.json"))


def load_metagraph(name_or_path: str | os.PathLike[str] = DEFAULT_METAGRAPH) -> MetaGraph:
    """A meta-graph shipped with gramnas (by name) or any metagraph.json (by path or run directory)."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "metagraph.json"
    if not path.exists() and (METAGRAPHS_DIR / str(name_or_path) / "metagraph.json").exists():
        path = METAGRAPHS_DIR / str(name_or_path) / "metagraph.json"
    if not path.exists():  # named as the parameter; train.py says model.metagraph
        raise field_error(
            "metagraph",
            f"{name_or_path!s} is neither a metagraph.json file nor a shipped meta-graph",
            f"shipped: {available_metagraphs()}",
        )
    return MetaGraph.load(path)


def swiftnet_levels(
    metagraph: str | os.PathLike[str] | MetaGraph = DEFAULT_METAGRAPH,
    levels: Sequence[float] = (0.4,),
    upscale: float = 1.0,
    max_channels: int | None = None,
    stem: tuple[int, ...] | list[int] = (),
    in_channels: int | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    prune_mode: str = DEFAULT_MODE,
) -> list[LevelProfile]:
    """SwiftNets cut at ``levels`` for ``in_channels`` x ``input_size``^2 input and ``num_classes`` classes.

    The one place that adapts a meta-graph to data (unset: the meta-graph's
    own), for the registry and the profiler alike; each level is derived once.
    """
    graph = metagraph if isinstance(metagraph, MetaGraph) else load_metagraph(metagraph)
    return profile_levels(
        graph,
        levels,
        upscale,
        max_channels=max_channels,
        mode=prune_mode,
        **adaptation(graph.space, in_channels, num_classes, input_size, stem),
    )


def adaptation(
    space: SearchSpace,
    in_channels: int | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    stem: tuple[int, ...] | list[int] = (),
) -> dict[str, Any]:
    """``derive``'s options that adapt a meta-graph of ``space`` to the data (unset: the space's own).

    An empty ``stem`` keeps the meta-graph's own (none for the paper's layout,
    one 32-channel layer for ``paper_stem``); a non-empty one replaces it.
    """
    size = input_size or space.input_size
    return {
        "input_shape": (in_channels or space.in_channels, size, size),
        "num_classes": num_classes or space.num_classes,
        "stem": tuple(stem) or None,
    }


def swiftnet_architecture(level: float = 0.4, **options: Any) -> Architecture:
    """The SwiftNet at one prune level; ``options`` as for :func:`swiftnet_levels`."""
    [profile] = swiftnet_levels(levels=(level,), **options)
    return profile.architecture


def swiftnet(**options: object) -> nn.Module:
    """The network of :func:`swiftnet_architecture` (a Hydra ``_target_``)."""
    return build_model(swiftnet_architecture(**options))  # type: ignore[arg-type]


def load_architecture(
    path: str | os.PathLike[str] | None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
) -> Architecture:
    """A searched or derived ``architecture.json`` (a run directory: its ``architecture.json``), adapted to the data.

    Input channels, size and classes change only the first convolution, the
    feature-map sizes and the head, so a network searched on one dataset
    trains on another as it is.
    """
    file = Path(path or "")
    if file.is_dir():
        file = file / "architecture.json"
    if not path or not file.is_file():
        raise field_error(
            "model.path",
            f"{path} is not an architecture.json file",
            "pass a search's architecture_<level>.json or the architecture.json of "
            "src/profile_levels.py or of a training run",
        )
    try:
        arch = Architecture.load(file)
    except GramError as exc:
        raise field_error("model.path", str(exc)) from None
    channels, height, width = arch.input_shape
    return dataclasses.replace(
        arch,
        input_shape=(in_channels or channels, input_size or height, input_size or width),
        num_classes=num_classes or arch.num_classes,
    )


def from_architecture_file(**options: object) -> nn.Module:
    """The network of :func:`load_architecture` (a Hydra ``_target_``)."""
    return build_model(load_architecture(**options))  # type: ignore[arg-type]


def create_model(
    name: str,
    pretrained: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    in_chans: int | None = None,
    **overrides: Any,
) -> nn.Module:
    """A registered model, as timm's ``create_model``; ``checkpoint_path`` loads trained weights.

    ``overrides`` replace the variant's settings: ``num_classes``, ``in_channels``,
    ``input_size`` (the data's), and a SwiftNet's ``metagraph``, ``level``,
    ``upscale`` ... or a MobileNetV2's ``width_mult``; None keeps the variant's.
    ``in_chans`` is timm's name for ``in_channels``, accepted here only, so that
    code written for timm runs unchanged.
    ``checkpoint_path`` is a gramnas training checkpoint or a ``state_dict``
    file, read as tensors and plain data only.
    """
    if pretrained:
        return _pretrained(name, checkpoint_path, in_chans=in_chans, **overrides)
    if in_chans is not None:
        if overrides.get("in_channels") not in (None, in_chans):
            raise GramError(
                f"model: in_chans={in_chans} and in_channels={overrides['in_channels']} differ"
            )
        overrides["in_channels"] = in_chans
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "e.g. swiftnet_0.4_1.5"
        raise GramError(
            f"model: unknown model {name!r}; list_models() gives {len(_MODELS)} names, {hint}"
        )
    model = _MODELS[name].build(**{k: v for k, v in overrides.items() if v is not None})
    if checkpoint_path is not None:
        from gramnas.training.checkpoint import load_weights  # torch only, no Lightning

        load_weights(model, checkpoint_path)
    return model


def _pretrained(name: str, checkpoint_path: object, **overrides: Any) -> nn.Module:
    """Shipped weights (:mod:`gramnas.pretrained`): their network is fixed, so nothing may override it."""
    from gramnas.pretrained import load_pretrained

    changed = sorted(k for k, v in overrides.items() if v is not None)
    if checkpoint_path is not None or changed:
        raise GramError(
            f"model: pretrained=True loads {name}'s shipped network as it is; drop "
            f"{', '.join(changed) or 'checkpoint_path'} (or build it without pretrained)"
        )
    return load_pretrained(name)


def mobilenet_v2(
    width_mult: float = 0.35,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | None = None,
) -> nn.Module:
    """torchvision's MobileNetV2 at a width multiplier: the baseline users would otherwise pick."""
    from torchvision.models import mobilenet_v2 as torchvision_mobilenet_v2

    model = torchvision_mobilenet_v2(width_mult=width_mult, num_classes=num_classes)
    if in_channels != 3:
        first = model.features[0][0]
        model.features[0][0] = nn.Conv2d(
            in_channels,
            first.out_channels,
            first.kernel_size,
            first.stride,
            first.padding,
            bias=False,
        )
    return model
