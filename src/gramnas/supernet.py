"""A one-shot supernet of a meta-graph: one conv weight block per (consuming node, input piece).

A node's conv over the concatenation of its inputs is the sum of one conv per
input (paper eq. 4). So the supernet keeps a separate block for every input a
node may receive, and a sampled network uses exactly its active inputs' blocks,
never "the first k channels" of a shared kernel. An input is a *piece*: the
output of one conv (a DAG node, the stem's last layer, or the raw image when
there is no stem) that reached the node through max-pools and identity DAGs.
Every piece has a fixed channel count, so every block has a fixed shape. The
linear head holds one block per piece that may reach it, plus the bias. Each
node keeps one BatchNorm, whose statistics :func:`recalibrate_bn` recomputes
for the sub-network being scored.

Identity DAGs that pass the same input duplicate its pieces (a piece of the
first hierarchy reaches the head of three hierarchies of three identity DAGs
nine times). The supernet reads a duplicated piece once, with its block; the
stand-alone network reads it m times, each slice holding block / m: the same
function. Were every copy to use the whole block, its output and its gradient
would both grow m-fold, and training diverges.

``set_active(arch)`` chooses the sub-network that ``forward`` runs (per node,
one conv of its distinct pieces concatenated, with their blocks side by side)
and ``export(arch)`` builds that network as a :class:`~gramnas.model.SwiftNet`
carrying the same weights.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gramnas.architecture import Architecture
from gramnas.errors import GramError
from gramnas.metagraph import MetaGraph, scale_channels
from gramnas.model import ConvBNELU, SwiftNet, build_model
from gramnas.space import SearchSpace, parse_operation

INPUT = "input"  # the raw image: the first hierarchy's input when there is no stem
STEM = "stem"  # the stem's last layer: the first hierarchy's input otherwise


def node_name(hierarchy: int, dag: int, node: int) -> str:
    """The key of a meta-graph node's weights and of the piece it produces."""
    return f"h{hierarchy}d{dag}n{node}"


@dataclass(frozen=True)
class ActiveNode:
    """An active node and the pieces it concatenates, in the stand-alone network's order."""

    name: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class ActiveHierarchy:
    """The active nodes of one hierarchy in execution order, and the pieces it outputs."""

    nodes: tuple[ActiveNode, ...]
    outputs: tuple[str, ...]


def active_plan(arch: Architecture, source: str) -> tuple[ActiveHierarchy, ...]:
    """Which pieces every active node of ``arch`` reads, hierarchy by hierarchy.

    ``source`` is the piece entering the first hierarchy. A node reading the DAG
    input (node 0) reads every piece of its hierarchy's input; an identity DAG
    outputs them unchanged; a DAG otherwise outputs its sinks.
    """
    pieces: tuple[str, ...] = (source,)
    plan = []
    for h in range(arch.hierarchies):
        nodes, outputs = [], []
        for dag in arch.hierarchy_dags(h):
            if dag.is_identity:
                outputs.extend(pieces)
                continue
            for node, sources in dag.predecessors().items():
                inputs = (
                    p
                    for s in sources
                    for p in (pieces if s == 0 else (node_name(h, dag.index, s),))
                )
                nodes.append(ActiveNode(node_name(h, dag.index, node), tuple(inputs)))
            outputs.extend(node_name(h, dag.index, s) for s in dag.sinks())
        plan.append(ActiveHierarchy(tuple(nodes), tuple(outputs)))
        pieces = tuple(outputs)
    return tuple(plan)


