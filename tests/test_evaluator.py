"""Fitness evaluation on real (smoke-sized) Fashion-MNIST: records, frozen weights, divergence and failure."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

import evohybrid
from evohybrid.data import normalise
from evohybrid.fitness.evaluator import (FINITE_CHECK_STEPS, accuracy, blank_record, has_fast_bf16, is_device_fault,
                                         train)
from evohybrid.spaces.builder import build_model, genome_seed
from evohybrid.spaces.genome import Genome, StageGene

RECORD_FIELDS = {"hash", "genome", "status", "val_acc", "params", "flops", "train_s", "eval_s", "train_samples",
                 "device", "error"}


@pytest.fixture(scope="module")
def genomes() -> list[Genome]:
    space = evohybrid.load_space("tiny")
    rng = random.Random(2024)
    return [space.sample(rng) for _ in range(4)]


def test_smoke_split_is_real_fashion_mnist(smoke_config, smoke_split):
    data = smoke_config.data
    assert len(smoke_split.train_labels) == data.train_size
    assert len(smoke_split.val_labels) == data.val_size
    assert smoke_split.input_shape == (1, data.resolution, data.resolution)
    assert smoke_split.train_inputs.dtype == torch.uint8
    assert smoke_split.num_classes == 10
    assert set(smoke_split.train_labels.tolist()) <= set(range(10))
    assert len(set(smoke_split.val_labels.tolist())) > 5


def test_evaluate_returns_an_ok_record(smoke_config, smoke_split, genomes):
    fitness = smoke_config.fitness
    for genome in genomes:
        started = time.perf_counter()
        record = evohybrid.evaluate(genome, smoke_config, split=smoke_split)
        assert 0 < record["train_s"] and 0 < record["eval_s"]
        assert record["train_s"] + record["eval_s"] <= time.perf_counter() - started
        assert record["bn_gamma"] > 0  # BN-NAS's indicator of the learned gammas
        assert RECORD_FIELDS <= set(record)
        assert record["status"] == "ok", record.get("error")
        assert record["error"] is None
        assert 0.0 <= record["val_acc"] <= 1.0
        model = evohybrid.build_model(genome, in_channels=1, num_classes=10)
        assert record["params"] == evohybrid.count_parameters(model) > 0
        assert record["flops"] == evohybrid.count_flops(model, smoke_split.input_shape) > 0
        assert record["train_samples"] == fitness.steps * fitness.batch_size
        assert record["hash"] == genome.hash
        assert Genome.from_dict(record["genome"]) == genome
        assert record["train_s"] >= 0 and record["eval_s"] >= 0
        json.dumps(record, allow_nan=False)  # the run log accepts it


@pytest.mark.parametrize("trainable", ["bn", "head", "bn+head", "all"])
def test_evaluate_with_each_trainable_set(smoke_config, smoke_split, genomes, trainable):
    config = smoke_config.override("fitness", trainable=trainable)
    record = evohybrid.evaluate(genomes[0], config, split=smoke_split)
    assert record["status"] == "ok", record.get("error")
    assert 0.0 <= record["val_acc"] <= 1.0


def test_evaluate_is_deterministic(smoke_config, smoke_split, genomes):
    first = evohybrid.evaluate(genomes[1], smoke_config, split=smoke_split)
    second = evohybrid.evaluate(genomes[1], smoke_config, split=smoke_split)
    for key in ("val_acc", "params", "flops", "train_samples", "status", "hash"):
        assert first[key] == second[key], key


def test_evaluate_batch_larger_than_training_set(smoke_config, smoke_split, genomes):
    small = dataclasses.replace(smoke_split, train_inputs=smoke_split.train_inputs[:40],
                                train_labels=smoke_split.train_labels[:40])
    record = evohybrid.evaluate(genomes[0], smoke_config, split=small)
    assert record["status"] == "ok", record.get("error")
    assert record["train_samples"] == smoke_config.fitness.steps * 40


def test_evaluate_loads_the_split_from_the_config(smoke_config, smoke_split, genomes):
    with_split = evohybrid.evaluate(genomes[2], smoke_config, split=smoke_split)
    loaded = evohybrid.evaluate(genomes[2], smoke_config)
    assert loaded["status"] == "ok"
    assert loaded["val_acc"] == with_split["val_acc"]


def _is_frozen(kind: str, trainable: str) -> bool:
    return not (trainable == "all" or (kind == "bn" and "bn" in trainable) or (kind == "head" and "head" in trainable))


@pytest.mark.parametrize("trainable", ["bn", "head", "bn+head"])
def test_training_changes_only_the_trainable_set(smoke_config, smoke_split, trainable):
    genome = Genome(4, (StageGene(2, 8, 3, 1, (True, False)), StageGene(1, 16, 5, 2, (True,))))
    cfg = dataclasses.replace(smoke_config.fitness, trainable=trainable)
    model = evohybrid.build_model(genome, seed=genome_seed(0, genome), trainable=trainable)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}

    finite, seen = train(model, smoke_split, cfg, seed=0)

    assert finite
    assert seen == cfg.steps * cfg.batch_size
    changed = {"bn": [], "head": []}
    for name, param in model.named_parameters():
        module = model.get_submodule(name.rsplit(".", 1)[0])
        kind = "head" if module is model.head else "bn" if isinstance(module, nn.BatchNorm2d) else "other"
        if _is_frozen(kind, trainable):
            assert torch.equal(param.detach(), before[name]), f"frozen {name} changed"
        else:
            changed[kind].append(not torch.equal(param.detach(), before[name]))
    for kind in ("bn", "head"):
        if kind in trainable:
            assert changed[kind] and any(changed[kind]), f"no {kind} parameter learned"
            if kind == "bn":
                assert sum(changed[kind]) > len(changed[kind]) // 2


def test_bn_only_training_keeps_convolutions_and_head_bit_identical(smoke_config, smoke_split):
    genome = Genome(4, (StageGene(2, 8, 3, 1, (True, True)), StageGene(2, 16, 3, 2, (True, False))))
    model = evohybrid.build_model(genome, seed=3)
    frozen = {id(param): param.detach().clone() for module in model.modules()
              if isinstance(module, (nn.Conv2d, nn.Linear)) for param in module.parameters()}
    norms = {id(param): param.detach().clone() for module in model.modules()
             if isinstance(module, nn.BatchNorm2d) for param in module.parameters()}
    assert len(frozen) == 2 * 4 + 2 + 1 + 2  # block convs, projections, stem, head weight and bias
    finite, _ = train(model, smoke_split, smoke_config.fitness, seed=0)
    assert finite
    params = {id(param): param for param in model.parameters()}
    assert all(torch.equal(params[key].detach(), value) for key, value in frozen.items())
    assert any(not torch.equal(params[key].detach(), value) for key, value in norms.items())


def test_accuracy_is_the_share_of_right_answers_over_every_batch(smoke_split, genomes):
    # Labels made from the network's own answers, every third one changed: 33 of 50 right, over batches of 16, 16,
    # 16 and a short last one of 2.
    model = build_model(genomes[0], in_channels=1, num_classes=10, seed=0).eval()
    images = smoke_split.val_inputs[:50]
    with torch.no_grad():
        answers = model(normalise(images, smoke_split)).argmax(dim=1)
    labels = torch.where(torch.arange(50) % 3 == 0, (answers + 1) % 10, answers)
    assert accuracy(model, images, labels, smoke_split, 16) == pytest.approx(33 / 50)
    assert accuracy(model, images, answers, smoke_split, 16) == 1.0


def test_diverging_training_is_reported_not_raised(smoke_config, smoke_split, genomes):
    # Enough steps that training stops early once the loss is no longer finite.
    config = smoke_config.override("fitness", trainable="all", optimizer="sgd", lr=1e20, schedule="constant", steps=40)
    for genome in genomes[:2]:
        record = evohybrid.evaluate(genome, config, split=smoke_split)
        assert record["status"] == "diverged"
        assert record["error"] == "loss became NaN or infinite during training"
        assert record["val_acc"] == 0.0
        assert record["params"] > 0
        # The loss stops being finite in the first steps; training stops at the next check, not later.
        assert record["train_samples"] == FINITE_CHECK_STEPS * config.fitness.batch_size
        json.dumps(record, allow_nan=False)


def test_failing_network_is_reported_not_raised(smoke_config, smoke_split, genomes):
    # 1x1 images and one image a batch: BatchNorm sees one value per channel and raises in training mode.
    one_pixel = dataclasses.replace(smoke_split, train_inputs=smoke_split.train_inputs[:, :, :1, :1].contiguous(),
                                    val_inputs=smoke_split.val_inputs[:, :, :1, :1].contiguous())
    config = smoke_config.override("fitness", batch_size=1)
    record = evohybrid.evaluate(genomes[0], config, split=one_pixel)
    assert record["status"] == "failed"
    assert "ValueError" in record["error"]
    assert record["val_acc"] is None
    # The five outermost frames, from the evaluator in: where the failure came from, at a bounded size in the log.
    assert record["traceback"].startswith("Traceback") and record["traceback"].count("\n  File ") == 5
    assert 'evaluator.py", line' in record["traceback"].split("\n  File ")[1]
    json.dumps(record, allow_nan=False)


@pytest.mark.parametrize("labels", ["train_labels", "val_labels"])
def test_labels_out_of_range_fail_before_anything_runs(smoke_config, smoke_split, genomes, labels):
    # Checked on the host: on a GPU the loss would trip a device-side assert that breaks the whole process.
    bad = dataclasses.replace(smoke_split, **{labels: getattr(smoke_split, labels).clone()})
    getattr(bad, labels)[3] = 10
    record = evohybrid.evaluate(genomes[0], smoke_config, split=bad)
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: labels run from 0 to 10, outside the 10 classes of the head"
    assert record["val_acc"] is None
    assert record["train_samples"] == 0
    json.dumps(record, allow_nan=False)
    # A failure has every field of a finished evaluation, empty (a traceback where a finished one has bn_gamma).
    finished = evohybrid.evaluate(genomes[0], smoke_config, split=smoke_split)
    assert set(record) - {"traceback"} == set(finished) - {"bn_gamma"}
    assert (record["params"], record["flops"], record["train_s"], record["eval_s"]) == (None, None, 0.0, 0.0)


def test_a_blank_record_has_every_field_of_a_finished_evaluation(smoke_config, smoke_split, genomes):
    # A genome lost with its Ray worker is logged from a blank record: the log keeps the same columns.
    finished = evohybrid.evaluate(genomes[0], smoke_config, split=smoke_split)
    blank = blank_record(genomes[0], None)
    assert set(blank) == set(finished) - {"bn_gamma"}
    assert (blank["status"], blank["hash"], blank["val_acc"], blank["error"]) == ("failed", genomes[0].hash, None, None)


def test_evaluate_runs_on_the_configured_number_of_threads(smoke_config, smoke_split, genomes):
    before = torch.get_num_threads()
    try:
        for threads in (2, 1):
            evohybrid.evaluate(genomes[0], smoke_config.override("fitness", threads=threads), split=smoke_split)
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_the_bn_gamma_indicator_comes_with_a_trained_batchnorm_only(smoke_config, smoke_split, genomes):
    for trainable in ("all", "head"):
        record = evohybrid.evaluate(genomes[0], smoke_config.override("fitness", trainable=trainable), split=smoke_split)
        assert record["status"] == "ok" and ("bn_gamma" in record) == (trainable == "all")


def test_the_configured_batchnorm_initialisation_is_used(smoke_config, smoke_split, genomes):
    uniform, ones = (evohybrid.evaluate(genomes[0], smoke_config.override("fitness", bn_init=bn_init), split=smoke_split)
                     for bn_init in ("uniform", "ones"))
    assert uniform["bn_gamma"] != ones["bn_gamma"]


@pytest.mark.parametrize("optimizer, change", [("sgd", {"optimizer": "adam"}), ("sgd", {"momentum": 0.0}),
                                               ("sgd", {"weight_decay": 0.1}), ("adam", {"lr": 0.001}),
                                               ("adam", {"weight_decay": 0.1})])
def test_each_optimizer_setting_changes_the_training(smoke_config, smoke_split, genomes, optimizer, change):
    # A constant schedule: one-cycle would set the momentum itself.
    config = smoke_config.override("fitness", optimizer=optimizer, momentum=0.9, weight_decay=0.0, schedule="constant")
    base, changed = (evohybrid.evaluate(genomes[0], config, split=smoke_split)
                     for config in (config, config.override("fitness", **change)))
    assert base["bn_gamma"] != changed["bn_gamma"]


def _colour(split: evohybrid.SearchSplit) -> evohybrid.SearchSplit:
    """Three channels and four classes (Fashion-MNIST repeated over RGB, labels folded): not the builder's
    defaults, and a layout that shows in the network's input."""
    return dataclasses.replace(
        split, train_inputs=split.train_inputs.repeat(1, 3, 1, 1), val_inputs=split.val_inputs.repeat(1, 3, 1, 1),
        mean=split.mean.repeat(3), std=split.std.repeat(3), train_labels=split.train_labels % 4,
        val_labels=split.val_labels % 4, num_classes=4)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_each_step_trains_at_the_learning_rate_of_the_configured_schedule(smoke_config, smoke_split, genomes, schedule):
    lr, steps = 0.2, 10  # one-cycle peaks at 30% of the steps less one: step 2 of 10
    config = smoke_config.override("fitness", schedule=schedule, lr=lr, steps=steps)
    rates: list[float] = []  # the rate each optimizer step of the evaluation used
    handle = register_optimizer_step_pre_hook(
        lambda optimizer, _args, _kwargs: rates.append(optimizer.param_groups[0]["lr"]))
    try:
        assert evohybrid.evaluate(genomes[0], config, split=smoke_split)["status"] == "ok"
    finally:
        handle.remove()
    assert len(rates) == steps
    if schedule == "constant":
        assert rates == pytest.approx([lr] * steps)
    elif schedule == "cosine":  # from lr down a half cosine, over the run's steps
        assert rates == pytest.approx([lr * (1 + math.cos(math.pi * step / steps)) / 2 for step in range(steps)])
    else:  # one-cycle: up from lr / 25 to lr, then down below where it started
        assert rates[0] == pytest.approx(lr / 25) and max(rates) == pytest.approx(lr) and rates[-1] < rates[0]
        peak = rates.index(max(rates))
        assert 0 < peak < steps - 1 and rates[:peak + 1] == sorted(rates[:peak + 1])
        assert rates[peak:] == sorted(rates[peak:], reverse=True)


