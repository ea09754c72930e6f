"""Named models, as torchvision and timm keep them: ``create_model("swiftnet_0.4_1.5")``.

A SwiftNet name fixes how it is cut from a meta-graph: ``swiftnet_<L>_<U>``
is prune level L and channel up-scale U (paper Table 1, 32x32 input);
``swiftnet_<R>_<L>_<U>`` adds a stride-2 stem for R x R input (paper Table 3).
The input shape and classes come from the data at creation time, so the same
meta-graph adapts to any dataset without a new search.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError, field_error
from gramnas.metagraph import MetaGraph
from gramnas.model import build_model
from gramnas.pruning import DEFAULT_MODE, derive

METAGRAPHS_DIR = Path(__file__).parent / "metagraphs"
DEFAULT_METAGRAPH = "cifar10-paper-gamma1"


@dataclass(frozen=True)
class SwiftNetSpec:
    level: float
    upscale: float = 1.0
    max_channels: int | None = None
    stem: tuple[int, ...] = ()
    input_size: int | None = None  # the resolution the variant is meant for; None: the meta-graph's
    num_classes: int | None = None
    metagraph: str = DEFAULT_METAGRAPH


def variant_name(level: float, upscale: float, resolution: int | None = None) -> str:
    """``swiftnet_0.4_1.5``, ``swiftnet_96_0.5_1.0``: up-scale printed with one or two decimals."""
    prefix = f"swiftnet_{resolution}_" if resolution else "swiftnet_"
    scale = f"{upscale:.2f}".rstrip("0")
    return f"{prefix}{level:g}_{scale}0" if scale.endswith(".") else f"{prefix}{level:g}_{scale}"


_MODELS: dict[str, SwiftNetSpec] = {}
for _level in (0.3, 0.4, 0.5, 0.65):
    for _up in (1.0, 1.25, 1.5):
        _MODELS[variant_name(_level, _up)] = SwiftNetSpec(_level, _up)
for _res in (96, 128):
    for _level in (0.4, 0.5):
        for _up in (1.0, 1.5):
            _MODELS[variant_name(_level, _up, _res)] = SwiftNetSpec(
                _level, _up, stem=(32,), input_size=_res, num_classes=1000
            )


def list_models() -> list[str]:
    return sorted(_MODELS)


def available_metagraphs() -> list[str]:
    return sorted(p.parent.name for p in METAGRAPHS_DIR.glob("*/metagraph.json"))


def load_metagraph(name_or_path: str | os.PathLike[str] = DEFAULT_METAGRAPH) -> MetaGraph:
    """A meta-graph shipped with gramnas (by name) or any metagraph.json (by path or run directory)."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "metagraph.json"
    if not path.exists() and (METAGRAPHS_DIR / str(name_or_path) / "metagraph.json").exists():
        path = METAGRAPHS_DIR / str(name_or_path) / "metagraph.json"
    if not path.exists():
        raise field_error(
            "model.metagraph",
            f"{name_or_path!s} is neither a metagraph.json file nor a shipped meta-graph",
            f"shipped: {available_metagraphs()}",
        )
    return MetaGraph.load(path)


def swiftnet_architecture(
    metagraph: str | os.PathLike[str] | MetaGraph = DEFAULT_METAGRAPH,
    level: float = 0.4,
    upscale: float = 1.0,
    max_channels: int | None = None,
    stem: tuple[int, ...] | list[int] = (),
    in_chans: int | None = None,
    num_classes: int | None = None,
    input_size: int | None = None,
    prune_mode: str = DEFAULT_MODE,
) -> Architecture:
    """Derive a SwiftNet for an input of ``in_chans`` x ``input_size``^2 and ``num_classes`` classes."""
    graph = metagraph if isinstance(metagraph, MetaGraph) else load_metagraph(metagraph)
    space = graph.space
    size = input_size or space.input_size
    return derive(
        graph,
        level,
        upscale,
        max_channels,
        mode=prune_mode,
        input_shape=(in_chans or space.in_channels, size, size),
        num_classes=num_classes or space.num_classes,
        stem=tuple(stem),
    )


def swiftnet(**options: object) -> nn.Module:
    """The network of :func:`swiftnet_architecture` (a Hydra ``_target_``)."""
    return build_model(swiftnet_architecture(**options))  # type: ignore[arg-type]


def load_architecture(
    path: str | os.PathLike[str] | None,
    in_chans: int | None = None,
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
        input_shape=(in_chans or channels, input_size or height, input_size or width),
        num_classes=num_classes or arch.num_classes,
    )


def from_architecture_file(**options: object) -> nn.Module:
    """The network of :func:`load_architecture` (a Hydra ``_target_``)."""
    return build_model(load_architecture(**options))  # type: ignore[arg-type]


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    input_size: int | None = None,
    metagraph: str | os.PathLike[str] | MetaGraph | None = None,
) -> nn.Module:
    """A registered SwiftNet variant; unset arguments fall back to the variant's, then the meta-graph's."""
    if name not in _MODELS:
        raise GramError(
            f"model: unknown model {name!r}; list_models() gives {len(_MODELS)} names, e.g. swiftnet_0.4_1.5"
        )
    spec = _MODELS[name]
    return swiftnet(
        metagraph=metagraph or spec.metagraph,
        level=spec.level,
        upscale=spec.upscale,
        max_channels=spec.max_channels,
        stem=spec.stem,
        in_chans=in_chans,
        num_classes=num_classes or spec.num_classes,
        input_size=input_size or spec.input_size,
    )


def mobilenet_v2(
    width_mult: float = 0.35,
    in_chans: int = 3,
    num_classes: int = 10,
    input_size: int | None = None,
) -> nn.Module:
    """torchvision's MobileNetV2 at a width multiplier: the baseline users would otherwise pick."""
    from torchvision.models import mobilenet_v2 as torchvision_mobilenet_v2

    model = torchvision_mobilenet_v2(width_mult=width_mult, num_classes=num_classes)
    if in_chans != 3:
        first = model.features[0][0]
        model.features[0][0] = nn.Conv2d(
            in_chans, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False
        )
    return model
