"""Executors run evaluations: submit proposals, wait for records. The search loop cannot tell them apart."""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from ..config import Config, rung_fitness
from ..data import SearchSplit, load_data, search_split
from ..fitness.evaluator import evaluate, resolve_device
from ..spaces.genome import Genome
from .algorithms import Proposal


def load_search_split(config: Config) -> SearchSplit:
    """The training and validation slices that every fitness evaluation of this config uses."""
    data = load_data(config.data)
    return search_split(data, val_size=config.data.val_size, train_size=config.data.train_size, seed=config.seed,
                        resolution=config.data.resolution)


def utilisation(workers: int, busy_s: float, wall_s: float) -> dict[str, Any]:
    return {"workers": workers, "busy_s": busy_s, "wall_s": wall_s,
            "utilisation": busy_s / (wall_s * workers) if wall_s > 0 else 0.0}


class Executor(Protocol):
    slots: int  # evaluations that may be in flight at once

    def submit(self, proposal: Proposal) -> None: ...

    def wait(self) -> list[tuple[Proposal, dict[str, Any]]]:
        """Block until at least one submitted evaluation finishes; return the finished ones."""
        ...

    def screen(self, genomes: list[Genome], signal: str) -> list[tuple[float | None, int]]:
        """(zero-cost score, parameters) of each genome, computed where the data is; blocks until all are in."""
        ...

    def stats(self) -> dict[str, Any]:
        """Workers, busy seconds, wall seconds and utilisation (busy over wall, per worker)."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Evaluates in this process, one at a time, with the data resident on the configured device."""

    slots = 1

    def __init__(self, config: Config, split: SearchSplit | None = None) -> None:
        self.config = config
        self.split = (split or load_search_split(config)).to(resolve_device(config.fitness.device))
        self.queue: list[Proposal] = []
        self.started, self.busy_s = time.monotonic(), 0.0

    def submit(self, proposal: Proposal) -> None:
        self.queue.append(proposal)

    def wait(self) -> list[tuple[Proposal, dict[str, Any]]]:
        proposal = self.queue.pop(0)
        start = time.perf_counter()
        fitness = rung_fitness(self.config, proposal.meta.get("rung", 0))
        record = evaluate(proposal.genome, self.split, fitness, seed=self.config.seed)
        self.busy_s += time.perf_counter() - start
        record.update(worker="local", pid=os.getpid(), node="local")
        return [(proposal, record)]

    def screen(self, genomes: list[Genome], signal: str) -> list[tuple[float | None, int]]:
        from ..fitness.signals import screen

        return screen(genomes, self.split.to("cpu"), signal, self.config.seed)

    def stats(self) -> dict[str, Any]:
        return utilisation(1, self.busy_s, time.monotonic() - self.started)

    def close(self) -> None:
        self.queue.clear()
