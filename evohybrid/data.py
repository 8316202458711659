"""Data sets, loaded once into resident tensors, with a validation slice held out of the training set.

Images are uint8 (N, C, H, W); series (the UCR/UEA sets bundled with aeon, `ucr:<name>`, and MNIST-1D, generated
offline) are float32 (N, C, L), shorter series zero-padded at the end to the longest.
"""

from __future__ import annotations

import gzip
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .dataset_names import GENERATED_DEFAULTS, NUM_CLASSES, UCR_CLASSES, UCR_SETS, dataset_holds, unknown_dataset
from .errors import DatasetError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_CACHE = Path.home() / ".cache" / "evohybrid" / "data"


@dataclass(frozen=True)
class LabelledData:
    """Inputs (uint8 images (N, C, H, W) or float32 series (N, C, L)) and int64 labels (N,), for the training and
    the test split."""

    name: str
    train_inputs: torch.Tensor
    train_labels: torch.Tensor
    test_inputs: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_inputs.shape[1:])


@dataclass(frozen=True)
class Augmentation:
    """A data set's training-time variation: random crops of the image zero-padded by `padding` pixels, and random
    horizontal flips where a mirrored image keeps its class."""

    padding: int  # pixels, at the size the images are used at
    flip: bool

    def resized(self, native: int, resolution: int) -> "Augmentation":
        """The same policy for images resized from `native` to `resolution` pixels (at least one pixel of shift)."""
        return Augmentation(max(1, round(self.padding * resolution / native)) if self.padding else 0, self.flip)


@dataclass(frozen=True)
class SearchSplit:
    """What search sees: a fixed training slice and a validation slice, both from the training split."""

    train_inputs: torch.Tensor
    train_labels: torch.Tensor
    val_inputs: torch.Tensor
    val_labels: torch.Tensor
    mean: torch.Tensor  # per channel, from the training slice, on `as_float`'s scale (images: 0..1)
    std: torch.Tensor
    num_classes: int
    augmentation: Augmentation  # the data set's policy at this split's resolution

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_inputs.shape[1:])

    def to(self, device: torch.device | str) -> "SearchSplit":
        """The same split resident on `device` (images stay uint8 to save memory)."""
        return SearchSplit(*(tensor.to(device) for tensor in (self.train_inputs, self.train_labels, self.val_inputs,
                                                                self.val_labels, self.mean, self.std)),
                           self.num_classes, self.augmentation)


def search_split(data: LabelledData, *, val_size: int | float, train_size: int | None, seed: int,
                 resolution: int | None = None) -> SearchSplit:
    """Hold out `val_size` training inputs (or that fraction of them, below 1) for validation, fixed by `seed`;
    keep `train_size` of the rest."""
    total = len(data.train_labels)
    val_size = validation_count(val_size, total, data.name)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    val_index, train_index = order[:val_size], order[val_size:]
    if train_size is not None:
        train_index = train_index[:train_size]
    train_inputs, val_inputs = data.train_inputs[train_index], data.train_inputs[val_index]
    if resolution is not None:
        train_inputs, val_inputs = resample(train_inputs, resolution), resample(val_inputs, resolution)
    scaled = as_float(train_inputs)
    positions = tuple(range(2, scaled.ndim))
    mean = scaled.mean(dim=(0, *positions))
    std = scaled.std(dim=(0, *positions)).clamp_min(1e-3)
    augmentation = AUGMENTATION.get(data.name, NO_AUGMENTATION).resized(data.input_shape[-1], train_inputs.shape[-1])
    return SearchSplit(train_inputs, data.train_labels[train_index], val_inputs, data.train_labels[val_index],
                       mean, std, data.num_classes, augmentation)


