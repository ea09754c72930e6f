"""Core speed on the paper-sized meta-graph (h=3, m=3, n=30: 9 DAGs x 435 edges).

Prints microseconds per sample and per update, milliseconds per derive +
count_macs, and analytic counting against build-and-hook counting.
Run: .venv/bin/python bench/core.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from gramnas import (
    MetaGraph,
    build_model,
    count_macs,
    count_params,
    derive,
    preset_space,
    profile_levels,
)
from gramnas.counting import count_with_hooks


def per_call(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    torch.set_num_threads(1)
    metagraph = MetaGraph.create(preset_space("paper"), seed=0)
    rng = np.random.default_rng(0)
    # Give the weights structure first, as a real search would.
    for _ in range(300):
        metagraph.update(metagraph.sample(rng), float(rng.uniform(0.2, 0.6)))
    arch = metagraph.sample(rng)

    sample_s = per_call(lambda: metagraph.sample(rng), 500)
    update_s = per_call(lambda: metagraph.update(arch, 0.45), 2000)
    draw_s = per_call(lambda: metagraph.draw_edges(rng), 2000)
    levels = np.linspace(0, 1, 101)
    derive_s = per_call(
        lambda: [count_macs(derive(metagraph, float(level))) for level in levels], 3
    ) / len(levels)
    profile_s = per_call(lambda: profile_levels(metagraph, levels), 3)

    print("core benchmark, paper-sized meta-graph (9 DAGs x 435 edges), 1 thread")
    print(
        f"  sample (draw + reachability + Architecture): {sample_s * 1e6:8.1f} us  (Bernoulli draws alone {draw_s * 1e6:.1f} us)"
    )
    print(f"  update (Algorithm 1, phase C):               {update_s * 1e6:8.1f} us")
    print(f"  derive + count_macs, mean over 101 levels:   {derive_s * 1e3:8.3f} ms")
    print(f"  profile_levels, 101 levels (MACs + params):  {profile_s * 1e3:8.1f} ms")

    archs = [derive(metagraph, level) for level in (0.3, 0.4, 0.5, 0.65)] + [
        metagraph.sample(rng) for _ in range(4)
    ]
    analytic_s = per_call(
        lambda: [
            (count_macs(a), count_params(a))
            for a in [type(a).from_dict(a.to_dict()) for a in archs]
        ],
        5,
    )
    hooks_s = per_call(lambda: [count_with_hooks(build_model(a), a.input_shape) for a in archs], 1)
    agree = all(
        (count_macs(a), count_params(a)) == count_with_hooks(build_model(a), a.input_shape)
        for a in archs
    )
    print(
        f"  counting {len(archs)} architectures: analytic {analytic_s * 1e3:.2f} ms, build + hooks {hooks_s * 1e3:.1f} ms"
        f" -> analytic is {hooks_s / analytic_s:.0f}x faster; counts agree: {agree}"
    )


if __name__ == "__main__":
    main()
