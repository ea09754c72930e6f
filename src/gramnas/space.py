"""The GRAM search space: hierarchies of parallel complete DAGs of conv nodes.

A node operation is ``conv{k}x{k}_{c}``: a k x k convolution with c filters,
followed by BatchNorm and ELU (paper section 3.2). Node 0 of every DAG is the
hierarchy's input and carries the pseudo-operation ``input``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

from gramnas.errors import GramError, field_error, require_int

INPUT_OP = "input"
PAPER_OPERATIONS = ("conv1x1_32", "conv1x1_64", "conv1x1_128", "conv3x3_32", "conv3x3_64")
_OP_PATTERN = re.compile(r"^conv(\d+)x(\d+)_(\d+)$")


@dataclass(frozen=True)
class Operation:
    """A parsed node operation: square kernel and output channels."""

    kernel: int
    channels: int

    @property
    def name(self) -> str:
        return f"conv{self.kernel}x{self.kernel}_{self.channels}"


@lru_cache(maxsize=1024)
def parse_operation(name: str, field_name: str = "operation") -> Operation:
    """Parse ``conv3x3_64`` into ``Operation(3, 64)``; odd square kernels only."""
    match = _OP_PATTERN.match(str(name))
    if not match:
        raise field_error(
            field_name, f"unknown operation {name!r}", "use names like conv1x1_32 or conv3x3_64"
        )
    kh, kw, channels = (int(g) for g in match.groups())
    if kh != kw or kh % 2 == 0 or channels <= 0:
        raise field_error(
            field_name,
            f"unsupported operation {name!r}",
            "kernels must be square and odd (1x1, 3x3, 5x5) with positive channels",
        )
    return Operation(kh, channels)


@dataclass(frozen=True)
class SearchSpace:
    """Shape of the meta-graph and of the networks sampled from it.

    ``stem`` lists the channels of stride-2 3x3 conv layers placed before the
    first hierarchy (for ImageNet-sized input); empty by default.
    """

    hierarchies: int = 3
    dags_per_hierarchy: int = 3
    nodes: int = 30
    operations: tuple[str, ...] = PAPER_OPERATIONS
    pool_size: int = 2
    stem: tuple[int, ...] = ()
    in_channels: int = 3
    input_size: int = 32
    num_classes: int = 10
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", tuple(self.operations))
        object.__setattr__(self, "stem", tuple(self.stem))
        for name, minimum in (
            ("hierarchies", 1),
            ("dags_per_hierarchy", 1),
            ("nodes", 2),
            ("pool_size", 1),
            ("in_channels", 1),
            ("input_size", 1),
            ("num_classes", 2),
        ):
            require_int(f"space.{name}", getattr(self, name), minimum)
        if not self.operations:
            raise field_error("space.operations", "is empty", "list at least one operation")
        for op in self.operations:
            parse_operation(op, "space.operations")
        for channels in self.stem:
            require_int("space.stem", channels, 1)
        check_input_size(self.input_size, len(self.stem), self.hierarchies, self.pool_size)

    @property
    def num_dags(self) -> int:
        """K = m * h."""
        return self.hierarchies * self.dags_per_hierarchy

    @property
    def num_edges(self) -> int:
        """E = n(n-1)/2 possible edges per DAG."""
        return self.nodes * (self.nodes - 1) // 2

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["operations"] = list(self.operations)
        data["stem"] = list(self.stem)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise field_error(
                f"space.{unknown[0]}",
                "is not a search-space field",
                f"valid fields: {sorted(known)}",
            )
        return cls(**data)


def check_input_size(input_size: int, stem_layers: int, hierarchies: int, pool_size: int) -> None:
    """Refuse inputs that the stem and the hierarchies' pooling would shrink to nothing."""
    size = input_size
    for _ in range(stem_layers):
        size = (size - 1) // 2 + 1  # 3x3 conv, stride 2, padding 1
    for _ in range(hierarchies):
        size //= pool_size
    if size < 1:
        raise field_error(
            "input_size",
            f"{input_size}x{input_size} input is too small for {stem_layers} stem layer(s) and "
            f"{hierarchies} hierarchies with {pool_size}x{pool_size} pooling",
            "use a larger input, fewer hierarchies or a smaller pool_size",
        )


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's meta-graph (section 4.1): h=3, m=3, n=30 and its five operations.
    "paper": {"hierarchies": 3, "dags_per_hierarchy": 3, "nodes": 30},
    # The same meta-graph behind a 32-channel stride-2 stem: for 32x32 input the hierarchies
    # run at 16/8/4, where depth is cheap (the CIFAR-10 default, measured in docs/search.md).
    "paper_stem": {"hierarchies": 3, "dags_per_hierarchy": 3, "nodes": 30, "stem": (32,)},
    # A tenth of the paper's edges per DAG; searches run in minutes on a laptop.
    "small": {"hierarchies": 3, "dags_per_hierarchy": 2, "nodes": 12},
    # For the embedded default and tests: seconds per candidate on tiny images.
    "tiny": {
        "hierarchies": 2,
        "dags_per_hierarchy": 2,
        "nodes": 6,
        "operations": ("conv1x1_16", "conv1x1_32", "conv3x3_16", "conv3x3_32"),
    },
}


def preset_space(name: str = "paper", **overrides: Any) -> SearchSpace:
    """A named preset with optional overrides (input shape and classes come from the data)."""
    if name not in PRESETS:
        raise field_error(
            "space.name", f"unknown preset {name!r}", f"choose one of {sorted(PRESETS)}"
        )
    values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return SearchSpace(name=name, **values)
    except TypeError as exc:
        raise GramError(f"space: {exc}") from None