def stratified_folds(labels: torch.Tensor, folds: int, seed: int, *, setting: str = "--folds") -> list[torch.Tensor]:
    """Indices of `folds` folds, each class dealt round-robin after a seeded shuffle, so every fold holds each class
    in proportion; a class with fewer members than folds would leave a fold without it, and is refused."""
    labels = labels.cpu()
    counts = torch.bincount(labels)
    present = counts[counts > 0]
    if int(present.min()) < folds:
        smallest = int(torch.nonzero(counts == present.min())[0])
        raise DatasetError(f"{setting} {folds} is more than the {int(present.min())} training examples of class "
                           f"{smallest}: use at most {setting} {int(present.min())}")
    generator = torch.Generator().manual_seed(seed)
    members: list[list[int]] = [[] for _ in range(folds)]
    position = 0
    for label in torch.nonzero(counts).flatten().tolist():
        index = torch.nonzero(labels == label).flatten()
        for item in index[torch.randperm(len(index), generator=generator)].tolist():
            members[position % folds].append(item)
            position += 1
    return [torch.tensor(sorted(fold), dtype=torch.int64) for fold in members]


def fold_splits(split: SearchSplit, folds: int, seed: int, *, setting: str = "fitness.folds") -> list[SearchSplit]:
    """The training and validation slices together, divided into `folds` stratified folds: split j trains on every
    fold but j and validates on fold j (normalised as `split` is). `setting` names the option in the error."""
    inputs = torch.cat([split.train_inputs, split.val_inputs])
    labels = torch.cat([split.train_labels, split.val_labels])
    splits = []
    for fold in stratified_folds(labels, folds, seed, setting=setting):
        fold = fold.to(labels.device)
        keep = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
        keep[fold] = False
        splits.append(SearchSplit(inputs[keep], labels[keep], inputs[fold], labels[fold], split.mean, split.std,
                                  split.num_classes, split.augmentation))
    return splits


def validation_count(val_size: int | float, total: int, name: str) -> int:
    """The number of inputs `val_size` (a count, or a fraction below 1) holds out of `total` training inputs."""
    if isinstance(val_size, float):
        if not 0 < val_size < 1:
            raise DatasetError(f"data.val_size is a count of inputs, or a fraction between 0 and 1: got {val_size}")
        val_size = max(1, round(val_size * total))
    if val_size < 1 or val_size >= total:
        fits = " (--config timeseries holds out a fifth of any set)" if dataset_holds(name) == "series" else ""
        raise DatasetError(f"data.val_size must be between 1 and {total - 1} for {name}, got {val_size}: "
                           f"set it lower{fits}")
    return val_size


def check_validation_slice(data: Any) -> None:
    """A series set's validation slice checked against its size before any worker loads it (series sets are small
    to read; an image set's training split holds any slice a config asks for in practice)."""
    if dataset_holds(data.dataset) == "series":
        validation_count(data.val_size, len(load_data(data).train_labels), data.dataset)


def as_float(inputs: torch.Tensor) -> torch.Tensor:
    """Inputs on a common scale: uint8 images to [0, 1], series as they are."""
    return inputs.float().div_(255) if inputs.dtype == torch.uint8 else inputs.float()


def normalise(inputs: torch.Tensor, split: SearchSplit) -> torch.Tensor:
    """Inputs on a common scale, standardised per channel with the training slice's mean and deviation."""
    shape = (1, -1) + (1,) * (inputs.ndim - 2)
    return (as_float(inputs) - split.mean.view(shape)) / split.std.view(shape)


def series_shifts(fraction: float, length: int) -> Augmentation:
    """Random shifts of series of `length` steps by up to `fraction` of it either way (at least one step)."""
    return Augmentation(max(1, round(fraction * length)), False)


