"""Training throughput: Lightning wrapper against a plain PyTorch loop, SwiftNet and MobileNetV2-0.35.

Generated data of CIFAR-10's shape (5,000 images in memory, batch 128, the
CIFAR recipe's SGD), channels_last, 1 torch thread. The SwiftNet is cut from
the shipped CIFAR-10 meta-graph at level 0.4 with the channel up-scale that
brings its MACs closest to MobileNetV2-0.35's at 32x32. Each model is
trained the same number of steps both ways, alternating which goes first.
Target: Lightning within 10% of the plain loop.

Run: .venv/bin/python bench/train.py [--epochs 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import logging
import time
from functools import partial

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gramnas import count_macs
from gramnas.counting import count_with_hooks
from gramnas.registry import mobilenet_v2, swiftnet, swiftnet_architecture
from gramnas.training.module import ClassificationModule

SGD = partial(torch.optim.SGD, lr=0.01, momentum=0.9, weight_decay=5e-4)


def loader(x: torch.Tensor, y: torch.Tensor) -> DataLoader:
    return DataLoader(
        TensorDataset(x, y),
        batch_size=128,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )


def plain(make_model, x, y, epochs: int) -> float:
    torch.manual_seed(0)
    model = make_model().to(memory_format=torch.channels_last).train()
    optimizer, loss_fn = SGD(model.parameters()), nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader(x, y):
            loss = loss_fn(model(xb.contiguous(memory_format=torch.channels_last)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def lightning(make_model, x, y, epochs: int) -> float:
    torch.manual_seed(0)
    module = ClassificationModule(make_model(), 10, SGD, channels_last=True)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(module, loader(x, y))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    generator = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(5000, 3, 32, 32, generator=generator),
        torch.randint(10, (5000,), generator=generator),
    )

    baseline = partial(mobilenet_v2, width_mult=0.35, num_classes=10)
    target = count_with_hooks(baseline(), (3, 32, 32))[0]
    upscale = min(
        np.arange(0.25, 2.01, 0.05),
        key=lambda u: abs(
            np.log(count_macs(swiftnet_architecture(level=0.4, upscale=float(u))) / target)
        ),
    )
    models = {
        f"SwiftNet-0.4-{upscale:.2f}": partial(swiftnet, level=0.4, upscale=float(upscale)),
        "MobileNetV2-0.35": baseline,
    }
    images = args.epochs * len(x)
    print(
        f"training throughput, 3x32x32, batch 128, {args.epochs} epochs x {len(x)} images, 1 thread, channels_last"
    )
    for name, make_model in models.items():
        macs = count_with_hooks(make_model(), (3, 32, 32))[0]
        plain_s, lightning_s = [], []
        for repeat in range(args.repeats):
            order = (plain, lightning) if repeat % 2 == 0 else (lightning, plain)
            for run in order:
                (plain_s if run is plain else lightning_s).append(
                    run(make_model, x, y, args.epochs)
                )
        p, lt = min(plain_s), min(lightning_s)
        print(
            f"  {name:<20} {macs / 1e6:5.2f} MMACs: plain {images / p:7.0f} img/s, Lightning {images / lt:7.0f} img/s,"
            f" ratio {p / lt:.3f} (target >= 0.90)"
        )


if __name__ == "__main__":
    main()
