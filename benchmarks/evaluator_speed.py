"""Evaluator speed: evohybrid's fitness evaluation against a naive reference, on the same work.

The reference is how one would write BN-only training by hand: a torchvision-style dataset with
per-sample transforms (resize, random crop and flip when the config augments), a `DataLoader`,
`requires_grad=False` on every non-BN weight, fp32, validation under `torch.no_grad`. Both train
the same genomes from the same weights for the same number of steps and batch size, on the same
training and validation images, interleaved in one run. `--ablate` also times our evaluator with
each speed option of the config switched off, to show what each one is worth.

    python benchmarks/evaluator_speed.py --genomes 6 --threads 2 --profile
    python benchmarks/evaluator_speed.py --config cifar10-gpu --dataset synthetic-cifar10 --device cuda --ablate
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms

import evohybrid
from evohybrid.data import load_data, search_split
from evohybrid.fitness.evaluator import evaluate, resolve_device
from evohybrid.spaces.builder import build_model, genome_seed


class ArrayImages(Dataset):
    """What torchvision's MNIST and CIFAR datasets do: arrays in memory, one PIL image per item, then transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        array = images.permute(0, 2, 3, 1).numpy()
        self.images = array[..., 0] if array.shape[-1] == 1 else array
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(np.ascontiguousarray(self.images[index]))), self.labels[index]


def naive_transforms(config, native_size: int, augmentation, mean, std, train: bool):
    steps = []
    if config.data.resolution and config.data.resolution != native_size:
        steps.append(transforms.Resize(config.data.resolution, antialias=True))
    size = config.data.resolution or native_size
    if train and config.fitness.augment:
        steps.append(transforms.RandomCrop(size, padding=augmentation.padding))
        if augmentation.flip:
            steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(mean, std)])


def naive_evaluate(genome, config, train_set, val_set, in_channels: int, device, loader_workers: int) -> float:
    """The hand-written reference: DataLoader, per-sample transforms, requires_grad=False, fp32."""
    cfg = config.fitness
    model = build_model(genome, in_channels=in_channels, seed=genome_seed(config.seed, genome),
                        trainable="all").to(device)
    for module in model.modules():
        for param in module.parameters(recurse=False):
            param.requires_grad = isinstance(module, torch.nn.BatchNorm2d)  # BatchNorm gamma/beta only
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.steps)
    pin = device.type == "cuda"
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        num_workers=loader_workers, pin_memory=pin, persistent_workers=False)
    start = time.perf_counter()
    model.train()
    step = 0
    while step < cfg.steps:
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=pin), labels.to(device, non_blocking=pin)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step == cfg.steps:
                break
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in DataLoader(val_set, batch_size=cfg.batch_size, num_workers=loader_workers,
                                         pin_memory=pin):
            correct += int((model(images.to(device)).argmax(1) == labels.to(device)).sum())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ours(genome, split, fitness, seed: int) -> float:
    record = evaluate(genome, split, fitness, seed=seed)
    if record["status"] != "ok":
        raise SystemExit(f"evaluation failed: {record['error']}")
    return record["train_s"] + record["eval_s"]


ABLATIONS = {"precision": "fp32", "channels_last": False}  # each speed option, switched off in turn


def convolution_share(genome, split, fitness, seed: int, device) -> float:
    """The fraction of one evaluation's operator time (device time on a GPU) spent in convolutions."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        ours(genome, split, fitness, seed)
    field = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    times = {event.key: getattr(event, field) for event in profiler.key_averages()}
    return sum(t for key, t in times.items() if "convolution" in key) / sum(times.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--dataset", help="override the config's data set, e.g. synthetic-cifar10")
    parser.add_argument("--device", help="override the config's device, e.g. cuda")
    parser.add_argument("--genomes", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loader-workers", type=int, help="DataLoader workers of the reference (default 0 on a "
                                                           "CPU, 4 on a GPU, as tutorials write it)")
    parser.add_argument("--ablate", action="store_true", help="also time ours with each speed option switched off")
    parser.add_argument("--profile", action="store_true",
                        help="also report the share of convolutions in our evaluation of the largest genome")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = evohybrid.load_config(args.config).override("data", dataset=args.dataset)
    config = config.override("fitness", device=args.device)
    device = resolve_device(config.fitness.device)
    loader_workers = args.loader_workers if args.loader_workers is not None else (4 if device.type == "cuda" else 0)
    data = load_data(config.data)
    split = search_split(data, val_size=config.data.val_size, train_size=config.data.train_size, seed=config.seed,
                         resolution=config.data.resolution).to(device)
    order = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(config.seed))
    val_index = order[:config.data.val_size].tolist()
    train_index = order[config.data.val_size:][:config.data.train_size].tolist()
    native = data.input_shape[-1]
    mean, std = split.mean.tolist(), split.std.tolist()
    train_set = Subset(ArrayImages(data.train_inputs, data.train_labels,
                                   naive_transforms(config, native, split.augmentation, mean, std, train=True)), train_index)
    val_set = Subset(ArrayImages(data.train_inputs, data.train_labels,
                                 naive_transforms(config, native, split.augmentation, mean, std, train=False)), val_index)
    space = evohybrid.load_space(config.space)
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in range(args.genomes)]
    fitness = config.fitness
    print(f"config={args.config} dataset={config.data.dataset} device={device} threads={args.threads} "
          f"steps={fitness.steps} batch={fitness.batch_size} resolution={config.data.resolution or native} "
          f"precision={fitness.precision} channels_last={fitness.channels_last} augment={fitness.augment} "
          f"loader_workers={loader_workers} torch={torch.__version__}"
          + (f" gpu={torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""))
    ablations = {name: value for name, value in ABLATIONS.items() if args.ablate and getattr(fitness, name) != value}
    header = f"{'params':>9} {'depth':>5} {'naive_s':>8} {'ours_s':>7} {'ratio':>6}"
    print(header + "".join(f" {'no ' + name:>14}" for name in ablations) + "  architecture")
    ours(genomes[0], split, fitness, config.seed)  # warm-up: first-call allocations, cuDNN algorithm choice
    ratios, slowdowns = [], {name: [] for name in ablations}
    for genome in genomes:
        naive = naive_evaluate(genome, config, train_set, val_set, data.input_shape[0], device, loader_workers)
        fast = ours(genome, split, fitness, config.seed)
        ratios.append(naive / fast)
        line = f"{evohybrid.count_parameters(build_model(genome, in_channels=data.input_shape[0])):>9,} " \
               f"{genome.depth:>5} {naive:>8.2f} {fast:>7.2f} {naive / fast:>6.2f}"
        for name, value in ablations.items():
            slower = ours(genome, split, replace(fitness, **{name: value}), config.seed)
            slowdowns[name].append(slower / fast)
            line += f" {slower:>13.2f}s"
        print(f"{line}  {genome.describe()}")
    print(f"speed-up over the naive reference: median {statistics.median(ratios):.2f}x, "
          f"geometric mean {statistics.geometric_mean(ratios):.2f}x")
    for name, values in slowdowns.items():
        print(f"{name} is worth {statistics.median(values):.2f}x (median time without it over time with it)")
    if args.profile:
        largest = max(genomes, key=lambda g: evohybrid.count_parameters(build_model(g, in_channels=data.input_shape[0])))
        share = convolution_share(largest, split, fitness, config.seed, device)
        print(f"convolutions (forward and backward) are {share:.0%} of our evaluation of {largest.describe()}")


if __name__ == "__main__":
    main()
