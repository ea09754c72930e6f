"""Full training's in-memory data: decoded once, batched augmentation, the loader Lightning iterates."""

from __future__ import annotations

from functools import partial

import lightning as L
import pytest
import torch

from gramnas.registry import swiftnet
from gramnas.training.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    SVHNDataModule,
    SyntheticDataModule,
)
from gramnas.training.module import ClassificationModule
from gramnas.training.tensor_data import Augmentation, TensorLoader, augment_batch, to_input
from test_bad_input import image_folder
from test_train import DIGITS, run_train


@pytest.mark.parametrize("in_channels", [3, 1])
def test_decoded_pixels_are_the_pil_path_s_images(tmp_path, in_channels):
    root = image_folder(tmp_path / "images")  # 8x8 PNGs, resized to 6x6 here
    data = ImageFolderDataModule(root=str(root), input_size=6, in_channels=in_channels)
    for train in (True, False):
        x, y = data.decoded(train)
        images, labels = zip(*data.dataset(train, augment=False), strict=True)
        assert x.dtype == torch.uint8 and x.shape == (6, in_channels, 6, 6)
        mean, std = (torch.tensor(v).view(-1, 1, 1) for v in (data.mean, data.std))
        assert torch.equal(to_input(x, mean, std), torch.stack(images))
        assert y.tolist() == list(labels)


def batches(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_validation_and_test_batches_are_the_dataloader_s(tmp_path):
    root = image_folder(tmp_path / "images")
    fast, files = (
        ImageFolderDataModule(root=str(root), input_size=8, val_fraction=0.5, in_memory=in_memory)
        for in_memory in (True, False)
    )
    fast.setup(), files.setup()
    for split in ("val_dataloader", "test_dataloader"):
        x, y = batches(getattr(fast, split)())
        expected_x, expected_y = batches(getattr(files, split)())
        assert torch.equal(x, expected_x) and torch.equal(y, expected_y), split
        assert x.is_contiguous(memory_format=torch.channels_last)
    x, y = batches(fast.train_dataloader())
    assert sorted(y.tolist()) == sorted(batches(files.train_dataloader())[1].tolist())


def test_augmentation_keeps_pixels_and_shapes():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # every output pixel is an input pixel of the same image and channel, or padding (0)
    for i in range(2):
        for c in range(3):
            assert set(out[i, c].unique().tolist()) <= set(x[i, c].unique().tolist()) | {0.0}
    again = augment_batch(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert not torch.equal(out, augment_batch(x, torch.Generator().manual_seed(1)))


def test_augmentation_without_flips_only_shifts():
    columns = torch.arange(1, 9, dtype=torch.uint8).expand(64, 1, 8, 8)  # pixel value = column
    out = augment_batch(columns, torch.Generator().manual_seed(0), pad=2, flip=False)
    assert out.dtype == torch.uint8
    for row in out[:, 0, 4].long():  # a middle row: never all padding
        kept = row[row > 0]
        assert torch.equal(kept, torch.arange(int(kept[0]), int(kept[0]) + len(kept)))
    flipped = augment_batch(columns, torch.Generator().manual_seed(0), pad=2, flip=True)
    assert any(row[row > 0][0] > row[row > 0][-1] for row in flipped[:, 0, 4])


def test_each_dataset_s_augmentation_policy(tmp_path):
    root = image_folder(tmp_path / "images")
    policies = {
        CIFAR10DataModule: Augmentation(pad=4, flip=True),
        MNISTDataModule: Augmentation(pad=3, flip=False),  # 28x28 digits
        SVHNDataModule: Augmentation(pad=4, flip=False),
        partial(ImageFolderDataModule, root=str(root)): Augmentation(pad=4, flip=True),
        DigitsDataModule: None,
        SyntheticDataModule: None,
    }
    for make, policy in policies.items():
        data = make()
        assert data.augmentation() == policy
        if policy is not None:  # the DataLoader path's transforms say the same
            names = [type(t).__name__ for t in data.train_augmentation()]
            assert names == ["RandomCrop", "RandomHorizontalFlip"][: 1 + policy.flip]
            assert data.train_augmentation()[0].padding == policy.pad


def test_loader_length_order_and_epochs():
    x, y = torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10)
    loader = TensorLoader(x, y, 4, (0.5,), (0.5,), shuffle=True, seed=3)
    assert len(loader) == 3 and [len(b) for _, b in loader] == [4, 4, 2]
    first = batches(loader)[1]
    assert sorted(first.tolist()) == list(range(10))  # every sample once
    assert torch.equal(batches(loader)[1], first)  # an epoch's order is its seed's
    loader.sampler.set_epoch(1)
    second = batches(loader)[1]
    assert sorted(second.tolist()) == list(range(10)) and not torch.equal(second, first)
    plain = TensorLoader(x, y, 4, (0.5,), (0.5,))
    assert batches(plain)[1].tolist() == list(range(10))
    # DDP: each of 3 processes the same number of batches, together every sample
    shards = [TensorLoader(x, y, 2, (0.5,), (0.5,), rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in shards] == [2, 2, 2]
    assert set(torch.cat([batches(s)[1] for s in shards]).tolist()) == set(range(10))


def test_augmented_batches_follow_the_seed():
    x = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    make = partial(TensorLoader, x, torch.arange(20), 8, (0.5,) * 3, (0.2,) * 3, shuffle=True)
    policy = Augmentation(pad=1, flip=True)
    one, two = (
        batches(make(augmentation=policy, seed=0)),
        batches(make(augmentation=policy, seed=0)),
    )
    assert torch.equal(one[0], two[0]) and one[0].shape == (20, 3, 8, 8)
    plain = batches(make(seed=0))
    assert torch.equal(plain[1], one[1]) and not torch.equal(plain[0], one[0])
    assert one[0].dtype == torch.float32


def test_lightning_trains_from_memory_and_tests_under_inference_mode():
    data = SyntheticDataModule(input_size=8, train_samples=64, test_samples=16, batch_size=16)
    module = ClassificationModule(
        swiftnet(level=0.4, upscale=1.0, input_size=8),
        10,
        partial(torch.optim.SGD, lr=0.01),
        channels_last=True,
    )
    evaluated = []  # inference mode at each evaluation forward
    module.model.register_forward_hook(
        lambda model, *_: (
            None if model.training else evaluated.append(torch.is_inference_mode_enabled())
        )
    )
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=data)
    assert isinstance(trainer.train_dataloader, TensorLoader) and trainer.global_step == 4
    evaluated.clear()  # validation inside fit runs under no_grad, as Lightning needs for DDP
    trainer.test(module, datamodule=data, verbose=False)
    assert evaluated and all(evaluated)


@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_a_training_run_from_memory_or_from_a_dataloader(tmp_path, in_memory):
    metrics = run_train(
        tmp_path, "trainer.max_epochs=1", f"data.in_memory={in_memory}", data=DIGITS
    )
    assert metrics["epochs"] == 1 and 0 <= metrics["top1"] <= 100
