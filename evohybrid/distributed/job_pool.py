"""Long measurements spread over a pool of workers: Ray actors (one per CPU, or per GPU) or this process.

Each worker builds its context once (the data loaded and kept in memory), then runs jobs as they come; with GPUs,
one worker per GPU, and each job runs there.
The caller records each result as it arrives, so an interrupted pool loses only the jobs in flight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ..errors import EvohybridError, ExecutorLost
from .ray_runtime import HEARTBEAT_S, check_ray_alive, connect_ray, import_ray

SAVED = "finished results are saved; run the same command again to continue"


@dataclass(frozen=True)
class PoolOptions:
    executor: str = "ray"  # ray: a pool of actors; local: one job at a time in this process
    workers: int | None = None  # None: one per GPU when the cluster has GPUs, else one per CPU
    address: str | None = None  # None starts a local Ray on 127.0.0.1; "auto" or "host:port" joins a cluster


class PoolWorker:
    """Holds what `setup(*args)` built and runs `run(context, job)` for each job; reports (job, result, seconds)."""

    def __init__(self, setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.context, self.run = setup(*args), run

    def ready(self) -> bool:
        return True

    def do(self, job: Any) -> tuple[Any, Any, float]:
        start = time.perf_counter()
        result = self.run(self.context, job)
        return job, result, time.perf_counter() - start


def run_jobs(jobs: Iterable[Any], setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any],
             options: PoolOptions = PoolOptions()) -> Iterator[tuple[Any, Any, float]]:
    """Yield (job, result, seconds) for every job as it finishes, in any order. `setup` and `run` must be
    module-level functions (Ray ships them to its workers by reference)."""
    jobs = list(jobs)
    if not jobs:
        return
    if options.executor == "local":
        worker = PoolWorker(setup, args, run, threads=1)
        for job in jobs:
            yield worker.do(job)
        return
    yield from _run_on_ray(jobs, setup, args, run, options)


def _run_on_ray(jobs: list[Any], setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any],
                options: PoolOptions) -> Iterator[tuple[Any, Any, float]]:
    ray = import_ray(options.address)  # first: it keeps a local Ray on loopback
    from ray.util import ActorPool

    started = connect_ray(options.address)
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = options.workers or (gpus or int(resources.get("CPU", 1)))
        count = min(count, len(jobs))
        actor = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_restarts=0)(PoolWorker)
        shared = ray.put(args)  # the data goes into the object store once, not once per worker
        actors = [actor.remote(setup, shared, run, 1) for _ in range(count)]
        try:
            ray.get([worker.ready.remote() for worker in actors])
            pool = ActorPool(actors)
            for job in jobs:
                pool.submit(lambda worker, item: worker.do.remote(item), job)
            while pool.has_next():
                try:
                    yield pool.get_next_unordered(timeout=HEARTBEAT_S)
                except TimeoutError:  # nothing finished for a while: make sure Ray is still there to finish it
                    check_ray_alive(ray, started)
        except ExecutorLost as error:
            raise ExecutorLost(f"{error}: {SAVED}") from None
        except ray.exceptions.RayError as error:
            try:
                check_ray_alive(ray, started)  # a worker that died with its node: say that, not the worker's error
            except ExecutorLost as lost:
                raise ExecutorLost(f"{lost}: {SAVED}") from None
            raise EvohybridError(f"a worker of the pool failed ({_last_line(error)}): {SAVED}") from None
    finally:
        if started:
            ray.shutdown()


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(error).__name__
