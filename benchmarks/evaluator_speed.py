"""Evaluator speed: evohybrid's fitness evaluation against a naive reference, on the same work.

The reference is how one would write BN-only training by hand: a torchvision dataset with
per-sample transforms, a DataLoader, `requires_grad=False` on every non-BN weight, validation
under `torch.no_grad`. Both train the same genomes from the same weights for the same number of
steps and batch size, on the same training and validation images, interleaved in one run.

    python benchmarks/evaluator_speed.py --genomes 6 --threads 2
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import evohybrid
from evohybrid.builder import build_model
from evohybrid.data import DEBIAN_FASHION_MNIST, search_split
from evohybrid.evaluator import evaluate, genome_seed


def torchvision_fashion_mnist(root: Path) -> tuple[datasets.FashionMNIST, datasets.FashionMNIST]:
    """Fashion-MNIST through torchvision, from the system's IDX files (no download)."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in DEBIAN_FASHION_MNIST.glob("*.gz"):
        with gzip.open(path) as source, open(raw / path.stem, "wb") as target:
            shutil.copyfileobj(source, target)
    return (datasets.FashionMNIST(str(root), train=True, download=False),
            datasets.FashionMNIST(str(root), train=False, download=False))


def naive_evaluate(genome, config, train_set, train_index, val_index, mean, std) -> float:
    """The hand-written reference: DataLoader, per-sample transforms, requires_grad=False."""
    cfg = config.fitness
    size = config.data.resolution or 28
    transform = transforms.Compose([transforms.Resize(size, antialias=True), transforms.ToTensor(),
                                    transforms.Normalize(mean, std)])
    train_set.transform = transform
    model = build_model(genome, seed=genome_seed(config.seed, genome), trainable="all")
    for module in model.modules():
        for param in module.parameters(recurse=False):
            param.requires_grad = isinstance(module, torch.nn.BatchNorm2d)  # BatchNorm gamma/beta only
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.steps)
    loader = DataLoader(Subset(train_set, train_index), batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    start = time.perf_counter()
    model.train()
    step = 0
    while step < cfg.steps:
        for images, labels in loader:
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
        for images, labels in DataLoader(Subset(train_set, val_index), batch_size=cfg.batch_size):
            correct += int((model(images).argmax(1) == labels).sum())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--genomes", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = evohybrid.load_config(args.config)
    data = evohybrid.load_dataset("fashion-mnist")
    split = search_split(data, val_size=config.data.val_size, train_size=config.data.train_size, seed=config.seed,
                         resolution=config.data.resolution)
    order = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(config.seed))
    val_index = order[:config.data.val_size].tolist()
    train_index = order[config.data.val_size:][:config.data.train_size].tolist()
    space = evohybrid.load_space(config.space)
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in range(args.genomes)]
    print(f"config={args.config} threads={args.threads} steps={config.fitness.steps} "
          f"batch={config.fitness.batch_size} resolution={config.data.resolution} torch={torch.__version__}")
    print(f"{'params':>9} {'depth':>5} {'naive_s':>8} {'ours_s':>7} {'ratio':>6}  architecture")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        train_set, _ = torchvision_fashion_mnist(Path(tmp))
        evaluate(genomes[0], split, config.fitness, seed=config.seed)  # warm-up: first-call allocations
        for genome in genomes:
            naive = naive_evaluate(genome, config, train_set, train_index, val_index,
                                   split.mean.tolist(), split.std.tolist())
            record = evaluate(genome, split, config.fitness, seed=config.seed)
            ours = record["train_s"] + record["eval_s"]
            ratios.append(naive / ours)
            print(f"{record['params']:>9,} {genome.depth:>5} {naive:>8.2f} {ours:>7.2f} {naive / ours:>6.2f}  "
                  f"{genome.describe()}")
    print(f"speed-up over the naive reference: median {statistics.median(ratios):.2f}x, "
          f"geometric mean {statistics.geometric_mean(ratios):.2f}x")


if __name__ == "__main__":
    main()
