"""Data sets, loaded once into resident uint8 tensors, with a validation slice held out of the training set."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DatasetError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_CACHE = Path.home() / ".cache" / "evohybrid" / "data"
# The classes of each registered data set: its loader's and its chance level's one source, read without loading it.
NUM_CLASSES = {"fashion-mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "synthetic-cifar10": 10}


@dataclass(frozen=True)
class ImageData:
    """Images as uint8 (N, C, H, W) and labels as int64 (N,), for the training and the test split."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class SearchSplit:
    """What search sees: a fixed training slice and a validation slice, both from the training split."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    mean: torch.Tensor  # per channel, from the training slice, on the 0..1 scale
    std: torch.Tensor
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> "SearchSplit":
        """The same split resident on `device` (images stay uint8 to save memory)."""
        return SearchSplit(*(tensor.to(device) for tensor in (self.train_images, self.train_labels, self.val_images,
                                                                self.val_labels, self.mean, self.std)), self.num_classes)


def search_split(data: ImageData, *, val_size: int, train_size: int | None, seed: int,
                 resolution: int | None = None) -> SearchSplit:
    """Hold out `val_size` training images for validation (fixed by `seed`); keep `train_size` of the rest."""
    total = len(data.train_labels)
    if val_size < 1 or val_size >= total:
        raise DatasetError(f"data.val_size must be between 1 and {total - 1} for {data.name}, got {val_size}")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    val_index, train_index = order[:val_size], order[val_size:]
    if train_size is not None:
        train_index = train_index[:train_size]
    train_images, val_images = data.train_images[train_index], data.train_images[val_index]
    if resolution is not None and resolution != train_images.shape[-1]:
        train_images, val_images = resize_images(train_images, resolution), resize_images(val_images, resolution)
    scaled = train_images.float().div_(255)
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return SearchSplit(train_images, data.train_labels[train_index], val_images, data.train_labels[val_index],
                       mean, std, data.num_classes)


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    resized = torch.nn.functional.interpolate(images.float(), size=(resolution, resolution), mode="bilinear",
                                              antialias=True, align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def augment(images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crops of the zero-padded batch (one offset per image), and random horizontal flips when `flip`."""
    n, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding,) * 4)
    # The generator lives on the images' device: no host-to-device copy, no synchronisation per batch.
    dy, dx = (torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device) for _ in range(2))
    rows = (dy[:, None] + torch.arange(height, device=device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=device))[:, None, None, :]
    images = padded[torch.arange(n, device=device)[:, None, None, None],
                    torch.arange(channels, device=device)[None, :, None, None], rows, cols]
    if flip:
        mirrored = torch.rand(n, generator=generator, device=device) < 0.5
        images = torch.where(mirrored[:, None, None, None], images.flip(3), images)
    return images


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _find_idx_dir(candidates: list[Path]) -> Path | None:
    needed = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for base in candidates:
        for folder in (base, base / "fashion-mnist", base / "FashionMNIST" / "raw"):
            if all((folder / name).is_file() or (folder / f"{name}.gz").is_file() for name in needed):
                return folder
    return None


def _idx_file(folder: Path, name: str) -> Path:
    plain = folder / name
    return plain if plain.is_file() else folder / f"{name}.gz"


def _load_fashion_mnist(data_dir: Path | None, download: bool) -> ImageData:
    candidates = [path for path in (data_dir, _env_data_dir(), DEBIAN_FASHION_MNIST) if path is not None]
    folder = _find_idx_dir(candidates)
    if folder is None:
        root = data_dir or _env_data_dir() or DEFAULT_CACHE
        _torchvision_download("FashionMNIST", root, download,
                              "install it with 'apt-get install dataset-fashion-mnist', or put the four IDX files in --data-dir")
        folder = root / "FashionMNIST" / "raw"
    images = {split: torch.from_numpy(_read_idx(_idx_file(folder, f"{split}-images-idx3-ubyte")).copy()).unsqueeze(1)
              for split in ("train", "t10k")}
    labels = {split: torch.from_numpy(_read_idx(_idx_file(folder, f"{split}-labels-idx1-ubyte")).astype(np.int64))
              for split in ("train", "t10k")}
    return ImageData("fashion-mnist", images["train"], labels["train"], images["t10k"], labels["t10k"],
                     NUM_CLASSES["fashion-mnist"])


def _torchvision_download(class_name: str, root: Path, download: bool, advice: str) -> None:
    """Fetch a data set with torchvision into `root`, or raise a DatasetError that says how to get it."""
    import torchvision.datasets as datasets

    if not download:
        raise DatasetError(f"{class_name} not found in {root}: {advice}")
    try:
        for train in (True, False):
            getattr(datasets, class_name)(str(root), train=train, download=True)
    except Exception as error:  # no network, a proxy, a corrupt archive: all end the same way for the user
        raise DatasetError(f"{class_name} is not in {root} and could not be downloaded ({type(error).__name__}): "
                           f"{advice}") from None


def _torchvision_loader(name: str, class_name: str) -> Callable[[Path | None, bool], ImageData]:
    def load(data_dir: Path | None, download: bool) -> ImageData:
        import torchvision.datasets as datasets

        root = data_dir or _env_data_dir() or DEFAULT_CACHE
        advice = (f"run once with network access to download it, or put torchvision's {class_name} files "
                  f"in --data-dir (or EVOHYBRID_DATA)")
        try:
            splits = [getattr(datasets, class_name)(str(root), train=train, download=False) for train in (True, False)]
        except RuntimeError:
            _torchvision_download(class_name, root, download, advice)
            splits = [getattr(datasets, class_name)(str(root), train=train, download=False) for train in (True, False)]
        tensors = []
        for split in splits:
            images = torch.as_tensor(np.asarray(split.data))
            images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
            tensors += [images.contiguous(), torch.as_tensor(np.asarray(split.targets), dtype=torch.int64)]
        return ImageData(name, *tensors, NUM_CLASSES[name])

    return load


def _load_synthetic_cifar10(data_dir: Path | None, download: bool) -> ImageData:
    """Random images and labels in CIFAR-10's shape and size: times a machine with no download (accuracy is chance)."""
    generator = torch.Generator().manual_seed(0)
    classes = NUM_CLASSES["synthetic-cifar10"]
    splits = []
    for count in (50000, 10000):
        splits += [torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator),
                   torch.randint(0, classes, (count,), generator=generator)]
    return ImageData("synthetic-cifar10", *splits, classes)


def _env_data_dir() -> Path | None:
    value = os.environ.get("EVOHYBRID_DATA")
    return Path(value) if value else None


DATASETS: dict[str, Callable[[Path | None, bool], ImageData]] = {
    "fashion-mnist": _load_fashion_mnist,
    "mnist": _torchvision_loader("mnist", "MNIST"),
    "cifar10": _torchvision_loader("cifar10", "CIFAR10"),
    "cifar100": _torchvision_loader("cifar100", "CIFAR100"),
    "synthetic-cifar10": _load_synthetic_cifar10,
}


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True) -> ImageData:
    """Load a registered data set into memory; look in `data_dir`, then EVOHYBRID_DATA, then system packages."""
    if name not in DATASETS:
        raise DatasetError(f"unknown data set '{name}': use one of {sorted(DATASETS)}")
    return DATASETS[name](Path(data_dir) if data_dir is not None else None, download)
