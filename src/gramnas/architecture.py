"""The Architecture: everything needed to rebuild one network, as data.

Sampled candidates and derived SwiftNets are both Architectures. Node ids are
the meta-graph's node indices, so an Architecture can be laid over the
meta-graph it came from; node 0 (the DAG input) is implicit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gramnas.errors import GramError, is_finite_number
from gramnas.jsonio import check_header, read_versioned_json, write_json_atomic
from gramnas.space import check_input_size, parse_operation

FORMAT = "gramnas.architecture"
VERSION = 1


@dataclass(frozen=True)
class Node:
    """An active DAG node: its meta-graph index, operation and (up-scaled) output channels."""

    id: int
    op: str
    channels: int

    @property
    def kernel(self) -> int:
        return parse_operation(self.op).kernel


@dataclass(frozen=True)
class Dag:
    """The active part of one DAG; no nodes means the identity mapping."""

    hierarchy: int
    index: int
    nodes: tuple[Node, ...]
    edges: tuple[tuple[int, int], ...]

    @property
    def is_identity(self) -> bool:
        return not self.nodes

    def predecessors(self) -> dict[int, list[int]]:
        """Inputs of every active node, in node order (0 is the DAG input)."""
        preds: dict[int, list[int]] = {node.id: [] for node in self.nodes}
        for src, dst in self.edges:
            preds[dst].append(src)
        return {node: sorted(srcs) for node, srcs in preds.items()}

    def sinks(self) -> list[int]:
        """Active nodes that feed no other node: their concatenation is the DAG output."""
        has_successor = {src for src, _ in self.edges}
        return [node.id for node in self.nodes if node.id not in has_successor]

    @property
    def depth(self) -> int:
        """Conv layers on the longest path from the DAG input (node 0) to an output; 0 for identity."""
        longest = {0: 0}
        for node, srcs in sorted(self.predecessors().items()):
            longest[node] = 1 + max(longest[src] for src in srcs)
        return max(longest.values())


@dataclass(frozen=True)
class Piece:
    """One step of the network as it runs, with shapes: what counting and latency tables read.

    ``kind`` is ``conv`` (conv -> BN -> ELU), ``concat`` (of ``inputs`` tensors
    into ``out_channels``), ``maxpool`` or ``head`` (global average pool + linear).
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    kernel: int = 1
    stride: int = 1
    inputs: int = 1