def test_the_network_is_built_for_the_channels_and_classes_of_the_split(smoke_config, smoke_split, genomes):
    colour = _colour(smoke_split)
    record = evohybrid.evaluate(genomes[0], smoke_config, split=colour)
    assert record["status"] == "ok", record["error"]
    model = evohybrid.build_model(genomes[0], in_channels=3, num_classes=4)
    assert record["params"] == evohybrid.count_parameters(model)


def test_only_accelerator_runtime_errors_count_as_a_lost_device():
    assert is_device_fault(torch.AcceleratorError("CUDA error: an illegal memory access was encountered"))
    assert is_device_fault(RuntimeError("CUDA error: device-side assert triggered"))  # torch before 2.8
    assert not is_device_fault(torch.OutOfMemoryError("CUDA out of memory"))  # the device stays usable
    assert not is_device_fault(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_device_fault(ValueError("CUDA error: not from the runtime"))


def test_genome_seed_is_stable_and_depends_on_run_seed_and_network():
    first = Genome(4, (StageGene(1, 8, 3, 1, (True,)),))
    relocated = Genome(4, (StageGene(1, 8, 3, 1, (True,)), StageGene(0, 0, 0, 1, ())))
    other = Genome(8, (StageGene(1, 8, 3, 1, (True,)),))
    assert genome_seed(0, first) == genome_seed(0, first) == genome_seed(0, relocated)
    assert genome_seed(0, first) != genome_seed(1, first)
    assert genome_seed(0, first) != genome_seed(0, other)
    assert 0 <= genome_seed(0, first) < 2 ** 63


@pytest.mark.parametrize("options", [{"precision": "bf16"}, {"channels_last": True}, {"augment": True},
                                     {"precision": "bf16", "channels_last": True, "augment": True}])
def test_gpu_path_options_run_the_same_code_on_the_cpu(smoke_config, smoke_split, options):
    # The GPU configuration's options (configs/cifar10-gpu.yaml), exercised here with device=cpu.
    config = smoke_config.override("fitness", device="cpu", **options)
    genome = evohybrid.load_space("tiny").sample(random.Random(0))
    record = evohybrid.evaluate(genome, config, split=smoke_split)
    assert record["status"] == "ok", record["error"]
    assert 0.0 <= record["val_acc"] <= 1.0
    assert record["train_samples"] == config.fitness.steps * config.fitness.batch_size
    assert record["device"] == "cpu"


def _first_convolution_sees(smoke_config, smoke_split, **options) -> dict:
    """Train two steps with the options; what the first convolution received and produced at the first step."""
    cfg = dataclasses.replace(smoke_config.fitness, device="cpu", steps=2, **options)
    genome = evohybrid.load_space("tiny").sample(random.Random(0))
    model = build_model(genome, in_channels=1, num_classes=10, seed=0)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # as evaluate() places it
    seen: dict = {}
    conv = next(module for module in model.modules() if isinstance(module, torch.nn.Conv2d))

    def hook(_module, inputs, output):
        seen.setdefault("input", inputs[0].detach().clone())
        seen.setdefault("output", output.detach())

    conv.register_forward_hook(hook)
    train(model, smoke_split, cfg, seed=0)
    return seen


def test_bf16_really_runs_convolutions_in_bfloat16(smoke_config, smoke_split):
    assert _first_convolution_sees(smoke_config, smoke_split, precision="fp32")["output"].dtype == torch.float32
    assert _first_convolution_sees(smoke_config, smoke_split, precision="bf16")["output"].dtype == torch.bfloat16


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to read the CPU's flags from")
    return {flag for line in cpuinfo.read_text().splitlines() if line.startswith("flags")
            for flag in line.split(":", 1)[1].split()}


def test_the_cpu_has_fast_bf16_exactly_when_its_flags_say_so():
    flags = _cpu_flags()
    assert has_fast_bf16(torch.device("cpu")) == bool({"avx512_bf16", "amx_bf16"} & flags)
    assert not has_fast_bf16(torch.device("meta"))  # neither a CPU nor a GPU: not assumed to have it


def test_auto_precision_is_bf16_where_the_cpu_has_it_and_the_record_says_so(smoke_config, smoke_split):
    native = bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    seen = _first_convolution_sees(smoke_config, smoke_split, precision="auto")["output"].dtype
    assert seen == (torch.bfloat16 if native else torch.float32)
    genome = evohybrid.load_space("tiny").sample(random.Random(0))
    for precision, recorded in (("auto", "bf16" if native else "fp32"), ("fp32", "fp32"), ("bf16", "bf16")):
        config = smoke_config.override("fitness", device="cpu", precision=precision)
        assert evohybrid.evaluate(genome, config, split=smoke_split)["precision"] == recorded


def _layout_of(tensor: torch.Tensor) -> str | None:
    """"nhwc" or "nchw", or None where both describe the tensor (one channel, or a 1x1 image)."""
    nhwc, nchw = tensor.is_contiguous(memory_format=torch.channels_last), tensor.is_contiguous()
    return None if nhwc == nchw else "nhwc" if nhwc else "nchw"


def _convolution_layouts(config, split) -> set[str | None]:
    """The layouts of every convolution's input, weight and output in one evaluation, training and validation
    (not the FLOP count's single input, made before the network is placed)."""
    genome = evohybrid.load_space("tiny").sample(random.Random(0))
    seen: set[str | None] = set()

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d) and len(inputs[0]) > 1:
            seen.update(_layout_of(tensor) for tensor in (inputs[0], module.weight, output))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        assert evohybrid.evaluate(genome, config, split=split)["status"] == "ok"
    finally:
        handle.remove()
    return seen - {None}


