"""Ray executor: long-lived actors that keep the data resident and evaluate genomes as they come.

A local Ray started here listens on 127.0.0.1 only; `address` joins an existing cluster instead.
Dead actors are replaced and their genome retried elsewhere a bounded number of times.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..config import Config, config_from_dict, rung_fitness
from ..errors import DeviceLost, EvohybridError, ExecutorLost
from ..evolution.algorithms import Proposal
from .ray_runtime import HEARTBEAT_S, check_ray_alive, connect_ray, import_ray



@dataclass(frozen=True)
class RayOptions:
    workers: int | None = None  # None: as many as the CPUs (or GPUs) allow
    cpus_per_eval: float = 1.0
    gpus_per_eval: float | None = None  # None: 1 when a GPU is visible, else 0
    address: str | None = None  # None starts a local Ray; "auto" or "host:port" joins a cluster
    max_retries: int = 2  # a genome whose worker dies is retried this many times elsewhere


class EvaluationWorker:
    """One Ray actor: loads the search split once, on its GPU when it has one, then evaluates genomes."""

    def __init__(self, config: dict[str, Any], threads: int, name: str) -> None:
        import torch

        from ..fitness.evaluator import resolve_device
        from .executors import load_search_split

        torch.set_num_threads(threads)
        self.config = config_from_dict(config)
        self.split = load_search_split(self.config).to(resolve_device(self.config.fitness.device))
        self.name = name

    def ping(self) -> str:
        return self.name

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
                      busy_s=time.perf_counter() - start)
        return record


class RayExecutor:
    """Spreads evaluations over a pool of `EvaluationWorker` actors."""

    def __init__(self, config: Config, options: RayOptions = RayOptions()) -> None:
        self.config, self.options = config, options
        self.ray = ray = import_ray(options.address)
        self.started_ray = connect_ray(options.address)
        gpus = options.gpus_per_eval
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        self.gpus_per_eval = gpus
        self._check_fits(ray.cluster_resources())
        self.slots = options.workers or self._default_workers()
        self.actor_class = ray.remote(num_cpus=options.cpus_per_eval, num_gpus=gpus, max_restarts=0)(EvaluationWorker)
        self.config_dict = config.to_dict()
        self.threads = max(1, int(options.cpus_per_eval))
        self.actors: list[Any] = [self._new_actor(index) for index in range(self.slots)]
        self._check_workers_started()
        self.idle: list[int] = list(range(self.slots))
        self.queue: list[tuple[Proposal, int]] = []  # (proposal, attempts so far)
        self.running: dict[Any, tuple[int, Proposal, int]] = {}  # ref -> (actor index, proposal, attempts)
        self.started = time.monotonic()
        self.busy_s = 0.0
        self.replaced = 0
        self.lost = False  # the cluster died under us: nothing left to kill

    def _check_fits(self, resources: dict[str, float]) -> None:
        # Ray would wait forever for a worker that no node can hold: say so instead.
        cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
        problem = None
        if self.options.cpus_per_eval > cpus:
            problem = f"--cpus-per-eval {self.options.cpus_per_eval:g} but the Ray cluster has {cpus:g} CPUs"
        elif self.gpus_per_eval > gpus:
            problem = f"--gpus-per-eval {self.gpus_per_eval:g} but the Ray cluster has {gpus:g} GPUs"
        if problem:
            self.close()
            raise EvohybridError(f"{problem}: ask for less per evaluation")

    def _default_workers(self) -> int:
        resources = self.ray.cluster_resources()
        by_cpu = int(resources.get("CPU", 1) // max(self.options.cpus_per_eval, 1e-9))
        if self.gpus_per_eval > 0:
            return max(1, min(by_cpu, int(resources.get("GPU", 0) // self.gpus_per_eval)))
        return max(1, by_cpu)

    def _check_workers_started(self) -> None:
        # A worker that cannot load the data would fail every genome: stop here with its reason instead.
        try:
            self.ray.get([actor.ping.remote() for actor in self.actors])
        except self.ray.exceptions.RayError as error:
            self.close()
            raise EvohybridError(f"Ray workers could not start: {_root_cause(error)}") from None

    def _new_actor(self, index: int) -> Any:
        return self.actor_class.remote(self.config_dict, self.threads, f"ray-{index}")

    def submit(self, proposal: Proposal) -> None:
        self.queue.append((proposal, 0))
        self._dispatch()

    def _dispatch(self) -> None:
        while self.queue and self.idle:
            (proposal, attempts), index = self.queue.pop(0), self.idle.pop(0)
            ref = self.actors[index].evaluate.remote(proposal.genome.to_dict(), proposal.meta.get("rung", 0))
            self.running[ref] = (index, proposal, attempts)

    def wait(self) -> list[tuple[Proposal, dict[str, Any]]]:
        finished: list[tuple[Proposal, dict[str, Any]]] = []
        while not finished:
            # Never an unbounded wait: a Ray that died under us would leave it waiting forever.
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=HEARTBEAT_S)
            if not ready:
                self._check_cluster()
                continue
            for ref in ready:
                index, proposal, attempts = self.running.pop(ref)
                try:
                    record = self.ray.get(ref)
                except self.ray.exceptions.RayActorError as error:
                    failure = self._replace(index, proposal, attempts, error)
                    if failure is not None:
                        finished.append((proposal, failure))
                    continue
                except self.ray.exceptions.RayError as error:  # the task itself broke, outside evaluate's guard
                    record = _failed_record(proposal, f"{type(error).__name__}: {error}", index)
                self.busy_s += record.pop("busy_s", 0.0)
                self.idle.append(index)
                finished.append((proposal, record))
            self._dispatch()
        return finished

    def screen(self, genomes: list[Any], signal: str) -> list[tuple[float | None, int]]:
        """Zero-cost scores, the genomes split over the idle workers (every worker when none is idle: the calls then
        wait behind their evaluations). A worker that dies is replaced and its share scored again."""
        workers = list(self.idle) or list(range(self.slots))
        shares = {index: [genome.to_dict() for genome in genomes[position::len(workers)]]
                  for position, index in enumerate(workers)}
        scores: dict[int, list[tuple[float | None, int]]] = {}
        for attempt in range(self.options.max_retries + 1):
            refs = {self.actors[index].screen.remote(share, signal): index
                    for index, share in shares.items() if index not in scores}
            while refs:
                ready, _ = self.ray.wait(list(refs), num_returns=1, timeout=HEARTBEAT_S)
                if not ready:
                    self._check_cluster()
                    continue
                index = refs.pop(ready[0])
                try:
                    scores[index] = [tuple(pair) for pair in self.ray.get(ready[0])]
                except self.ray.exceptions.RayActorError:
                    self._check_cluster()
                    self.actors[index] = self._new_actor(index)
                    self.replaced += 1
            if len(scores) == len(shares):
                # Back in the genomes' order: share p holds positions p, p + len(workers), ...
                result: list[tuple[float | None, int]] = [(None, 0)] * len(genomes)
                for position, index in enumerate(workers):
                    result[position::len(workers)] = scores[index]
                return result
        raise ExecutorLost(f"screening workers died {self.options.max_retries + 1} times in a row")

    def _replace(self, index: int, proposal: Proposal, attempts: int, error: Exception) -> dict[str, Any] | None:
        """A dead actor gets a successor; its genome goes back in the queue unless it used up its retries."""
        self._check_cluster()  # a worker that died with its node is no fault of the genome's
        self.actors[index] = self._new_actor(index)
        self.replaced += 1
        self.idle.append(index)
        if attempts < self.options.max_retries:
            self.queue.insert(0, (proposal, attempts + 1))
            return None
        tries = f"{attempts + 1} attempt{'s' if attempts else ''}"
        return _failed_record(proposal, f"worker died ({tries}, no retry left): {type(error).__name__}", index)

    def _check_cluster(self) -> None:
        try:
            check_ray_alive(self.ray, self.started_ray)
        except ExecutorLost:
            self.lost = True
            raise

    def stats(self) -> dict[str, Any]:
        from .executors import utilisation

        return {**utilisation(self.slots, self.busy_s, time.monotonic() - self.started),
                "replaced_workers": self.replaced}

    def close(self) -> None:
        for actor in [] if getattr(self, "lost", False) else getattr(self, "actors", []):
            self.ray.kill(actor)
        self.actors, self.running, self.queue = [], {}, []
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()


def _failed_record(proposal: Proposal, error: str, index: int) -> dict[str, Any]:
    """A genome that failed outside evaluate's guard: its worker slot is known; its pid and node came back with no
    record (the process may be gone)."""
    from ..fitness.evaluator import blank_record

    return {**blank_record(proposal.genome, None), "error": error, "worker": f"ray-{index}", "pid": None, "node": None}


def _root_cause(error: Exception) -> str:
    """The last line that names an exception in a Ray error, e.g. a worker's DatasetError message."""
    lines = [line.strip() for line in str(error).splitlines() if "Error" in line and ":" in line]
    return lines[-1] if lines else type(error).__name__
