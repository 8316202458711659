"""Long measurements spread over a pool of workers: Ray actors (one per CPU, or per GPU), processes of this machine
(without Ray, e.g. several sharing one GPU), or this process.

Each worker builds its context once (the data loaded and kept in memory), then runs jobs as they come; with GPUs,
one worker per GPU, and each job runs there.
The caller records each result as it arrives, so an interrupted pool loses only the jobs in flight.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ..errors import EvohybridError, ExecutorLost
from .ray_runtime import connect_ray, import_ray
from .worker_pool import WORKER_TIMEOUT_S, Demand, PoolActor, WorkerPool

SAVED = "finished results are saved; run the same command again to continue"
MAX_CRASHES = 2  # a job whose worker crashes (its node alive) is run again this many times


@dataclass(frozen=True)
class PoolOptions:
    executor: str = "ray"  # ray: a pool of actors; local: without Ray, in this process or in `workers` processes
    workers: int | None = None  # ray, None: one per GPU when the cluster has GPUs, else one per CPU; local, None: 1
    address: str | None = None  # None starts a local Ray on 127.0.0.1; "auto" or "host:port" joins a cluster
    worker_timeout_s: float = WORKER_TIMEOUT_S  # with no worker alive this long, the pool stops


class PoolWorker(PoolActor):
    """Holds what `setup(*args)` built and runs `run(context, job)` for each job; reports (job, result, seconds)."""

    def __init__(self, setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.context, self.run = setup(*args), run

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
    if options.executor == "local" and (options.workers or 1) == 1:
        worker = PoolWorker(setup, args, run, threads=1)
        for job in jobs:
            yield worker.do(job)
        return
    if options.executor == "local":
        yield from _run_on_processes(jobs, setup, args, run, options.workers)
        return
    yield from _run_on_ray(jobs, setup, args, run, options)


_PROCESS_WORKER: PoolWorker | None = None  # each process's worker, built once by its initializer


def _start_process_worker(setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any]) -> None:
    global _PROCESS_WORKER
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches every process: the parent speaks, they just end
    _PROCESS_WORKER = PoolWorker(setup, args, run, threads=1)


def _do_in_process(job: Any) -> tuple[Any, Any, float]:
    assert _PROCESS_WORKER is not None, "the process pool's initializer builds the worker"
    return _PROCESS_WORKER.do(job)


def _run_on_processes(jobs: list[Any], setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any],
                      workers: int) -> Iterator[tuple[Any, Any, float]]:
    """The jobs on `workers` fresh processes of this machine (spawned: CUDA cannot be forked), with at most one job
    waiting per process, so that a stop abandons little."""
    others = set(multiprocessing.active_children())  # processes this one started before the pool: left alone
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_process_worker, initargs=(setup, args, run))
    queue, running, completed = deque(jobs), set(), False
    try:
        while queue or running:
            while queue and len(running) < 2 * workers:
                running.add(pool.submit(_do_in_process, queue.popleft()))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
        completed = True
    except BrokenProcessPool:
        raise EvohybridError(f"a worker process of the pool died: {SAVED}") from None
    except EvohybridError:
        raise
    except Exception as error:  # a job's own failure, raised again here by its future
        raise EvohybridError(f"a worker of the pool failed ({_last_line(error)}): {SAVED}") from None
    finally:
        if not completed:  # a stop or a failure: the jobs in flight are abandoned, not awaited
            for process in set(multiprocessing.active_children()) - others:
                process.terminate()
        pool.shutdown(wait=completed, cancel_futures=True)


def _run_on_ray(jobs: list[Any], setup: Callable[..., Any], args: tuple, run: Callable[[Any, Any], Any],
                options: PoolOptions) -> Iterator[tuple[Any, Any, float]]:
    ray = import_ray(options.address)  # first: it keeps a local Ray on loopback
    started = connect_ray(options.address)
    pool = None
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        shared = ray.put(args)  # the data goes into the object store once, not once per worker
        pool = WorkerPool(ray, PoolWorker, lambda name: (setup, shared, run, 1),
                          Demand(cpus=1, gpus=gpus, workers=options.workers, at_most=len(jobs)),
                          started_ray=started, worker_timeout_s=options.worker_timeout_s)
        queue, crashes, left = deque(range(len(jobs))), [0] * len(jobs), len(jobs)
        while left:
            for worker in pool.idle:
                if queue:
                    index = queue.popleft()
                    pool.call(worker, "do", jobs[index], tag=index)
            for outcome in pool.wait():
                if outcome.error is None:
                    left -= 1
                    yield outcome.value
                    continue
                crashes[outcome.tag] += 0 if outcome.node_lost else 1  # a job lost with its node is run again
                if crashes[outcome.tag] > MAX_CRASHES or not isinstance(outcome.error, ray.exceptions.RayActorError):
                    raise EvohybridError(f"a worker of the pool failed ({_last_line(outcome.error)}): {SAVED}")
                queue.appendleft(outcome.tag)
    except ExecutorLost as error:
        raise ExecutorLost(f"{error}: {SAVED}") from None
    finally:
        if pool is not None:
            pool.close()
        if started:
            ray.shutdown()


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(error).__name__
