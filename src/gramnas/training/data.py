"""LightningDataModules for the datasets GRAM searches and SwiftNets train on.

Every module exposes its input shape and classes (so a meta-graph can be
derived for it) and :meth:`ImageDataModule.proxy_data`: fixed, seeded,
disjoint subsets of the *training* split held as in-memory tensors, so a
candidate's proxy training pays no loader cost. The test split is never used
by the search.

Full training reads each split decoded once into memory
(:mod:`gramnas.training.tensor_data`) unless ``in_memory=False``, which
keeps the DataLoader over the files for datasets too large for memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)
from torchvision.datasets import ImageFolder  # loaded by Lightning anyway
from torchvision.datasets.folder import default_loader

from gramnas.errors import GramError, field_error, require_int
from gramnas.training.tensor_data import Augmentation, TensorLoader, decode


@dataclass
class ProxyData:
    """The proxy training and validation sets of a search, as tensors."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def to(self, memory_format: torch.memory_format) -> ProxyData:
        return ProxyData(
            self.train_x.contiguous(memory_format=memory_format),
            self.train_y,
            self.val_x.contiguous(memory_format=memory_format),
            self.val_y,
            self.num_classes,
        )


def tensor_loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    """Whole batches sliced out of tensors: no per-sample indexing or collation."""
    dataset = TensorDataset(x, y)
    if shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(
        dataset, sampler=BatchSampler(sampler, batch_size, drop_last=False), batch_size=None
    )


