"""Training data held in memory as tensors: decoded once, augmented and normalised a batch at a time.

A DataLoader over image files decodes every JPEG or PNG and runs PIL
transforms on every epoch, which on a CPU costs about as much as training a
small network. Here each split is decoded once into one uint8 tensor (on a GPU,
resident there); pad-and-crop and flips are batched tensor ops on the device,
and batches come out as float, normalised and channels_last.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

PAD = 4  # pixels of pad-and-crop augmentation at 32x32


@dataclass(frozen=True)
class Augmentation:
    """A dataset's training augmentation as data: pad-and-crop by ``pad`` pixels, flips or none."""

    pad: int
    flip: bool


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, pad: int = PAD, flip: bool = True
) -> torch.Tensor:
    """Per-image random pad-crop and horizontal flip, as batched tensor ops.

    Padding is 0 (black, before normalisation). The random numbers come from
    ``generator`` (a CPU one) on any device, so a seed augments alike everywhere.
    One gather picks each output pixel's row and (flipped) column; the result
    is a channels_last view, which the network wants anyway.
    """
    n, _, h, w = x.shape
    device = x.device
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n, 1), generator=generator).to(device)
    cols = torch.arange(w, device=device)
    if flip:
        flipped = torch.rand(n, generator=generator).to(device) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(0), cols)
    rows = dy + torch.arange(h, device=device)  # (n, h)
    cols = dx + cols  # (n, w)
    # Advanced indices on dims 0, 2 and 3 around the channel slice give (n, h, w, c).
    images = torch.arange(n, device=device)[:, None, None]
    return padded[images, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def decode(
    dataset: Dataset, input_shape: tuple[int, int, int], num_workers: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (uint8 image, label) pairs of ``dataset`` stacked: the one decode of a split."""
    batches = list(DataLoader(dataset, batch_size=256, num_workers=num_workers))
    if not batches:  # an empty test split
        return torch.empty(0, *input_shape, dtype=torch.uint8), torch.empty(0, dtype=torch.long)
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]).long()


def to_input(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """A float channels_last batch; uint8 pixels scaled and normalised as ToTensor and Normalize do.

    Float images (digits, synthetic data) are held normalised already.
    """
    if x.dtype != torch.uint8:
        return x.contiguous(memory_format=torch.channels_last)
    scaled = x.to(dtype=torch.float32, memory_format=torch.channels_last).div_(255)
    return scaled.sub_(mean).div_(std)


class EpochOrder:
    """Which samples an epoch visits, in which order, from (seed, epoch) alone.

    As with DistributedSampler, ``set_epoch`` picks the epoch (Lightning calls
    it through the loader's ``sampler``) and each of ``world_size`` processes
    takes every ``world_size``-th index of the order, padded so that all take
    the same number of batches.
    """

    def __init__(
        self, size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size)

    def generator(self) -> torch.Generator:
        """The epoch's random numbers: its order, then its augmentation batch by batch."""
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(state))

    def indices(self, generator: torch.Generator) -> torch.Tensor:
        shuffled = self.shuffle
        order = (
            torch.randperm(self.size, generator=generator) if shuffled else torch.arange(self.size)
        )
        total = len(self) * self.world_size
        if total > self.size:
            order = order.repeat(math.ceil(total / self.size))[:total]
        return order[self.rank :: self.world_size]


class TensorLoader:
    """Batches (float normalised channels_last images, labels) out of tensors held in memory.

    ``x`` is uint8 (N, C, H, W) pixels, normalised per batch with ``mean`` and
    ``std``, or float images already normalised; batches live on ``x``'s
    device. With ``augmentation``, each batch is pad-cropped and flipped there.
    Lightning takes it as a dataloader (it has ``__iter__`` and ``__len__``).
    """

    batch_sampler = None  # Lightning looks for one on anything with a ``sampler``

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        shuffle: bool = False,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.mean = torch.tensor(mean, device=x.device).view(-1, 1, 1)
        self.std = torch.tensor(std, device=x.device).view(-1, 1, 1)
        self.augmentation = augmentation
        self.sampler = EpochOrder(len(y), shuffle, seed, rank, world_size)

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = self.sampler.generator()
        order = self.sampler.indices(generator).to(self.x.device)
        for idx in order.split(self.batch_size):
            x = self.x[idx]
            if self.augmentation is not None:
                x = augment_batch(x, generator, self.augmentation.pad, self.augmentation.flip)
            yield to_input(x, self.mean, self.std), self.y[idx]
