"""How fast the search driver goes when evaluations cost nothing, as when a large cluster feeds it.

An instant executor with many slots (the public Executor protocol) answers every genome at once with a made-up
record; the driver still does everything it does for real (ask, log with fsync, tell, front, checkpoint). Prints
evaluations per second in bands of the run, for every algorithm, and the rate over the last half of the run against
the rate over its first tenth: a driver whose cost per evaluation does not grow keeps that ratio near 1.

    python benchmarks/driver_speed.py                       # 100,000 evaluations per algorithm, 64 slots
    python benchmarks/driver_speed.py --evaluations 10000 --algorithms nsga2
    python benchmarks/driver_speed.py --algorithms random --space benchmarks/wide_space.yaml   # draws rarely repeat
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import evohybrid
from evohybrid.evolution.algorithms import ALGORITHMS, Proposal


class InstantExecutor:
    """Evaluates nothing: each genome's accuracy and size are read off its hash, so records are deterministic."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.queue: list[Proposal] = []
        self.finished_at: list[float] = []  # when each evaluation came back, in order

    def submit(self, proposal: Proposal) -> None:
        self.queue.append(proposal)

    def wait(self) -> list[tuple[Proposal, dict[str, Any]]]:
        batch, self.queue = self.queue, []
        now = time.perf_counter()
        self.finished_at.extend([now] * len(batch))
        return [(proposal, _record(proposal)) for proposal in batch]

    def stats(self) -> dict[str, Any]:
        return {"workers": self.slots, "busy_s": 0.0, "wall_s": 0.0, "utilisation": 0.0}

    def close(self) -> None:
        self.queue = []


def _record(proposal: Proposal) -> dict[str, Any]:
    digest = hashlib.sha256(proposal.genome.hash.encode()).digest()
    return {"hash": proposal.genome.hash, "genome": proposal.genome.to_dict(), "status": "ok",
            "val_acc": digest[0] / 255, "params": 1_000 + int.from_bytes(digest[1:4], "big"), "flops": None,
            "train_s": 0.0, "eval_s": 0.0, "train_samples": 0, "device": "none", "error": None}


def bands(evaluations: int) -> list[tuple[int, int]]:
    """[0, 100), [100, 1000), ... up to `evaluations`, and the last half."""
    edges, edge = [0], 100
    while edge < evaluations:
        edges.append(edge)
        edge *= 10
    edges.append(evaluations)
    return list(zip(edges, edges[1:]))


def rate(times: list[float], start: int, end: int, origin: float) -> float:
    begin = times[start - 1] if start else origin
    return (end - start) / max(times[end - 1] - begin, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--algorithms", default=",".join(sorted(ALGORITHMS)))
    parser.add_argument("--space", default="default", help="a search space's name or YAML path")
    args = parser.parse_args()
    config = evohybrid.load_config("default").override(None, space=args.space)
    print(f"driver speed: instant executor, {args.slots} slots, {args.evaluations:,} evaluations, space "
          f"'{config.space}', population {config.search.population}")
    for name in args.algorithms.split(","):
        executor = InstantExecutor(args.slots)
        with tempfile.TemporaryDirectory() as folder:
            origin = time.perf_counter()
            evohybrid.search(config.override("search", algorithm=name), out=Path(folder) / "run",
                             budget=args.evaluations, executor_factory=lambda cfg: executor, progress=False)
            total = time.perf_counter() - origin
        times = executor.finished_at
        half, tenth = args.evaluations // 2, max(1, args.evaluations // 10)
        band_text = "  ".join(f"[{a:,}, {b:,}): {rate(times, a, b, origin):,.0f}/s" for a, b in bands(len(times)))
        ratio = rate(times, half, len(times), origin) / rate(times, 0, tenth, origin)
        print(f"{name:<13} {len(times) / total:8,.0f} evaluations/s overall ({total:.1f} s)  {band_text}  "
              f"last half / first tenth: {ratio:.2f}")


if __name__ == "__main__":
    main()