class ImageDataModule(L.LightningDataModule):
    """Base class: subclasses build the train and test datasets; this class serves them.

    ``in_memory`` (the default) serves full training from tensors decoded once
    (:class:`~gramnas.training.tensor_data.TensorLoader`); ``in_memory=False``
    from a DataLoader that reads and transforms the files on every epoch.
    """

    in_channels: int = 3
    input_size: int = 32
    num_classes: int = 10
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    flips: bool = False  # horizontal flips in training: natural images only

    def __init__(
        self,
        root: str = "data",
        batch_size: int = 128,
        num_workers: int = 0,
        augment: bool = True,
        val_fraction: float = 0.0,
        seed: int = 0,
        in_memory: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise field_error("data.batch_size", f"must be >= 1, got {batch_size}")
        self.root = Path(root)
        self.batch_size = batch_size
        self.num_workers = num_workers
        if not 0.0 <= val_fraction < 1.0:
            raise field_error("data.val_fraction", f"must be in [0, 1), got {val_fraction}")
        self.augment = augment
        self.val_fraction = val_fraction
        self.seed = seed
        self.in_memory = in_memory
        self._decoded: dict[bool, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    # --- what subclasses provide ---------------------------------------------------------

    def dataset(self, train: bool, augment: bool) -> Dataset:
        raise NotImplementedError

    def augmentation(self) -> Augmentation | None:
        """Full training's augmentation: pad-and-crop by an eighth of the side, flips where ``flips``."""
        return Augmentation(pad=self.input_size // 8, flip=self.flips)

    def _decode(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The split's un-augmented images (uint8 pixels, or float normalised) and labels."""
        raise NotImplementedError

    def decoded(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_decode`, once per split: fit and test both call :meth:`setup`."""
        if train not in self._decoded:
            self._decoded[train] = self._decode(train)
        return self._decoded[train]

    def normalize(self) -> Any:
        from torchvision import transforms

        return transforms.Normalize(self.mean, self.std)

    # --- proxy sets for the search -------------------------------------------------------

    def proxy_data(
        self, train_size: int, val_size: int, seed: int, outside_validation: bool = False
    ) -> ProxyData:
        """Seeded, disjoint subsets of the training split, without augmentation.

        ``outside_validation`` draws none of the images full training holds out
        (:meth:`validation_split`), so that a proxy can be scored against the
        validation accuracy of full training without having seen its images.
        """
        require_int("proxy.train_size", train_size, 1)
        require_int("proxy.val_size", val_size, 1)
        dataset = self.dataset(train=True, augment=False)
        total = len(dataset)  # type: ignore[arg-type]
        pool = np.asarray(self.validation_split(total)[1]) if outside_validation else None
        available = total if pool is None else len(pool)
        if train_size + val_size > available:
            raise field_error(
                "proxy.train_size + proxy.val_size",
                f"{train_size} + {val_size} exceeds the {available} training samples",
                "use smaller proxy sets",
            )
        rng = np.random.default_rng(seed)
        order = (rng.permutation(total) if pool is None else rng.permutation(pool))[
            : train_size + val_size
        ]
        images, labels = zip(*(dataset[int(i)] for i in order), strict=True)
        x = torch.stack(images)
        y = torch.as_tensor(labels, dtype=torch.long)
        return ProxyData(
            x[:train_size], y[:train_size], x[train_size:], y[train_size:], self.num_classes
        )

    # --- LightningDataModule hooks for full training -------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Training split, a seeded validation slice of it (``val_fraction``), and the test split."""
        if self.in_memory:
            self._setup_tensors()
            return
        train = self.dataset(train=True, augment=self.augment)
        self.val_set = None
        if self.val_fraction:
            val, rest = self.validation_split(len(train))  # type: ignore[arg-type]
            self.val_set = torch.utils.data.Subset(self.dataset(train=True, augment=False), val)
            train = torch.utils.data.Subset(train, rest)
        self.train_set = train
        self.test_set = self.dataset(train=False, augment=False)

    def validation_split(self, size: int) -> tuple[list[int], list[int]]:
        """Indices of the validation slice (``val_fraction``) and of the rest of the training
        split, seeded by ``seed``: what full training validates and trains on."""
        order = torch.randperm(size, generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = max(1, round(size * self.val_fraction))
        return order[:n_val], order[n_val:]

    def _setup_tensors(self) -> None:
        """The splits as tensors on the trainer's device (one copy there for the whole run)."""
        x, y = self.decoded(train=True)
        splits = {"train": (x, y)}
        if self.val_fraction:
            val, rest = (torch.tensor(i) for i in self.validation_split(len(y)))
            splits = {"train": (x[rest], y[rest]), "val": (x[val], y[val])}
        splits["test"] = self.decoded(train=False)
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        self.tensors = {name: (x.to(device), y.to(device)) for name, (x, y) in splits.items()}

    def _tensor_loader(self, split: str, train: bool) -> TensorLoader:
        x, y = self.tensors[split]
        # The global seed (seed_everything) picks the order, alike in every DDP process.
        seed = torch.initial_seed() if train else 0
        rank, world_size = (
            (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        )
        return TensorLoader(
            x,
            y,
            self.batch_size,
            self.mean,
            self.std,
            shuffle=train,
            augmentation=self.augmentation() if train and self.augment else None,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader | TensorLoader:
        if self.in_memory:
            return self._tensor_loader("train", train=True)
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | TensorLoader:
        if self.in_memory:
            return self._tensor_loader("val" if "val" in self.tensors else "test", train=False)
        return self._loader(
            self.val_set if self.val_set is not None else self.test_set, shuffle=False
        )

    def test_dataloader(self) -> DataLoader | TensorLoader:
        if self.in_memory:
            return self._tensor_loader("test", train=False)
        return self._loader(self.test_set, shuffle=False)


class TensorDataModule(ImageDataModule):
    """Data generated or loaded as normalised float tensors, ``_splits[train]``: never augmented.

    Their images are too small (8x8 digits) or their signal too pixel-exact
    (synthetic templates) for pad-and-crop.
    """

    _splits: dict[bool, tuple[torch.Tensor, torch.Tensor]]

    def augmentation(self) -> Augmentation | None:
        return None

    def dataset(self, train: bool, augment: bool) -> Dataset:
        return TensorDataset(*self._splits[train])

    def _decode(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return self._splits[train]


class DigitsDataModule(TensorDataModule):
    """scikit-learn's 8x8 handwritten digits (1,797 images): ships with the package, needs no download."""

    in_channels, input_size, num_classes = 1, 8, 10
    mean, std = (0.305,), (0.376,)

    def __init__(self, test_fraction: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        x = (x - self.mean[0]) / self.std[0]
        y = torch.tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        n_test = round(len(y) * test_fraction)
        self._splits = {
            False: (x[order[:n_test]], y[order[:n_test]]),
            True: (x[order[n_test:]], y[order[n_test:]]),
        }


class SyntheticDataModule(TensorDataModule):
    """Generated images with a learnable class signal, of any shape: for tests and benchmarks."""

    def __init__(
        self,
        in_channels: int = 3,
        input_size: int = 32,
        num_classes: int = 10,
        train_samples: int = 1000,
        test_samples: int = 200,
        noise: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require_int("data.num_classes", num_classes, 2)  # torch's own refusal is a traceback
        self.in_channels, self.input_size, self.num_classes = in_channels, input_size, num_classes
        generator = torch.Generator().manual_seed(12345)
        templates = torch.randn(
            num_classes, in_channels, input_size, input_size, generator=generator
        )

        def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(num_classes, (n,), generator=generator)
            return templates[y] + noise * torch.randn(
                n, in_channels, input_size, input_size, generator=generator
            ), y

        self._splits = {True: make(train_samples), False: make(test_samples)}


class TorchvisionDataModule(ImageDataModule):
    """A torchvision classification dataset; downloads when it can, explains what to place where when it cannot."""

    dataset_name: str = ""
    expected_files: str = ""
    # The folder under root where an offline copy (../shared/data) unpacks, if the dataset has one.
    offline_copy: str = ""
    copy_config = "imagefolder"  # the data config that reads the copy
    flips = True

    def __init__(self, download: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.download = download

    def train_augmentation(self) -> list[Any]:
        """:meth:`augmentation` as torchvision transforms, for the DataLoader path."""
        from torchvision import transforms

        policy = self.augmentation()
        assert policy is not None
        steps = [transforms.RandomCrop(self.input_size, padding=policy.pad)]
        return [*steps, transforms.RandomHorizontalFlip()] if policy.flip else steps

    def decode_steps(self) -> list[Any]:
        """What makes a file the network's image, before augmentation (ImageFolder resizes)."""
        return []

    def transform(self, augment: bool) -> Any:
        from torchvision import transforms

        steps = [*self.decode_steps(), *(self.train_augmentation() if augment else [])]
        return transforms.Compose([*steps, transforms.ToTensor(), self.normalize()])

    def dataset(self, train: bool, augment: bool) -> Dataset:
        return self._split(train, self.transform(augment))

    def _decode(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision import transforms

        pixels = transforms.Compose([*self.decode_steps(), transforms.PILToTensor()])
        return decode(self._split(train, pixels), self.input_shape, self.num_workers)

    def _construct(self, train: bool, transform: Any) -> Dataset:
        raise NotImplementedError

    def _split(self, train: bool, transform: Any) -> Dataset:
        try:
            return self._construct(train, transform)
        except Exception as exc:  # torchvision raises RuntimeError or URLError offline
            raise GramError(
                f"data.root: {self.dataset_name} is not under {self.root} and could not be downloaded "
                f"({type(exc).__name__}); {self._fix()}"
            ) from None

    def _fix(self) -> str:
        """What to do offline; an unpacked copy (``../shared/data``) is the fix at hand."""
        place = (
            f"place {self.expected_files} under {self.root} or run where the internet is reachable"
        )
        copy = self.root / self.offline_copy
        if self.offline_copy and (copy / "train").is_dir():
            return f"its offline copy is unpacked: add data={self.copy_config} data.root={copy}, or {place}"
        return place

    def prepare_data(self) -> None:
        for train in (True, False):
            self.dataset(train, augment=False)


class CIFAR10DataModule(TorchvisionDataModule):
    dataset_name, expected_files = "CIFAR-10", "cifar-10-batches-py/ (from cifar-10-python.tar.gz)"
    offline_copy = "cifar10-jpg"
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

    def _construct(self, train: bool, transform: Any) -> Dataset:
        from torchvision.datasets import CIFAR10

        return CIFAR10(str(self.root), train=train, transform=transform, download=self.download)


class MNISTDataModule(TorchvisionDataModule):
    dataset_name, expected_files = (
        "MNIST",
        "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
    )
    in_channels, input_size = 1, 28
    mean, std = (0.1307,), (0.3081,)
    offline_copy, copy_config = "mnist-png", "mnist_png"
    flips = False  # no flips for digits

    def _construct(self, train: bool, transform: Any) -> Dataset:
        from torchvision.datasets import MNIST

        return MNIST(str(self.root), train=train, transform=transform, download=self.download)


class FashionMNISTDataModule(MNISTDataModule):
    dataset_name = "Fashion-MNIST"
    offline_copy = ""
    expected_files = "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz"
    mean, std = (0.2860,), (0.3530,)

    def _construct(self, train: bool, transform: Any) -> Dataset:
        from torchvision.datasets import FashionMNIST

        return FashionMNIST(
            str(self.root), train=train, transform=transform, download=self.download
        )


class SVHNDataModule(TorchvisionDataModule):
    dataset_name, expected_files = "SVHN", "train_32x32.mat and test_32x32.mat"
    mean, std = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
    flips = False  # flipped digits are other digits

    def _construct(self, train: bool, transform: Any) -> Dataset:
        from torchvision.datasets import SVHN

        split = "train" if train else "test"
        return SVHN(str(self.root), split=split, transform=transform, download=self.download)


class ImageFolderDataModule(TorchvisionDataModule):
    """Any class-folder dataset: ``root/train/<class>/*`` and ``root/test/<class>/*``,
    or a single ``root/<class>/*`` tree split by ``test_fraction``."""

    dataset_name = "an ImageFolder dataset"

    def __init__(
        self,
        input_size: int = 32,
        in_channels: int = 3,
        test_fraction: float = 0.2,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        flips: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("download", False)
        super().__init__(**kwargs)
        self.input_size, self.in_channels = input_size, in_channels
        self.flips = flips  # false for digits and text, which flipped are other classes
        self.test_fraction = test_fraction
        imagenet = in_channels == 3  # ImageNet statistics for colour images, 0.5 for grey
        self.mean = tuple(mean) if mean else ((0.485, 0.456, 0.406) if imagenet else (0.5,))
        self.std = tuple(std) if std else ((0.229, 0.224, 0.225) if imagenet else (0.5,))
        self.expected_files = "train/<class>/*.jpg and test/<class>/*.jpg (or <class>/*.jpg)"
        self.num_classes = len(self._classes())

    def _classes(self) -> list[str]:
        base = self.root / "train" if (self.root / "train").is_dir() else self.root
        if not base.is_dir():
            raise field_error(
                "data.root", f"{self.root} is not a folder", f"expected {self.expected_files}"
            )
        classes = sorted(p.name for p in base.iterdir() if p.is_dir())
        if len(classes) < 2:
            raise field_error(
                "data.root",
                f"{base} holds {len(classes)} class folders",
                f"expected {self.expected_files}",
            )
        return classes

    def decode_steps(self) -> list[Any]:
        from torchvision import transforms

        steps = [transforms.Resize((self.input_size, self.input_size))]
        return [*steps, transforms.Grayscale()] if self.in_channels == 1 else steps

    def _split(self, train: bool, transform: Any) -> Dataset:
        classes = self._classes()  # the training split's, for every split
        split_dir = self.root / ("train" if train else "test")
        if (self.root / "train").is_dir():
            if not split_dir.is_dir():
                raise field_error(
                    "data.root", f"{split_dir} is missing", f"expected {self.expected_files}"
                )
            unknown = sorted({p.name for p in split_dir.iterdir() if p.is_dir()} - set(classes))
            if unknown:
                raise field_error(
                    "data.root",
                    f"{split_dir} holds class {', '.join(unknown)}, which {self.root / 'train'} lacks",
                    "give every class training images or remove it from the split",
                )
            return ClassFolder(split_dir, classes, transform, allow_empty=not train)
        full = ClassFolder(self.root, classes, transform, allow_empty=False)
        order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0)).tolist()
        n_test = round(len(full) * self.test_fraction)
        return torch.utils.data.Subset(full, order[n_test:] if train else order[:n_test])


class ClassFolder(ImageFolder):
    """An ImageFolder labelled by the training split's classes, not by the folders it finds.

    ImageFolder numbers the folders it finds: a test split that lacks class b of
    a, b, c would label its c images 1, which the model learnt as b.
    """

    def __init__(
        self, root: Path, classes: Sequence[str], transform: Any, allow_empty: bool
    ) -> None:
        self.known_classes = list(classes)
        try:
            super().__init__(
                str(root), transform=transform, loader=load_image, allow_empty=allow_empty
            )
        except FileNotFoundError as exc:  # a class folder without images
            raise field_error("data.root", f"{root}: {str(exc).splitlines()[0]}") from None

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        return self.known_classes, {name: i for i, name in enumerate(self.known_classes)}


def load_image(path: str) -> Any:
    """An RGB image; a file that is not one fails in one line naming it, not in PIL's traceback."""
    try:
        return default_loader(path)
    except OSError as exc:
        raise field_error(
            "data.root",
            f"{path} is not a readable image ({type(exc).__name__})",
            "replace or remove it",
        ) from None
