"""Fitness: train only the configured parameters of a randomly initialised network, measure validation accuracy."""

from __future__ import annotations

import functools
import itertools
import time
import traceback
from typing import Any

import torch
import torch.nn.functional as F

from ..config import FitnessConfig
from ..data import SearchSplit, augment, fold_splits, normalise
from ..errors import DeviceLost
from ..spaces.builder import bn_gamma_indicator, build_model, count_flops, count_parameters, genome_seed
from ..spaces.genome import Genome
from .signals import zero_cost_signal

FINITE_CHECK_STEPS = 16  # training stops this many steps at most after the loss stops being finite


def resolve_device(name: str) -> torch.device:
    """`auto` picks the GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _optimizer(params: list[torch.nn.Parameter], cfg: FitnessConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: FitnessConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.steps)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def batch_indices(count: int, batch_size: int, steps: int, seed: int, device: torch.device):
    """Index batches that walk through random permutations; the same seed gives every genome the same data."""
    generator = torch.Generator().manual_seed(seed)
    position = count  # a new permutation before the first batch
    for _ in range(steps):
        if position + batch_size > count:
            # One copy to the device per pass over the data, not one per batch.
            order, position = torch.randperm(count, generator=generator).to(device), 0
        yield order[position:position + batch_size]
        position += batch_size


@functools.cache
def _cpu_has_fast_bf16() -> bool:
    # Elsewhere bfloat16 is emulated and slower than fp32; a torch too old to report its CPU's features says no.
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def has_fast_bf16(device: torch.device) -> bool:
    """Whether the device computes in bfloat16 natively: a GPU that supports it, a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_fast_bf16()


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is bf16 where the device has it (it ranks architectures as fp32 does, at 1.7x the speed), else fp32."""
    if precision == "auto":
        return "bf16" if has_fast_bf16(device) else "fp32"
    return precision


def _autocast(device: torch.device, precision: str):
    # Autocast keeps BatchNorm and the loss in fp32 and runs convolutions and matmuls in bfloat16.
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolve_precision(precision, device) == "bf16")


def _layout(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    # Channels-last is a layout of 4D tensors: series (N, C, L) stay as they are.
    return images.contiguous(memory_format=torch.channels_last) if channels_last and images.ndim == 4 else images


def train(model: torch.nn.Module, split: SearchSplit, cfg: FitnessConfig, seed: int) -> tuple[bool, int]:
    """Train the model's trainable parameters; return (finite loss throughout, images seen)."""
    device = next(model.parameters()).device
    params = [param for param in model.parameters() if param.requires_grad]
    optimizer = _optimizer(params, cfg)
    scheduler = _scheduler(optimizer, cfg)
    batch_size = min(cfg.batch_size, len(split.train_labels))
    generator = torch.Generator(device=device).manual_seed(seed)
    seen = 0
    # Read every FINITE_CHECK_STEPS steps only: reading it each step would make the CPU wait for the GPU.
    finite = torch.ones((), dtype=torch.bool, device=device)
    precision = resolve_precision(cfg.precision, device)  # once, not at every step
    model.train()
    for step, index in enumerate(batch_indices(len(split.train_labels), batch_size, cfg.steps, seed, device)):
        if step % FINITE_CHECK_STEPS == 0 and not finite:
            return False, seen
        images = split.train_inputs[index]
        if cfg.augment:
            images = augment(images, split.augmentation, generator)
        with _autocast(device, precision):
            logits = model(_layout(normalise(images, split), cfg.channels_last))
            loss = F.cross_entropy(logits, split.train_labels[index])
        finite &= torch.isfinite(loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        seen += len(index)
    return bool(finite), seen


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, split: SearchSplit,
             batch_size: int, *, precision: str = "fp32", channels_last: bool = False) -> float:
    """Top-1 accuracy in eval mode (BN running statistics), without autograd."""
    model.eval()
    device = next(model.parameters()).device
    correct = torch.zeros((), dtype=torch.int64, device=device)  # summed on the device, read once
    with torch.inference_mode(), _autocast(device, precision):
        for start in range(0, len(labels), batch_size):
            # Batches move to the model's device (a no-op when the data already lives there).
            batch = images[start:start + batch_size].to(device, non_blocking=True)
            logits = model(_layout(normalise(batch, split), channels_last))
            correct += (logits.argmax(dim=1) == labels[start:start + batch_size].to(device, non_blocking=True)).sum()
    return int(correct) / len(labels)