def resample(inputs: torch.Tensor, resolution: int) -> torch.Tensor:
    """Inputs at `resolution`: images resized to that many pixels a side; series longer than that many steps
    averaged down to it (a cap, since one config serves sets of 24 to 1,460 steps: shorter series keep theirs)."""
    if inputs.ndim == 3:
        return torch.nn.functional.adaptive_avg_pool1d(inputs, resolution) if inputs.shape[-1] > resolution else inputs
    return resize_images(inputs, resolution) if inputs.shape[-1] != resolution else inputs


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    resized = torch.nn.functional.interpolate(images.float(), size=(resolution, resolution), mode="bilinear",
                                              antialias=True, align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def augment(images: torch.Tensor, policy: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Random crops of the zero-padded batch (one offset per image or series), and random horizontal flips if the
    policy flips."""
    if policy == NO_AUGMENTATION:
        return images
    if images.ndim == 3:
        return _shift_series(images, policy.padding, generator)
    padding = policy.padding
    n, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding,) * 4)
    # The generator lives on the images' device: no host-to-device copy, no synchronisation per batch.
    dy, dx = (torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device) for _ in range(2))
    rows = (dy[:, None] + torch.arange(height, device=device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=device))[:, None, None, :]
    images = padded[torch.arange(n, device=device)[:, None, None, None],
                    torch.arange(channels, device=device)[None, :, None, None], rows, cols]
    if policy.flip:
        mirrored = torch.rand(n, generator=generator, device=device) < 0.5
        images = torch.where(mirrored[:, None, None, None], images.flip(3), images)
    return images


def _shift_series(series: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each series shifted by up to `padding` steps either way, zeros shifted in (the value shorter series are padded
    with)."""
    n, channels, length = series.shape
    device = series.device
    start = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    steps = (start[:, None] + torch.arange(length, device=device))[:, None, :].expand(n, channels, length)
    return F.pad(series, (padding, padding)).gather(2, steps)


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


def _load_fashion_mnist(data_dir: Path | None, download: bool) -> LabelledData:
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
    return LabelledData("fashion-mnist", images["train"], labels["train"], images["t10k"], labels["t10k"],
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


def _torchvision_loader(name: str, class_name: str) -> Callable[[Path | None, bool], LabelledData]:
    def load(data_dir: Path | None, download: bool) -> LabelledData:
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
        return LabelledData(name, *tensors, NUM_CLASSES[name])

    return load


def _load_synthetic_cifar10(data_dir: Path | None, download: bool) -> LabelledData:
    """Random images and labels in CIFAR-10's shape and size: times a machine with no download (accuracy is chance)."""
    generator = torch.Generator().manual_seed(0)
    classes = NUM_CLASSES["synthetic-cifar10"]
    splits = []
    for count in (50000, 10000):
        splits += [torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator),
                   torch.randint(0, classes, (count,), generator=generator)]
    return LabelledData("synthetic-cifar10", *splits, classes)


MNIST1D_MISSING = "install the mnist1d package: pip install -e . (it is one of evohybrid's dependencies)"
MNIST1D_TRAIN_SHARE = 0.8  # the paper's split: 4,000 of 5,000 series to train on, 1,000 to test


def _generate_mnist1d(samples: int, generator_seed: int) -> LabelledData:
    """MNIST-1D (Greydanus and Kobak 2020): ten 1D digit templates, padded, translated, scaled, sheared and noised
    into series of length 40, made by the mnist1d package's own generator (never its download)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DatasetError(f"mnist1d needs the mnist1d package: {MNIST1D_MISSING}") from None
    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = samples, generator_seed, MNIST1D_TRAIN_SHARE
    # The generator seeds numpy's and Python's global generators: put them back, so loading data draws nothing.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    tensors = [torch.from_numpy(np.ascontiguousarray(made[key], dtype=np.float32)).unsqueeze(1) if key.startswith("x")
               else torch.from_numpy(np.asarray(made[key], dtype=np.int64)) for key in ("x", "y", "x_test", "y_test")]
    return LabelledData("mnist1d", *tensors, NUM_CLASSES["mnist1d"])


AEON_MISSING = "install the time-series extra: pip install -e '.[timeseries]' (it brings aeon, which bundles these sets)"


def _series_tensor(cases: np.ndarray | list[np.ndarray], length: int) -> torch.Tensor:
    """(N, C, L) float32 from aeon's cases, each (C, L_i): shorter ones zero-padded at the end."""
    out = np.zeros((len(cases), cases[0].shape[0], length), dtype=np.float32)
    for index, case in enumerate(cases):
        out[index, :, :case.shape[1]] = np.nan_to_num(case)  # a missing value reads as 0, as the padding does
    return torch.from_numpy(out)


def _ucr_loader(set_name: str) -> Callable[[Path | None, bool], LabelledData]:
    def load(_data_dir: Path | None, _download: bool) -> LabelledData:
        try:
            import aeon.datasets
        except ImportError:
            raise DatasetError(f"ucr:{set_name} needs aeon: {AEON_MISSING}") from None
        folder = Path(aeon.datasets.__file__).parent / "data" / set_name
        splits = [aeon.datasets.load_from_ts_file(str(folder / f"{set_name}_{split}.ts")) for split in ("TRAIN", "TEST")]
        length = max(case.shape[-1] for cases, _ in splits for case in cases)
        classes = sorted({str(label) for _, labels in splits for label in labels})
        if len(classes) != UCR_CLASSES[set_name]:
            raise DatasetError(f"aeon's {set_name} has {len(classes)} classes, not {UCR_CLASSES[set_name]}: "
                               "reinstall the time-series extra")
        tensors = []
        for cases, labels in splits:
            tensors += [_series_tensor(cases, length),
                        torch.tensor([classes.index(str(label)) for label in labels], dtype=torch.int64)]
        return LabelledData(f"ucr:{set_name}", *tensors, len(classes))

    return load


def _env_data_dir() -> Path | None:
    value = os.environ.get("EVOHYBRID_DATA")
    return Path(value) if value else None


NO_AUGMENTATION = Augmentation(0, False)  # series: a shifted or mirrored series may change its class
# At the native size: shifts of 2 of 28 pixels and 4 of 32; flips for natural images only, never digits or clothes.
AUGMENTATION = {"fashion-mnist": Augmentation(2, False), "mnist": Augmentation(2, False),
                "cifar10": Augmentation(4, True), "cifar100": Augmentation(4, True),
                "synthetic-cifar10": Augmentation(4, True)}

# Each name of dataset_names.DATASET_NAMES, in its order, with its loader.
DATASETS: dict[str, Callable[[Path | None, bool], LabelledData]] = {
    "fashion-mnist": _load_fashion_mnist,
    "mnist": _torchvision_loader("mnist", "MNIST"),
    "cifar10": _torchvision_loader("cifar10", "CIFAR10"),
    "cifar100": _torchvision_loader("cifar100", "CIFAR100"),
    "synthetic-cifar10": _load_synthetic_cifar10,
    "mnist1d": lambda _data_dir, _download: _generate_mnist1d(**GENERATED_DEFAULTS["mnist1d"]),
    **{f"ucr:{name}": _ucr_loader(name) for name in UCR_SETS},
}


GENERATED: dict[str, Callable[[int, int], LabelledData]] = {"mnist1d": _generate_mnist1d}


def load_data(data: Any) -> LabelledData:
    """The data set a config's `data` section names, with its settings (a DataConfig; typed loosely, since the
    config module imports this one)."""
    return load_dataset(data.dataset, data.data_dir, download=data.download, samples=data.samples,
                        generator_seed=data.generator_seed)


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True, samples: int | None = None,
                 generator_seed: int | None = None) -> LabelledData:
    """Load a registered data set into memory; look in `data_dir`, then EVOHYBRID_DATA, then system packages. A
    generated set (mnist1d) is made here instead, `samples` series (training and test) from `generator_seed`."""
    if name not in DATASETS:
        raise DatasetError(unknown_dataset(name))
    if name in GENERATED:
        defaults = GENERATED_DEFAULTS[name]
        return GENERATED[name](samples or defaults["samples"],
                               defaults["generator_seed"] if generator_seed is None else generator_seed)
    if samples is not None or generator_seed is not None:
        raise DatasetError(f"data.samples and data.generator_seed set the generated data sets ({', '.join(GENERATED)}) "
                           f"only: remove them for {name}")
    return DATASETS[name](Path(data_dir) if data_dir is not None else None, download)
