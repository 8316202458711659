"""Do CUDA graphs or torch.compile pay off per architecture? (GPU only.)

Every genome is a new network, so a graph capture or a compilation is paid once per evaluation.
For each genome this times one BN-only training step (forward, backward, Adam) three ways on a
fixed batch: eager (what the evaluator runs), replayed from a CUDA graph, and through
torch.compile; it prints the one-off cost of capture and compilation and the number of steps
after which each would pay for itself, next to the steps an evaluation takes.

    python benchmarks/step_capture.py --config cifar10-gpu --dataset synthetic-cifar10 --genomes 4 --compile 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
import torch.nn.functional as F

import evohybrid
from evohybrid.data import load_data
from evohybrid.fitness.evaluator import resolve_device
from evohybrid.spaces.builder import build_model, genome_seed


def _timed(fn, repeats: int) -> float:
    """Median seconds of `fn` over `repeats` calls, each timed with CUDA events."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def _wall(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def _setup(genome, config, in_channels: int, device, capturable: bool):
    model = build_model(genome, in_channels=in_channels, seed=genome_seed(config.seed, genome), trainable="bn")
    layout = torch.channels_last if config.fitness.channels_last else torch.contiguous_format
    model.to(device, memory_format=layout).train()
    params = [p for p in model.parameters() if p.requires_grad]
    lr = torch.tensor(config.fitness.lr, device=device) if capturable else config.fitness.lr
    return model, torch.optim.Adam(params, lr=lr, capturable=capturable)


def _step_fn(model, optimizer, images, labels, precision: str):
    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False):
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=False)  # graphs need the gradient buffers to stay where they are
        loss.backward()
        optimizer.step()
    return step


def measure(genome, config, images, labels, device, repeats: int, compile_too: bool) -> dict[str, float]:
    precision = config.fitness.precision
    model, optimizer = _setup(genome, config, images.shape[1], device, capturable=False)
    eager = _step_fn(model, optimizer, images, labels, precision)
    for _ in range(3):
        eager()
    result = {"eager_s": _timed(eager, repeats)}

    model, optimizer = _setup(genome, config, images.shape[1], device, capturable=True)
    step = _step_fn(model, optimizer, images, labels, precision)

    def capture():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream, as capture requires
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        result["graph"] = graph

    result["capture_s"] = _wall(capture)
    graph = result.pop("graph")
    result["graph_s"] = _timed(graph.replay, repeats)

    if compile_too:
        model, optimizer = _setup(genome, config, images.shape[1], device, capturable=False)
        compiled = _step_fn(torch.compile(model), optimizer, images, labels, precision)
        first = _wall(compiled) + _wall(compiled)  # the first calls compile forward and backward
        result["compiled_s"] = _timed(compiled, repeats)
        result["compile_s"] = first - 2 * result["compiled_s"]
    return result


def _break_even(cost: float, eager: float, fast: float) -> str:
    return f"{cost / (eager - fast):>8.0f}" if fast < eager else f"{'never':>8}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cifar10-gpu")
    parser.add_argument("--dataset", help="override the config's data set, e.g. synthetic-cifar10")
    parser.add_argument("--genomes", type=int, default=4)
    parser.add_argument("--compile", type=int, default=2, help="how many of the genomes also go through torch.compile")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    device = resolve_device("cuda")
    if device.type != "cuda":
        raise SystemExit("step_capture.py measures CUDA graphs and needs a GPU")
    config = evohybrid.load_config(args.config).override("data", dataset=args.dataset)
    data = load_data(config.data)
    size = config.data.resolution or data.input_shape[-1]
    images = torch.randn(config.fitness.batch_size, data.input_shape[0], size, size, device=device)
    if config.fitness.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, data.num_classes, (config.fitness.batch_size,), device=device)
    space = evohybrid.load_space(config.space)
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in range(args.genomes)]
    print(f"config={args.config} batch={config.fitness.batch_size} size={size} precision={config.fitness.precision} "
          f"channels_last={config.fitness.channels_last} steps per evaluation={config.fitness.steps} "
          f"gpu={torch.cuda.get_device_name(device)} torch={torch.__version__}")
    print(f"{'params':>9} {'eager_ms':>8} {'graph_ms':>8} {'capture_s':>9} {'pays_at':>8} "
          f"{'compiled_ms':>11} {'compile_s':>9} {'pays_at':>8}  architecture")
    for index, genome in enumerate(genomes):
        r = measure(genome, config, images, labels, device, args.repeats, compile_too=index < args.compile)
        params = evohybrid.count_parameters(build_model(genome, in_channels=data.input_shape[0]))
        line = (f"{params:>9,} {r['eager_s'] * 1e3:>8.2f} {r['graph_s'] * 1e3:>8.2f} {r['capture_s']:>9.2f} "
                f"{_break_even(r['capture_s'], r['eager_s'], r['graph_s'])}")
        if "compiled_s" in r:
            line += (f" {r['compiled_s'] * 1e3:>11.2f} {r['compile_s']:>9.1f} "
                     f"{_break_even(r['compile_s'], r['eager_s'], r['compiled_s'])}")
        else:
            line += f" {'-':>11} {'-':>9} {'-':>8}"
        print(f"{line}  {genome.describe()}", flush=True)
    print(f"'pays_at': training steps after which the one-off cost is repaid; an evaluation runs "
          f"{config.fitness.steps} steps")


if __name__ == "__main__":
    main()
