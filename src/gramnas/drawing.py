"""A picture of an Architecture: one panel per DAG, nodes left to right, edges as arcs."""

from __future__ import annotations

from pathlib import Path

from gramnas.architecture import Architecture

_COLOURS = {1: "#4C72B0", 3: "#DD8452", 5: "#55A868"}


def draw_architecture(arch: Architecture, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    rows = arch.hierarchies
    cols = max(len(arch.hierarchy_dags(h)) for h in range(rows))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for dag in arch.dags:
        ax = axes[dag.hierarchy, dag.index]
        ids = [0, *(node.id for node in dag.nodes)]
        x = {node_id: i for i, node_id in enumerate(ids)}
        for src, dst in dag.edges:
            bend = 0.25 + 0.1 * (x[dst] - x[src] - 1)
            ax.add_patch(
                FancyArrowPatch(
                    (x[src], 0),
                    (x[dst], 0),
                    connectionstyle=f"arc3,rad=-{bend}",
                    arrowstyle="-|>",
                    mutation_scale=8,
                    color="0.4",
                    linewidth=0.8,
                )
            )
        ax.scatter([0], [0], s=160, color="0.2", zorder=3)
        for node in dag.nodes:
            ax.scatter([x[node.id]], [0], s=160, color=_COLOURS.get(node.kernel, "0.5"), zorder=3)
            ax.annotate(
                f"{node.kernel}x{node.kernel}\n{node.channels}",
                (x[node.id], -0.12),
                ha="center",
                va="top",
                fontsize=6,
            )
        title = "identity" if dag.is_identity else f"{len(dag.nodes)} nodes, {len(dag.edges)} edges"
        ax.set_title(f"hierarchy {dag.hierarchy}, DAG {dag.index}: {title}", fontsize=8)
        ax.set_xlim(-0.5, max(len(ids) - 0.5, 1.5))
        ax.set_ylim(-0.6, 0.9)
    fig.suptitle(
        f"architecture {arch.id}: input {'x'.join(map(str, arch.input_shape))}, {arch.num_classes} classes"
        + (f", stem {[n.channels for n in arch.stem]}" if arch.stem else ""),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