def test_channels_last_reaches_every_convolution_of_an_evaluation(smoke_config, smoke_split):
    colour = _colour(smoke_split)
    assert _convolution_layouts(smoke_config.override("fitness", device="cpu"), colour) == {"nchw"}
    assert _convolution_layouts(smoke_config.override("fitness", device="cpu", channels_last=True), colour) == {"nhwc"}


def test_augmented_training_is_the_same_for_the_same_seed(smoke_config, smoke_split, genomes):
    # The crops and flips come from the evaluation's own seeded generator, not from torch's global one.
    config = smoke_config.override("fitness", augment=True)
    first, second = (evohybrid.evaluate(genomes[0], config, split=smoke_split) for _ in range(2))
    assert (first["bn_gamma"], first["val_acc"]) == (second["bn_gamma"], second["val_acc"])


def test_augmentation_really_changes_the_batches(smoke_config, smoke_split):
    plain = _first_convolution_sees(smoke_config, smoke_split)["input"]
    augmented = _first_convolution_sees(smoke_config, smoke_split, augment=True)["input"]
    assert plain.shape == augmented.shape and not torch.equal(plain, augmented)


def test_repeats_average_the_accuracy_over_other_random_weights_the_first_being_the_single_run(smoke_config,
                                                                                                smoke_split, genomes):
    single = evohybrid.evaluate(genomes[0], smoke_config, split=smoke_split)
    repeated = evohybrid.evaluate(genomes[0], smoke_config.override("fitness", repeats=3), split=smoke_split)
    assert repeated["status"] == "ok" and len(repeated["val_accs"]) == 3
    assert repeated["val_accs"][0] == single["val_acc"] and "val_accs" not in single
    assert len(set(repeated["val_accs"])) > 1  # each repeat trains its own random weights, not the first ones again
    assert repeated["val_acc"] == pytest.approx(sum(repeated["val_accs"]) / 3)
    assert repeated["train_samples"] == 3 * single["train_samples"]
    assert genome_seed(0, genomes[0], 1) != genome_seed(0, genomes[0]) == genome_seed(0, genomes[0], 0)


