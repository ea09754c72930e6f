"""Training throughput of full training's fast path: Lightning, a plain PyTorch loop, and the conv floor.

CIFAR-10's shape held in memory as uint8 (random pixels, 10 classes), served
by the in-memory loader `src/train.py` uses (:class:`TensorLoader`: batch
128, pad-and-crop and flips as tensor ops, normalised, channels_last), the
CIFAR recipe's SGD, 1 torch thread. Per model it prints images/s for

- Lightning: ``Trainer.fit`` of the ClassificationModule on the loader;
- plain: the same steps in a bare PyTorch loop on the same loader;
- floor: each distinct conv and linear layer of the model (forward and
  backward, channels_last, batch 128) timed alone, summed over the layers:
  the rate at which this machine could run the network's arithmetic alone.

Both trainings are timed from their first step to their last (Lightning's
set-up before the first step, a fixed cost, is left out), alternating which
goes first; the best of ``--repeats`` counts. Targets: Lightning within 5% of
the plain loop and at least 40% of the floor. The SwiftNet is cut from the
shipped CIFAR-10 meta-graph at level 0.4 with the up-scale that brings its
MACs closest to MobileNetV2-0.35's. ``--device cuda`` runs it on a GPU with
bf16 autocast (Lightning's ``bf16-mixed``).

Run: .venv/bin/python bench/train.py [--images 2560] [--epochs 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial

import lightning as L
import numpy as np
import torch
from torch import nn

from gramnas import count_macs
from gramnas.counting import count_with_hooks
from gramnas.registry import mobilenet_v2, swiftnet, swiftnet_architecture
from gramnas.training.data import CIFAR10DataModule
from gramnas.training.module import ClassificationModule
from gramnas.training.tensor_data import Augmentation, TensorLoader

SGD = partial(torch.optim.SGD, lr=0.01, momentum=0.9, weight_decay=5e-4)
BATCH = 128


def autocast(device: torch.device) -> AbstractContextManager:
    """bf16 autocast on a GPU, as Lightning's ``bf16-mixed``; none on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain(make_model: Callable[[], nn.Module], loader: TensorLoader, epochs: int) -> float:
    """Seconds of ``epochs`` over ``loader`` in a bare loop."""
    device = loader.x.device
    torch.manual_seed(0)
    model = make_model().to(device, memory_format=torch.channels_last).train()
    optimizer, loss_fn = SGD(model.parameters()), nn.CrossEntropyLoss()
    synchronize(device)
    start = time.perf_counter()
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        for x, y in loader:
            with autocast(device):
                loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


class StepClock(L.Callback):
    """From the first training step's start to the last one's end."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0:
            synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(pl_module.device)
        self.seconds = time.perf_counter() - self.start


def lightning(make_model: Callable[[], nn.Module], loader: TensorLoader, epochs: int) -> float:
    """Seconds of ``epochs`` over ``loader`` in ``Trainer.fit``, as ``src/train.py`` trains."""
    device = loader.x.device
    torch.manual_seed(0)
    module = ClassificationModule(make_model(), 10, SGD, channels_last=True)
    clock = StepClock()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision="bf16-mixed" if device.type == "cuda" else "32-true",
        logger=False,
        callbacks=[clock],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loader)
    return clock.seconds


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> Counter:
    """How often each (conv or linear layer, input shape, input needs a gradient) occurs in a forward."""
    shapes: Counter = Counter()
    x = torch.zeros(BATCH, *input_shape)

    def record(layer: nn.Module, inputs: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
        if isinstance(layer, nn.Conv2d):
            spec = ("conv", layer.in_channels, layer.out_channels, layer.kernel_size,
                    layer.stride, layer.padding, layer.dilation, layer.groups, layer.bias is not None)  # fmt: skip
        else:
            spec = ("linear", layer.in_features, layer.out_features, layer.bias is not None)
        shapes[spec, tuple(inputs[0].shape), inputs[0] is not x] += 1

    hooks = [
        m.register_forward_hook(record)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


def layer_seconds(
    spec: tuple, shape: tuple[int, ...], input_grad: bool, device: torch.device
) -> float:
    """Median seconds of one forward and backward of a fresh layer of ``spec`` on ``shape``."""
    if spec[0] == "conv":
        _, cin, cout, kernel, stride, padding, dilation, groups, bias = spec
        layer = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups, bias)
        layer = layer.to(device, memory_format=torch.channels_last)
        x = torch.randn(shape, device=device).contiguous(memory_format=torch.channels_last)
    else:
        layer = nn.Linear(*spec[1:3], bias=spec[3]).to(device)
        x = torch.randn(shape, device=device)
    x.requires_grad_(input_grad)
    times = []
    for i in range(13):  # 3 warm-up runs
        synchronize(device)
        start = time.perf_counter()
        with autocast(device):
            out = layer(x)
        out.backward(torch.ones_like(out))
        synchronize(device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor(make_model: Callable[[], nn.Module], device: torch.device) -> float:
    """Images/s if the network cost only its conv and linear layers, each timed alone."""
    shapes = layer_shapes(make_model(), (3, 32, 32))
    seconds = sum(
        count * layer_seconds(spec, shape, grad, device)
        for (spec, shape, grad), count in shapes.items()
    )
    return BATCH / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2560, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in ("You defined a `validation_step`", ".*LeafSpec"):  # no validation here
        warnings.filterwarnings("ignore", message)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=generator)
    y = torch.randint(10, (args.images,), generator=generator)
    cifar = CIFAR10DataModule
    loader = TensorLoader(
        x.to(device), y.to(device), BATCH, cifar.mean, cifar.std, shuffle=True,
        augmentation=Augmentation(pad=4, flip=True),
    )  # fmt: skip

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
    images = args.epochs * len(loader.sampler)
    print(
        f"training throughput (images/s), 3x32x32 uint8 in memory, batch {BATCH}, pad-crop + flip,"
        f" {args.epochs} epoch(s) x {args.images} images, {args.threads} thread(s), channels_last,"
        f" {device.type}{' bf16 autocast' if device.type == 'cuda' else ''}"
    )
    print(
        f"  {'model':<20} {'MMACs':>6} {'floor':>7} {'plain':>7} {'Lightning':>9}"
        f"  {'Lightning/plain':>15} {'Lightning/floor':>15}"
    )
    for name, make_model in models.items():
        macs = count_with_hooks(make_model(), (3, 32, 32))[0]
        floor_rate = floor(make_model, device)
        plain_s, lightning_s = [], []
        for repeat in range(args.repeats):
            order = (plain, lightning) if repeat % 2 == 0 else (lightning, plain)
            for run in order:
                (plain_s if run is plain else lightning_s).append(
                    run(make_model, loader, args.epochs)
                )
        plain_rate, lightning_rate = images / min(plain_s), images / min(lightning_s)
        print(
            f"  {name:<20} {macs / 1e6:6.2f} {floor_rate:7.0f} {plain_rate:7.0f} {lightning_rate:9.0f}"
            f"  {lightning_rate / plain_rate:15.3f} {lightning_rate / floor_rate:15.3f}"
        )
    print("  targets: Lightning/plain >= 0.95, Lightning/floor >= 0.40")


if __name__ == "__main__":
    main()
