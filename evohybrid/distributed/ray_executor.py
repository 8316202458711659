"""Ray executor: long-lived actors that keep the data resident and evaluate genomes as they come.

A local Ray started here listens on 127.0.0.1 only; `address` joins an existing cluster instead.
A genome whose worker died goes back to the queue (a crash spends one of its retries; its node's death none).
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..config import Config, config_from_dict, rung_fitness
from ..errors import DeviceLost, ExecutorLost
from ..evolution.algorithms import Proposal
from .ray_runtime import connect_ray, import_ray
from .worker_pool import WORKER_TIMEOUT_S, Demand, Outcome, PoolActor, WorkerPool


@dataclass(frozen=True)
class RayOptions:
    workers: int | None = None  # None: as many as the CPUs (or GPUs) allow
    cpus_per_eval: float = 1.0
    gpus_per_eval: float | None = None  # None: 1 when a GPU is visible, else 0
    address: str | None = None  # None starts a local Ray; "auto" or "host:port" joins a cluster
    max_retries: int = 2  # a genome whose worker dies is retried this many times elsewhere (its node's death is free)
    worker_timeout_s: float = WORKER_TIMEOUT_S  # with no worker alive this long, the search stops


class EvaluationWorker(PoolActor):
    """One Ray actor: loads the search split once, on its GPU when it has one, then evaluates genomes."""

    def __init__(self, config: dict[str, Any], threads: int, name: str) -> None:
        import torch

        from ..evolution.executors import load_search_split
        from ..fitness.evaluator import resolve_device

        torch.set_num_threads(threads)
        self.config = config_from_dict(config)
        self.split = load_search_split(self.config).to(resolve_device(self.config.fitness.device))
        self.name = name

    def screen(self, genomes: list[dict[str, Any]], signal: str) -> list[tuple[float | None, int]]:
        from ..fitness.signals import screen
        from ..spaces.genome import Genome

        return screen([Genome.from_dict(genome) for genome in genomes], self.split.to("cpu"), signal,
                      self.config.seed)

    def evaluate(self, genome: dict[str, Any], rung: int = 0) -> dict[str, Any]:
        import ray

        from ..fitness.evaluator import evaluate
        from ..spaces.genome import Genome

        start = time.perf_counter()
        fitness = rung_fitness(self.config, rung)
        try:
            record = evaluate(Genome.from_dict(genome), self.split, fitness, seed=self.config.seed)
        except DeviceLost as error:
            # The process's GPU context is broken for good: end it, so that a fresh worker takes the genome again.
            print(f"{self.name}: {error}; a fresh worker takes over", file=sys.stderr, flush=True)
            os._exit(1)
        record.update(worker=self.name, pid=os.getpid(), node=ray.util.get_node_ip_address(),
                      node_id=ray.get_runtime_context().get_node_id(), busy_s=time.perf_counter() - start)
        return record


class RayExecutor:
    """Spreads evaluations over a `WorkerPool` of `EvaluationWorker` actors that follows the cluster."""

    def __init__(self, config: Config, options: RayOptions = RayOptions()) -> None:
        self.config, self.options = config, options
        self.ray = ray = import_ray(options.address)
        started_ray = connect_ray(options.address)
        gpus = options.gpus_per_eval
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        config_dict, threads = config.to_dict(), max(1, int(options.cpus_per_eval))
        try:
            self.pool = WorkerPool(ray, EvaluationWorker, lambda name: (config_dict, threads, name),
                                   Demand(cpus=options.cpus_per_eval, gpus=gpus, workers=options.workers),
                                   started_ray=started_ray, worker_timeout_s=options.worker_timeout_s)
        except BaseException:
            if started_ray and ray.is_initialized():
                ray.shutdown()
            raise
        self.started_ray = started_ray
        self.queue: deque[tuple[Proposal, int]] = deque()  # (proposal, attempts so far)
        self.finished: list[tuple[Proposal, dict[str, Any]]] = []  # evaluations that came back during a screening
        self.started = time.monotonic()
        self.busy_s = 0.0

    @property
    def slots(self) -> int:
        return self.pool.slots

    def submit(self, proposal: Proposal) -> None:
        self.queue.append((proposal, 0))
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self.pool.idle:
            if not self.queue:
                return
            proposal, attempts = self.queue.popleft()
            self.pool.call(worker, "evaluate", proposal.genome.to_dict(), proposal.meta.get("rung", 0),
                           tag=("evaluate", proposal, attempts))

    def wait(self) -> list[tuple[Proposal, dict[str, Any]]]:
        while not self.finished:
            self._settle(self.pool.wait())
            self._dispatch()
        finished, self.finished = self.finished, []
        return finished

    def _settle(self, outcomes: list[Outcome]) -> dict[int, Outcome]:
        """Evaluations go to `finished` (or back in the queue); screening outcomes are returned by share."""
        screened: dict[int, Outcome] = {}
        for outcome in outcomes:
            kind, *rest = outcome.tag
            if kind == "screen":
                screened[rest[0]] = outcome
                continue
            proposal, attempts = rest
            if outcome.error is None:
                record = outcome.value
                self.busy_s += record.pop("busy_s", 0.0)
                self.finished.append((proposal, record))
            elif outcome.node_lost:  # lost with its node: no fault of the genome's, and no retry spent
                self.queue.appendleft((proposal, attempts))
            elif isinstance(outcome.error, self.ray.exceptions.RayActorError):
                if attempts < self.options.max_retries:
                    self.queue.appendleft((proposal, attempts + 1))
                else:
                    tries = f"{attempts + 1} attempt{'s' if attempts else ''}"
                    self.finished.append((proposal, _failed_record(
                        proposal, f"worker died ({tries}, no retry left): {type(outcome.error).__name__}", outcome.worker)))
            else:  # the task itself broke, outside evaluate's guard
                self.finished.append((proposal, _failed_record(
                    proposal, f"{type(outcome.error).__name__}: {outcome.error}", outcome.worker)))
        return screened

    def screen(self, genomes: list[Any], signal: str) -> list[tuple[float | None, int]]:
        """Zero-cost scores, the genomes split over the idle workers (over every started worker when none is idle:
        the calls then wait behind their evaluations). A share lost with its worker is scored again elsewhere."""
        while not self.pool.started:
            self._settle(self.pool.wait())
        workers = self.pool.idle or self.pool.started
        shares = [[genome.to_dict() for genome in genomes[position::len(workers)]] for position in range(len(workers))]
        scores: dict[int, list[tuple[float | None, int]]] = {}
        attempts = [0] * len(shares)
        for share, worker in enumerate(workers):
            self.pool.call(worker, "screen", shares[share], signal, tag=("screen", share))
        while len(scores) < len(shares):
            for share, outcome in self._settle(self.pool.wait()).items():
                if outcome.error is None:
                    scores[share] = [tuple(pair) for pair in outcome.value]
                    continue
                if not isinstance(outcome.error, self.ray.exceptions.RayActorError):
                    raise outcome.error
                attempts[share] += 0 if outcome.node_lost else 1
                if attempts[share] > self.options.max_retries:
                    raise ExecutorLost(f"screening workers died {attempts[share]} times in a row")
                while not self.pool.started:
                    self._settle(self.pool.wait())
                worker = min(self.pool.started, key=lambda w: w.calls)
                self.pool.call(worker, "screen", shares[share], signal, tag=("screen", share))
            self._dispatch()
        # Back in the genomes' order: share p holds positions p, p + len(shares), ...
        result: list[tuple[float | None, int]] = [(None, 0)] * len(genomes)
        for share, share_scores in scores.items():
            result[share::len(shares)] = share_scores
        return result

    def stats(self) -> dict[str, Any]:
        pool = self.pool.stats()
        return {"workers": pool["workers"], "busy_s": self.busy_s, "wall_s": time.monotonic() - self.started,
                "utilisation": self.busy_s / pool["worker_s"] if pool["worker_s"] > 0 else 0.0,
                "lost_workers": pool["lost_workers"]}

    def close(self) -> None:
        self.pool.close()
        self.queue.clear()
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()


def _failed_record(proposal: Proposal, error: str, worker: str | None) -> dict[str, Any]:
    """A genome that failed outside evaluate's guard: its worker is known; its pid and node came back with no record
    (the process may be gone)."""
    from ..fitness.evaluator import blank_record

    return {**blank_record(proposal.genome, None), "error": error, "worker": worker, "pid": None, "node": None}