def blank_record(genome: Genome, device: str | None) -> dict[str, Any]:
    """A record with every field present, filled as a failure until the evaluation says otherwise."""
    return {"hash": genome.hash, "genome": genome.to_dict(), "status": "failed", "val_acc": None, "params": None,
            "flops": None, "train_s": 0.0, "eval_s": 0.0, "train_samples": 0, "device": device, "precision": None,
            "error": None}


def evaluate(genome: Genome, split: SearchSplit, cfg: FitnessConfig, *, seed: int) -> dict[str, Any]:
    """Evaluate one genome; never raises for a failing network, it returns a record with status and error.

    With `cfg.repeats` > 1 the network is trained from that many sets of random weights, and with `cfg.folds` > 1 on
    each fold of the search's slices in turn (validated on that fold); `val_acc` is the mean (each in `val_accs`,
    fold by fold, repeats within). `cfg.signals` names zero-cost signals measured on the first set of weights."""
    device = resolve_device(cfg.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    record = blank_record(genome, str(device))
    record["precision"] = resolve_precision(cfg.precision, device)  # what `auto` became on this worker
    try:
        check_labels(split)
        split = split.to(device)
        accuracies = []
        folds = fold_splits(split, cfg.folds, seed) if cfg.folds > 1 else [split]
        for fold, repeat in itertools.product(folds, range(cfg.repeats)):
            model = _model(genome, split, cfg, genome_seed(seed, genome, repeat))
            if not accuracies:  # counted on the host, before the model moves
                record["params"] = count_parameters(model)
                record["flops"] = count_flops(model, split.input_shape)
                if cfg.signals:
                    record["signals"] = _zero_cost_signals(genome, split, cfg, seed, device)
            model.to(device, memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
            start = time.perf_counter()
            finite, seen = train(model, fold, cfg, seed)
            record["train_s"] += time.perf_counter() - start
            record["train_samples"] += seen
            if not finite:
                record.update(status="diverged", val_acc=0.0, error="loss became NaN or infinite during training")
                return record
            if cfg.trainable != "head" and not accuracies:  # gamma learned: BN-NAS's indicator comes free with the run
                record["bn_gamma"] = bn_gamma_indicator(model)
            start = time.perf_counter()
            accuracies.append(accuracy(model, fold.val_inputs, fold.val_labels, fold, cfg.val_batch_size,
                                       precision=cfg.precision, channels_last=cfg.channels_last))
            record["eval_s"] += time.perf_counter() - start
        if len(accuracies) > 1:
            record["val_accs"] = accuracies
        # A count of right answers: finite even if the logits are not.
        record.update(status="ok", val_acc=sum(accuracies) / len(accuracies))
    except Exception as error:  # a failing network is data for the search, not a reason to stop it
        if is_device_fault(error):
            raise DeviceLost(f"the device {device} failed ({str(error).splitlines()[0]}) and this process can no "
                             f"longer compute on it") from error
        record["error"] = f"{type(error).__name__}: {error}"
        record["traceback"] = traceback.format_exc(limit=5)
    return record


def _model(genome: Genome, split: SearchSplit, cfg: FitnessConfig, weight_seed: int) -> torch.nn.Module:
    return build_model(genome, in_channels=split.input_shape[0], num_classes=split.num_classes, seed=weight_seed,
                       trainable=cfg.trainable, bn_init=cfg.bn_init)


def _zero_cost_signals(genome: Genome, split: SearchSplit, cfg: FitnessConfig, seed: int,
                       device: torch.device) -> dict[str, float | None]:
    """Each configured zero-cost signal, on its own copy of the first set of weights (a signal may change them)."""
    return {name: zero_cost_signal(name, _model(genome, split, cfg, genome_seed(seed, genome)).to(device), split)
            for name in cfg.signals}


def check_labels(split: SearchSplit) -> None:
    """Labels outside the head's classes fail here, on the host's terms: on a GPU the loss would trip a
    device-side assert that leaves the whole process unable to compute."""
    for labels in (split.train_labels, split.val_labels):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= split.num_classes:
            raise ValueError(f"labels run from {low} to {high}, outside the {split.num_classes} classes of the head")


def is_device_fault(error: BaseException) -> bool:
    """An accelerator's runtime error (not running out of memory, which leaves the device usable): CUDA keeps such
    errors sticky, so every later kernel of the process fails too."""
    fault = getattr(torch, "AcceleratorError", ())  # torch 2.8 and later; before, a RuntimeError naming CUDA
    return isinstance(error, fault) or (type(error) is RuntimeError and str(error).startswith("CUDA error"))