@pytest.mark.parametrize("field", ["repeats", "folds"])
def test_two_repeats_or_folds_give_two_accuracies_and_their_mean(smoke_config, smoke_split, genomes, field):
    twice = evohybrid.evaluate(genomes[0], smoke_config.override("fitness", **{field: 2}), split=smoke_split)
    assert twice["status"] == "ok" and len(twice["val_accs"]) == 2
    assert twice["val_acc"] == pytest.approx(sum(twice["val_accs"]) / 2)


def test_folds_validate_on_each_fold_of_the_search_slices_in_turn(smoke_config, smoke_split, genomes):
    from evohybrid.data import fold_splits

    folded = evohybrid.evaluate(genomes[0], smoke_config.override("fitness", folds=3), split=smoke_split)
    assert folded["status"] == "ok" and len(folded["val_accs"]) == 3
    assert folded["val_acc"] == pytest.approx(sum(folded["val_accs"]) / 3)
    splits = fold_splits(smoke_split, 3, smoke_config.seed)
    whole = len(smoke_split.train_labels) + len(smoke_split.val_labels)
    assert sum(len(split.val_labels) for split in splits) == whole  # every example validated once
    assert all(len(split.train_labels) + len(split.val_labels) == whole for split in splits)
    # Each fold's accuracy is the single run's on that fold: the same weights and batches, another split.
    single = evohybrid.evaluate(genomes[0], smoke_config, split=splits[1])
    assert folded["val_accs"][1] == single["val_acc"]


def test_configured_zero_cost_signals_are_measured_on_the_first_weights(smoke_config, smoke_split, genomes):
    from evohybrid.fitness.signals import zero_cost_signal

    config = smoke_config.override("fitness", signals=["naswot", "zico", "depth"])
    record = evohybrid.evaluate(genomes[0], config, split=smoke_split)
    assert set(record["signals"]) == {"naswot", "zico", "depth"}
    model = build_model(genomes[0], seed=genome_seed(config.seed, genomes[0]))
    assert record["signals"]["naswot"] == zero_cost_signal("naswot", model, smoke_split)
    assert record["val_acc"] == evohybrid.evaluate(genomes[0], smoke_config, split=smoke_split)["val_acc"]
    assert "signals" not in evohybrid.evaluate(genomes[0], smoke_config, split=smoke_split)
