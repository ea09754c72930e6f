"""SwiftNet: the network an Architecture describes, as plain ``nn.Module``s.

Only active nodes are built. Each DAG precomputes, at construction, which
earlier outputs every node concatenates, so ``forward`` just walks lists.
"""

from __future__ import annotations

import torch
from torch import nn

from gramnas.architecture import Architecture, Dag, dag_channels


class ConvBNELU(nn.Sequential):
    """The node operation of the paper: conv -> BatchNorm -> ELU ("same" padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ELU(inplace=True),
        )


def _concat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=1)


class DagBlock(nn.Module):
    """One DAG: active nodes concatenate their inputs; the output concatenates the sinks."""

    def __init__(self, dag: Dag, in_channels: int) -> None:
        super().__init__()
        node_in, self.out_channels = dag_channels(dag, in_channels)
        self.nodes = nn.ModuleList(
            ConvBNELU(node_in[node.id], node.channels, node.kernel) for node in dag.nodes
        )
        slot = {0: 0, **{node.id: i + 1 for i, node in enumerate(dag.nodes)}}
        predecessors = dag.predecessors()
        self.node_inputs = [[slot[src] for src in predecessors[node.id]] for node in dag.nodes]
        self.output_slots = [slot[sink] for sink in dag.sinks()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.output_slots:  # identity DAG
            return x
        values = [x]
        for node, inputs in zip(self.nodes, self.node_inputs, strict=True):
            values.append(node(_concat([values[i] for i in inputs])))
        return _concat([values[i] for i in self.output_slots])


class Hierarchy(nn.Module):
    """Parallel DAGs on the same input, concatenated, then max-pooled."""

    def __init__(self, dags: list[Dag], in_channels: int, pool_size: int) -> None:
        super().__init__()
        self.dags = nn.ModuleList(DagBlock(dag, in_channels) for dag in dags)
        self.out_channels = sum(block.out_channels for block in self.dags)
        self.pool = nn.MaxPool2d(pool_size, pool_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(_concat([dag(x) for dag in self.dags]))


class SwiftNet(nn.Module):
    """Stem (optional) -> hierarchies -> global average pool -> linear classifier."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.architecture = arch
        channels = arch.input_shape[0]
        stem = []
        for layer in arch.stem:
            stem.append(ConvBNELU(channels, layer.channels, layer.kernel, stride=2))
            channels = layer.channels
        self.stem = nn.Sequential(*stem)
        hierarchies = []
        for h in range(arch.hierarchies):
            hierarchy = Hierarchy(arch.hierarchy_dags(h), channels, arch.pool_size)
            hierarchies.append(hierarchy)
            channels = hierarchy.out_channels
        self.hierarchies = nn.Sequential(*hierarchies)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, arch.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hierarchies(self.stem(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


def build_model(arch: Architecture) -> SwiftNet:
    return SwiftNet(arch)
