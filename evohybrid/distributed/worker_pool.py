"""A pool of Ray actors that follows the cluster: workers start where there is room, leave with their node, and
nodes that join get workers. A call goes only to a worker that has started, so nothing waits on a worker that
cannot start; the pool says when its size changes, and gives up when no worker has been alive for a while.

Callers tag each call and read back `Outcome`s; what a failed call means (retry, fail, stop) is theirs to decide.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import EvohybridError, ExecutorLost
from .ray_runtime import HEARTBEAT_S, check_ray_alive

START_S = 60.0  # a worker beyond what the live nodes hold that has not started by then is given up, and tried later
WORKER_TIMEOUT_S = 120.0  # with no worker alive this long (every node but the head gone), the pool stops


def say(message: str) -> None:
    """A line on stderr that leaves a progress bar intact."""
    from tqdm import tqdm

    tqdm.write(f"evohybrid: {message}", file=sys.stderr)


class PoolActor:
    """The base of every actor class a pool runs: it says where it runs."""

    def where(self) -> tuple[str, str]:
        import ray

        return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()


@dataclass
class Worker:
    name: str
    actor: Any
    created: float  # time.monotonic() at creation
    node_id: str | None = None  # known once it has started
    ip: str | None = None
    calls: int = 0  # calls in flight
    idle_since: float = 0.0  # when its last call came back (or it started)
    first: bool = False  # one of the workers the pool starts with


@dataclass(frozen=True)
class Outcome:
    tag: Any
    value: Any = None
    error: Exception | None = None  # the call's error; None when it returned
    node_lost: bool = False  # the worker died with its node: no fault of the call
    worker: str | None = None  # the name of the worker the call went to


@dataclass(frozen=True)
class Demand:
    """What one worker needs, and how many the caller wants: a number, or None for as many as the cluster holds."""

    cpus: float = 1.0
    gpus: float = 0.0
    workers: int | None = None
    at_most: int | None = None  # never more than this, whatever the cluster holds (e.g. the number of jobs)


class WorkerPool:
    def __init__(self, ray: Any, actor_class: type, args_for: Callable[[str], tuple], demand: Demand, *,
                 started_ray: bool, worker_timeout_s: float = WORKER_TIMEOUT_S,
                 report: Callable[[str], None] = say) -> None:
        self.ray, self.demand, self.started_ray = ray, demand, started_ray
        self.worker_timeout_s, self.report = worker_timeout_s, report
        self.remote_class = ray.remote(num_cpus=demand.cpus, num_gpus=demand.gpus, max_restarts=0)(actor_class)
        self.args_for = args_for
        self.workers: dict[str, Worker] = {}  # by name; started or starting
        self.pings: dict[Any, Worker] = {}  # ref of a starting worker's first call
        self.calls: dict[Any, tuple[Worker, Any]] = {}  # ref -> (worker, tag)
        self.lost = False  # the Ray we joined or started is gone: nothing left to kill
        self.died = 0  # workers lost on the way (crashed, or with their node)
        self.peak = 0
        self.worker_s, self._counted_at = 0.0, time.monotonic()  # seconds of started workers, for utilisation
        self.held_until = 0.0  # no new worker before then (one could not start)
        self.no_worker_since: float | None = time.monotonic()
        self._followed = 0.0
        nodes = self._nodes()
        self._check_fits(nodes)
        capacity = self._capacity(nodes)
        wanted = self._wanted(capacity)
        if demand.workers is not None and wanted > capacity:
            self.report(f"{wanted - capacity} of {wanted} workers wait for resources (the cluster holds {capacity} "
                        "now); the others work meanwhile")
        self.quiet_starts = min(wanted, capacity)  # starts that are no news: as many as the cluster has room for now
        for _ in range(wanted):
            self._add_worker(first=True)
        self._await_first_start()

    # -- sizes

    def _nodes(self) -> list[dict[str, Any]]:
        return [node for node in self.ray.nodes() if node["Alive"]]

    def _fits_on(self, resources: dict[str, float]) -> int:
        by_cpu = int(resources.get("CPU", 0) // self.demand.cpus) if self.demand.cpus > 0 else 10**6
        by_gpu = int(resources.get("GPU", 0) // self.demand.gpus) if self.demand.gpus > 0 else 10**6
        return min(by_cpu, by_gpu)

    def _capacity(self, nodes: list[dict[str, Any]]) -> int:
        """How many workers the live nodes hold, node by node (a worker cannot span two nodes)."""
        return sum(self._fits_on(node["Resources"]) for node in nodes)

    def _wanted(self, capacity: int) -> int:
        wanted = self.demand.workers if self.demand.workers is not None else capacity
        return min(wanted, self.demand.at_most) if self.demand.at_most is not None else wanted

    def _check_fits(self, nodes: list[dict[str, Any]]) -> None:
        # Ray would wait forever for a worker that no node can hold: say so instead.
        if any(self._fits_on(node["Resources"]) for node in nodes):
            return
        cpus = max((node["Resources"].get("CPU", 0) for node in nodes), default=0)
        gpus = max((node["Resources"].get("GPU", 0) for node in nodes), default=0)
        if cpus == 0:  # e.g. a head started with --num-cpus 0 and no worker node yet: no flag of ours would help
            raise EvohybridError("no node of the Ray cluster has a CPU for a worker: start a worker node with "
                                 "'ray start --address <the head>', or leave out --address to run on this machine")
        if self.demand.cpus > cpus:
            problem = f"--cpus-per-eval {self.demand.cpus:g} but no node of the Ray cluster has more than {cpus:g} CPUs"
        else:
            problem = f"--gpus-per-eval {self.demand.gpus:g} but no node of the Ray cluster has more than {gpus:g} GPUs"
        raise EvohybridError(f"{problem}: ask for less per evaluation")

    @property
    def started(self) -> list[Worker]:
        return [worker for worker in self.workers.values() if worker.node_id is not None]

    @property
    def idle(self) -> list[Worker]:
        """Started workers with no call in flight, the longest idle first: work spreads over the pool, and a worker
        that died idle is found out by its next call soon."""
        return sorted((worker for worker in self.started if worker.calls == 0), key=lambda worker: worker.idle_since)

    @property
    def slots(self) -> int:
        """Calls worth having in flight or queued: one per worker, started or starting (at least one)."""
        return max(1, len(self.workers))

    # -- workers come and go

    def _add_worker(self, first: bool = False) -> None:
        index = next(i for i in range(len(self.workers) + 1) if f"ray-{i}" not in self.workers)
        name = f"ray-{index}"  # a successor takes the lowest free name, so slots keep their names
        worker = Worker(name, self.remote_class.remote(*self.args_for(name)), time.monotonic(), first=first)
        self.workers[name] = worker
        self.pings[worker.actor.where.remote()] = worker

    def _count(self) -> None:
        now = time.monotonic()
        self.worker_s += len(self.started) * (now - self._counted_at)
        self._counted_at = now

    def _started(self, worker: Worker, where: tuple[str, str]) -> None:
        self._count()
        worker.node_id, worker.ip = where
        worker.idle_since = time.monotonic()
        size = len(self.started)
        self.peak = max(self.peak, size)
        self.no_worker_since = None
        if worker.first and self.quiet_starts:
            self.quiet_starts -= 1  # counted, not named: Ray may start any of the first workers first
        else:
            self.report(f"{size - 1} -> {size} workers: {worker.name} started on node {worker.ip}")

    def _remove(self, workers: list[Worker], why: str) -> list[Outcome]:
        """Take workers out of the pool; their calls in flight come back as outcomes lost with them."""
        self._count()
        before = len(self.started)
        lost: list[Outcome] = []
        for worker in workers:
            self.workers.pop(worker.name, None)
            for ref, (owner, tag) in list(self.calls.items()):
                if owner is worker:
                    del self.calls[ref]
                    lost.append(Outcome(tag, error=ExecutorLost(f"{worker.name}: {why}"), node_lost=True,
                                        worker=worker.name))
            self._kill(worker)
        after = len(self.started)
        if after != before:
            self.died += before - after
            self.report(f"{before} -> {after} workers: {why}")
        if not self.started and self.no_worker_since is None:
            self.no_worker_since = time.monotonic()
        return lost

    def _kill(self, worker: Worker) -> None:
        try:
            self.ray.kill(worker.actor)
        except Exception:  # already gone with its node: nothing to kill
            pass

    def _await_first_start(self) -> None:
        """Block until one worker has started, so that a worker that cannot load its data fails here, before the
        caller writes anything."""
        while not self.started:
            self.wait(calls=False)

    def _follow_cluster(self) -> list[Outcome]:
        """Every heartbeat: check that Ray is there, drop the workers of dead nodes, give up on workers that
        cannot start, add workers where the cluster has room, and stop when no live node has held a worker for too
        long (workers still starting where there is room are slow, not lost)."""
        now = time.monotonic()
        if now - self._followed < HEARTBEAT_S:
            return []
        self._followed = now
        self._check_ray()
        nodes = self._nodes()
        alive = {node["NodeID"] for node in nodes}
        outcomes: list[Outcome] = []
        for ip in sorted({w.ip for w in self.started if w.node_id not in alive}):
            gone = [w for w in self.started if w.node_id not in alive and w.ip == ip]
            outcomes += self._remove(gone, f"node {ip} lost")
        capacity = self._capacity(nodes)
        if self.demand.workers is None:
            self._give_up_beyond(capacity, now)
        self._grow(capacity)
        if self.workers and capacity and not self.started:
            self.no_worker_since = now  # workers are starting where there is room: slow (a busy machine), not lost
        if self.no_worker_since is not None and now - self.no_worker_since > self.worker_timeout_s:
            raise ExecutorLost(f"no Ray worker has been alive for {self.worker_timeout_s:g} s (every node that could "
                               "hold one is gone)")
        return outcomes

    def _check_ray(self) -> None:
        try:
            check_ray_alive(self.ray, self.started_ray)
        except ExecutorLost:
            self.lost = True
            raise

    def _give_up_beyond(self, capacity: int, now: float) -> None:
        """Kill workers that have waited START_S to start and are more than the live nodes hold (the room they were
        made for went with a node): new ones are made when there is room again."""
        beyond = len(self.workers) - capacity
        waiting = sorted((w for w in self.workers.values() if w.node_id is None and now - w.created > START_S),
                         key=lambda worker: worker.created, reverse=True)
        for worker in waiting[:max(0, beyond)]:
            self.workers.pop(worker.name)
            self.pings = {ref: w for ref, w in self.pings.items() if w is not worker}
            self._kill(worker)

    def _grow(self, capacity: int) -> None:
        if time.monotonic() < self.held_until:
            return
        missing = self._wanted(capacity) - len(self.workers)
        if self.demand.workers is None:  # only where there is room now; an explicit number waits for it
            missing = min(missing, self._fits_on(self.ray.available_resources()))
        for _ in range(max(0, missing)):
            self._add_worker()

    # -- calls

    def call(self, worker: Worker, method: str, *args: Any, tag: Any) -> None:
        ref = getattr(worker.actor, method).remote(*args)
        worker.calls += 1
        self.calls[ref] = (worker, tag)

    def wait(self, calls: bool = True) -> list[Outcome]:
        """One round: the outcomes of the calls that finished within a heartbeat (often none); workers that
        started are put to work by the caller's next call."""
        outcomes = self._follow_cluster()
        refs = [*self.calls, *self.pings] if calls else list(self.pings)
        if not refs:
            if not outcomes:
                time.sleep(HEARTBEAT_S / 4)  # nothing in flight and no worker starting: poll the cluster
            return outcomes
        # Never an unbounded wait: a node that died under a call would leave it waiting forever.
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=0 if outcomes else HEARTBEAT_S, fetch_local=False)
        if ready:  # and whatever else is done by now, in one round
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        for ref in ready:
            if ref in self.pings:
                self._settle_start(self.pings.pop(ref), ref)
            elif ref in self.calls:
                outcomes += self._settle_call(ref)
        return outcomes

    def _settle_start(self, worker: Worker, ref: Any) -> None:
        if worker.name not in self.workers:
            return
        try:
            self._started(worker, tuple(self.ray.get(ref)))
        except self.ray.exceptions.RayError as error:
            self.workers.pop(worker.name)
            failed = getattr(error, "actor_init_failed", False)
            if failed and self.peak == 0:
                self.close()
                raise EvohybridError(f"Ray workers could not start: {root_cause(error)}") from None
            if failed:
                self.report(f"{worker.name} could not start: {root_cause(error)}")
            self.held_until = time.monotonic() + START_S if failed else 0.0

    def _settle_call(self, ref: Any) -> list[Outcome]:
        worker, tag = self.calls.pop(ref)
        worker.calls -= 1
        worker.idle_since = time.monotonic()
        try:
            return [Outcome(tag, value=self.ray.get(ref), worker=worker.name)]
        except self.ray.exceptions.RayActorError as error:
            self._check_ray()  # a worker that died with the Ray under it: say that, not the worker's death
            node_lost = worker.node_id not in {node["NodeID"] for node in self._nodes()} or _node_died(error)
            why = f"node {worker.ip} lost" if node_lost else f"{worker.name} died"
            self._followed = 0.0  # look at the cluster (and replace the worker) in the next round, not a heartbeat later
            return [Outcome(tag, error=error, node_lost=node_lost, worker=worker.name), *self._remove([worker], why)]
        except self.ray.exceptions.RayError as error:
            return [Outcome(tag, error=error, worker=worker.name)]

    # -- the end

    def stats(self) -> dict[str, Any]:
        self._count()
        return {"workers": self.peak, "worker_s": self.worker_s, "lost_workers": self.died}

    def close(self) -> None:
        if not self.lost:
            for worker in self.workers.values():
                self._kill(worker)
        self.workers, self.pings, self.calls = {}, {}, {}


def _node_died(error: Exception) -> bool:
    """Whether Ray says the actor died because its node did (the GCS may learn of the node's death later)."""
    return bool(getattr(error, "preempted", False)) or "its node has died" in str(error)


def root_cause(error: Exception) -> str:
    """The last line that names an exception in a Ray error, e.g. a worker's DatasetError message."""
    lines = [line.strip() for line in str(error).splitlines() if "Error" in line and ":" in line]
    return lines[-1] if lines else type(error).__name__