def _concat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Along dimension 1: channels of feature maps, input channels of conv and linear weights."""
    return tensors[0] if len(tensors) == 1 else torch.cat(list(tensors), dim=1)


def distinct(pieces: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(pieces))


def shared_weight(blocks: Mapping[str, torch.Tensor], pieces: Sequence[str]) -> torch.Tensor:
    """The weight for input ``pieces``: their blocks side by side, a piece read m times holding block / m."""
    copies = Counter(pieces)
    return _concat([blocks[p] / copies[p] if copies[p] > 1 else blocks[p] for p in pieces])


class SuperNode(nn.Module):
    """One meta-graph node (conv -> BN -> ELU) with a conv weight block per piece it may read."""

    def __init__(self, inputs: Mapping[str, int], out_channels: int, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.shape = (out_channels, kernel)  # what an architecture's node must have to use it
        self.blocks = nn.ParameterDict(
            {
                p: nn.Parameter(torch.empty(out_channels, c, kernel, kernel))
                for p, c in inputs.items()
            }
        )
        for block in self.blocks.values():
            nn.init.kaiming_uniform_(block, a=math.sqrt(5))  # nn.Conv2d's default, per block
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor, pieces: Sequence[str]) -> torch.Tensor:
        """``x`` is the concatenation of distinct ``pieces``."""
        weight = shared_weight(self.blocks, pieces)
        return self.act(self.bn(F.conv2d(x, weight, padding=self.kernel // 2)))


class SuperNet(nn.Module):
    """Every network a meta-graph can sample, sharing weights; runs the one ``set_active`` chose.

    ``ops`` are the meta-graph's node operations per DAG; node channels are
    their channels times ``upscale``, as :meth:`MetaGraph.to_architecture` scales them.
    """

    def __init__(
        self, space: SearchSpace, ops: Sequence[Sequence[str]], upscale: float = 1.0
    ) -> None:
        super().__init__()
        self.space = space
        channels = space.in_channels
        stem = []
        for c in space.stem:
            stem.append(ConvBNELU(channels, c, 3, stride=2))
            channels = c
        self.stem = nn.Sequential(*stem)
        self.source = STEM if space.stem else INPUT
        reaching = {self.source: channels}  # the pieces that may enter the current hierarchy
        self.nodes = nn.ModuleDict()
        for h in range(space.hierarchies):
            produced: dict[str, int] = {}
            for d in range(space.dags_per_hierarchy):
                inside: dict[str, int] = {}  # this DAG's earlier nodes
                for v, op_name in enumerate(ops[h * space.dags_per_hierarchy + d][1:], start=1):
                    op = parse_operation(op_name, "ops")
                    name = node_name(h, d, v)
                    out = scale_channels(op.channels, upscale, None)
                    self.nodes[name] = SuperNode({**reaching, **inside}, out, op.kernel)
                    inside[name] = out
                produced |= inside
            reaching |= produced  # an identity DAG passes this hierarchy's input on
        self.head = nn.ParameterDict(
            {p: nn.Parameter(torch.empty(space.num_classes, c)) for p, c in reaching.items()}
        )
        for block in self.head.values():
            nn.init.zeros_(block)  # logits start at 0, however many pieces reach the head
        self.bias = nn.Parameter(torch.zeros(space.num_classes))
        self.pool = nn.MaxPool2d(space.pool_size, space.pool_size)
        self.plan: tuple[ActiveHierarchy, ...] | None = None
        self.architecture: Architecture | None = None

    @classmethod
    def from_metagraph(cls, metagraph: MetaGraph) -> SuperNet:
        return cls(metagraph.space, metagraph.ops)

    def set_active(self, arch: Architecture) -> None:
        """Run ``arch`` from now on; it must come from this supernet's meta-graph."""
        self.plan = self._plan(arch)
        self.architecture = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.plan is None:
            raise GramError("SuperNet: call set_active(architecture) before running it")
        tensors = {self.source: self.stem(x)}
        for hierarchy in self.plan:
            for node in hierarchy.nodes:
                pieces = distinct(node.inputs)
                inputs = _concat([tensors[p] for p in pieces])
                tensors[node.name] = self.nodes[node.name](inputs, pieces)
            # Max-pooling is per channel: pooling each piece equals pooling their concatenation.
            tensors = {p: self.pool(tensors[p]) for p in distinct(hierarchy.outputs)}
        head = distinct(self.plan[-1].outputs)
        features = F.adaptive_avg_pool2d(_concat([tensors[p] for p in head]), 1).flatten(1)
        return F.linear(features, shared_weight(self.head, head), self.bias)

    def export(self, arch: Architecture) -> SwiftNet:
        """The stand-alone network of ``arch`` with the supernet's weights and BatchNorm state."""
        plan = self._plan(arch)
        net = build_model(arch)
        net.stem.load_state_dict(self.stem.state_dict())
        with torch.no_grad():
            for hierarchy, active in zip(net.hierarchies, plan, strict=True):
                layers = [layer for dag in hierarchy.dags for layer in dag.nodes]
                for (conv, bn, _), node in zip(layers, active.nodes, strict=True):
                    conv.weight.copy_(shared_weight(self.nodes[node.name].blocks, node.inputs))
                    bn.load_state_dict(self.nodes[node.name].bn.state_dict())
            net.classifier.weight.copy_(shared_weight(self.head, plan[-1].outputs))
            net.classifier.bias.copy_(self.bias)
        return net

    def _plan(self, arch: Architecture) -> tuple[ActiveHierarchy, ...]:
        space = self.space
        expected = (
            (space.in_channels, space.input_size, space.input_size),
            space.num_classes,
            space.pool_size,
            space.stem,
            space.num_dags,
        )
        found = (
            arch.input_shape,
            arch.num_classes,
            arch.pool_size,
            tuple(node.channels for node in arch.stem),
            len(arch.dags),
        )
        if found != expected:
            raise GramError(
                f"architecture (input, classes, pool, stem, DAGs) {found} does not fit the "
                f"supernet's {expected}; it was not sampled from this meta-graph"
            )
        for dag in arch.dags:
            for node in dag.nodes:
                name = node_name(dag.hierarchy, dag.index, node.id)
                shape = (node.channels, node.kernel)
                if name not in self.nodes or self.nodes[name].shape != shape:
                    raise GramError(
                        f"architecture node {name} ({node.op}, {node.channels} channels) is not "
                        "in the supernet; it was not sampled from this meta-graph"
                    )
        return active_plan(arch, self.source)


def recalibrate_bn(model: nn.Module, images: torch.Tensor, batch_size: int) -> None:
    """Recompute every BatchNorm's running statistics as the plain average over ``images``.

    Shared weights leave statistics that fit no single sub-network, so one-shot
    methods (SPOS, once-for-all) recompute them on training images before
    scoring one. Only the running statistics change: parameters, momentum and
    the train/eval mode are left as they were.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in norms]
    training = model.training
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average over the batches
        model.train()
        with torch.no_grad():
            for batch in images.split(batch_size):
                model(batch)
    finally:
        for bn, momentum in zip(norms, momenta, strict=True):
            bn.momentum = momentum
        model.train(training)