@dataclass(frozen=True)
class Architecture:
    """A complete network description; its JSON format is in docs/formats.md."""

    input_shape: tuple[int, int, int]
    num_classes: int
    dags: tuple[Dag, ...]
    stem: tuple[Node, ...] = ()
    pool_size: int = 2

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def hierarchies(self) -> int:
        return max(dag.hierarchy for dag in self.dags) + 1

    def hierarchy_dags(self, hierarchy: int) -> list[Dag]:
        return [dag for dag in self.dags if dag.hierarchy == hierarchy]

    @property
    def depth(self) -> int:
        """Conv layers on the longest input-to-head path: the stem, then per hierarchy its deepest DAG.

        Every path crosses each hierarchy through one of its DAGs, so the
        longest path adds the deepest DAG of each hierarchy to the stem.
        """
        return len(self.stem) + sum(
            max(dag.depth for dag in self.hierarchy_dags(h)) for h in range(self.hierarchies)
        )

    @property
    def num_nodes(self) -> int:
        return sum(len(dag.nodes) for dag in self.dags)

    @property
    def num_edges(self) -> int:
        return sum(len(dag.edges) for dag in self.dags)

    @cached_property
    def id(self) -> str:
        """A stable content hash: equal architectures share an id across runs and machines."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @cached_property
    def pieces(self) -> tuple[Piece, ...]:
        """Every step of the network in execution order (stem and node convs, concatenations, pools, head)."""
        return _trace_pieces(self)

    @property
    def head_in_features(self) -> int:
        return self.pieces[-1].in_channels

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "stem": [{"op": node.op, "channels": node.channels, "stride": 2} for node in self.stem],
            "dags": [
                {
                    "hierarchy": dag.hierarchy,
                    "index": dag.index,
                    "nodes": [{"id": n.id, "op": n.op, "channels": n.channels} for n in dag.nodes],
                    "edges": [list(edge) for edge in dag.edges],
                }
                for dag in self.dags
            ],
            "downsample": {"type": "maxpool", "size": self.pool_size, "stride": self.pool_size},
            "head": {"pool": "global_avg", "type": "linear"},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def save(self, path: str | os.PathLike[str]) -> Path:
        write_json_atomic(path, self.to_dict())
        return Path(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "architecture") -> Architecture:
        check_header(data, FORMAT, VERSION, where)
        try:
            stem = tuple(
                Node(i, str(s["op"]), _whole(s["channels"], f"stem[{i}].channels"))
                for i, s in enumerate(data["stem"])
            )
            dags = tuple(
                Dag(
                    hierarchy=_whole(d["hierarchy"], f"dags[{k}].hierarchy"),
                    index=_whole(d["index"], f"dags[{k}].index"),
                    nodes=tuple(
                        Node(
                            _whole(n["id"], f"dags[{k}].nodes.id"),
                            str(n["op"]),
                            _whole(n["channels"], f"dags[{k}].nodes[{n['id']}].channels"),
                        )
                        for n in d["nodes"]
                    ),
                    edges=tuple(
                        (_whole(i, f"dags[{k}].edges"), _whole(j, f"dags[{k}].edges"))
                        for i, j in d["edges"]
                    ),
                )
                for k, d in enumerate(data["dags"])
            )
            return cls(
                input_shape=tuple(_whole(x, "input_shape") for x in data["input_shape"]),  # type: ignore[arg-type]
                num_classes=_whole(data["num_classes"], "num_classes"),
                dags=dags,
                stem=stem,
                pool_size=_whole(data["downsample"]["size"], "downsample.size"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, GramError):
                raise GramError(f"{where}: {exc}") from None
            raise GramError(f"{where}: malformed architecture ({exc!r})") from None

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GramError(f"architecture: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Architecture:
        return cls.from_dict(read_versioned_json(path, FORMAT, VERSION), str(path))


def _whole(value: object, field: str) -> int:
    """An integer field of the JSON format: 64 and 64.0 are, 64.5 and "64" are refused, not truncated."""
    if not is_finite_number(value) or value != int(value):  # type: ignore[call-overload]
        raise GramError(f"{field}: must be a whole number, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _trace_pieces(arch: Architecture) -> tuple[Piece, ...]:
    """Walk the network once, in execution order, with every shape resolved."""
    pieces = []
    channels, height, width = arch.input_shape
    for i, stem_layer in enumerate(arch.stem):
        kernel = stem_layer.kernel
        out_h = (height + 2 * (kernel // 2) - kernel) // 2 + 1
        out_w = (width + 2 * (kernel // 2) - kernel) // 2 + 1
        pieces.append(
            Piece(
                f"stem.{i}",
                "conv",
                channels,
                stem_layer.channels,
                (height, width),
                (out_h, out_w),
                kernel,
                2,
            )
        )
        channels, height, width = stem_layer.channels, out_h, out_w
    size = (height, width)
    for h in range(arch.hierarchies):
        dag_outputs = []
        for dag in arch.hierarchy_dags(h):
            node_in, dag_out = dag_channels(dag, channels)
            predecessors = dag.predecessors()
            for node in dag.nodes:
                name = f"{h}.{dag.index}.{node.id}"
                if len(predecessors[node.id]) > 1:
                    pieces.append(
                        Piece(
                            f"{name}.concat",
                            "concat",
                            node_in[node.id],
                            node_in[node.id],
                            size,
                            size,
                            inputs=len(predecessors[node.id]),
                        )
                    )
                pieces.append(
                    Piece(name, "conv", node_in[node.id], node.channels, size, size, node.kernel)
                )
            if len(dag.sinks()) > 1:
                pieces.append(
                    Piece(
                        f"{h}.{dag.index}.concat",
                        "concat",
                        dag_out,
                        dag_out,
                        size,
                        size,
                        inputs=len(dag.sinks()),
                    )
                )
            dag_outputs.append(dag_out)
        channels = sum(dag_outputs)
        if len(dag_outputs) > 1:
            pieces.append(
                Piece(
                    f"{h}.concat", "concat", channels, channels, size, size, inputs=len(dag_outputs)
                )
            )
        pooled = (size[0] // arch.pool_size, size[1] // arch.pool_size)
        pieces.append(
            Piece(
                f"{h}.pool",
                "maxpool",
                channels,
                channels,
                size,
                pooled,
                arch.pool_size,
                arch.pool_size,
            )
        )
        size = pooled
    pieces.append(Piece("head", "head", channels, arch.num_classes, size, (1, 1)))
    return tuple(pieces)


def dag_channels(dag: Dag, in_channels: int) -> tuple[dict[int, int], int]:
    """Input channels of each active node (its inputs concatenated) and the DAG's output channels."""
    if dag.is_identity:
        return {}, in_channels
    produced = {0: in_channels, **{node.id: node.channels for node in dag.nodes}}
    node_in = {
        node: sum(produced[src] for src in srcs) for node, srcs in dag.predecessors().items()
    }
    return node_in, sum(produced[s] for s in dag.sinks())


def _validate(arch: Architecture) -> None:
    if len(arch.input_shape) != 3 or min(arch.input_shape) < 1:
        raise GramError(
            f"input_shape: must be [C, H, W] with positive sizes, got {arch.input_shape}"
        )
    if arch.num_classes < 2:
        raise GramError(f"num_classes: must be >= 2, got {arch.num_classes}")
    if arch.pool_size < 1:
        raise GramError(f"downsample.size: must be >= 1, got {arch.pool_size}")
    if not arch.dags:
        raise GramError("dags: an architecture needs at least one DAG")
    for node in arch.stem:
        parse_operation(node.op, "stem.op")
    seen = set()
    for dag in arch.dags:
        where = f"dags[hierarchy={dag.hierarchy}, index={dag.index}]"
        if (dag.hierarchy, dag.index) in seen:
            raise GramError(f"{where}: listed twice")
        seen.add((dag.hierarchy, dag.index))
        ids = [node.id for node in dag.nodes]
        if ids != sorted(set(ids)) or (ids and ids[0] < 1):
            raise GramError(f"{where}: node ids must be distinct, ascending and >= 1, got {ids}")
        for node in dag.nodes:
            parse_operation(node.op, f"{where}.nodes[{node.id}].op")
            if node.channels < 1:
                raise GramError(f"{where}.nodes[{node.id}].channels: must be >= 1")
        known = {0, *ids}
        targets = set()
        for src, dst in dag.edges:
            if not src < dst or src not in known or dst not in known:
                raise GramError(
                    f"{where}: edge [{src}, {dst}] must join two listed nodes with src < dst"
                )
            targets.add(dst)
        if targets != set(ids):
            missing = sorted(set(ids) - targets)
            raise GramError(f"{where}: nodes {missing} have no input edge (unreachable)")
    hierarchies = {dag.hierarchy for dag in arch.dags}
    if hierarchies != set(range(len(hierarchies))):
        raise GramError(f"dags: hierarchies must be numbered 0..h-1, got {sorted(hierarchies)}")
    check_input_size(min(arch.input_shape[1:]), len(arch.stem), len(hierarchies), arch.pool_size)
