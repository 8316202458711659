"""The search loop: ask the algorithm, run the executor, log every finished evaluation before telling it."""

from __future__ import annotations

import datetime
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import Config, config_from_dict
from ..data import check_validation_slice, stratified_folds
from ..errors import ExecutorLost, RunDirError
from ..spaces.genome import Genome
from ..spaces.kinds import check_space_data
from ..spaces.space import SPACES_DIR, SearchSpace, parse_space
from ..yaml_files import read_yaml, resolve_yaml
from .algorithms import Algorithm, make_algorithm
from .executors import Executor, LocalExecutor, load_search_split
from .pareto import ParetoArchive
from .progress import SearchProgress
from .store import RunStore


@dataclass
class SearchResult:
    run_dir: Path
    records: list[dict[str, Any]]
    front: list[dict[str, Any]]
    wall_s: float
    interrupted: bool = False
    executor_stats: dict[str, Any] = field(default_factory=dict)  # workers, busy time, utilisation


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("evohybrid", "torch", "torchvision", "deap", "ray", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def default_run_dir(config: Config) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{stamp}-{config.search.algorithm}-{config.data.dataset}"


def _run_document(config: Config, space_raw: Any) -> dict[str, Any]:
    return {"config": config.to_dict(), "search_space": space_raw, "versions": _versions(),
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
            # The program's name, not where it is installed: a run folder may be shared.
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]]}


def _resolve_run(config: Config, resume: str | Path | None,
                 budget: int | None) -> tuple[RunStore | None, dict[str, Any], Config, SearchSpace]:
    """Everything the run needs, checked before anything is written: (existing store, document, config, space)."""
    if resume is None:
        space_raw = read_yaml(resolve_yaml(config.space, SPACES_DIR, "search space"), "search space")
        space = parse_space(space_raw, str(config.space))
        check_space_data(space.name, space.kind, config.data.dataset)
        check_validation_slice(config.data)
        if config.fitness.folds > 1:  # refused here, before any worker loads the data, if a class is too small
            split = load_search_split(config)
            stratified_folds(torch.cat([split.train_labels, split.val_labels]), config.fitness.folds, config.seed,
                             setting="fitness.folds")
        config = config.override("search", budget=budget)
        return None, _run_document(config, space_raw), config, space
    store = RunStore.open(resume)
    document = store.read_config()
    if not isinstance(document, dict) or "config" not in document or "search_space" not in document:
        raise RunDirError(f"'{store.path}' has a config.json that evohybrid did not write: cannot resume it")
    config = config_from_dict(document["config"]).override("search", budget=budget)
    document["config"] = config.to_dict()
    return store, document, config, parse_space(document["search_space"], str(config.space))


def _restore(algorithm: Algorithm, store: RunStore, records: list[dict[str, Any]]) -> None:
    """Load the checkpointed state, then bring it up to date with the log: tell it what finished after the
    checkpoint, and replay the proposals the checkpoint never saw (all of them when it is missing)."""
    state = store.read_state()
    if state is not None:
        algorithm.load_state_dict(state)
    # The store keeps any JSON object of the log: a line without an integer id is not one of this run's evaluations.
    evaluations = sorted((record for record in records if isinstance(record.get("id"), int)),
                         key=lambda record: record["id"])
    # The state does not list every genome ever proposed (that would grow with the run); the log does.
    algorithm.seen.update(record["hash"] for record in evaluations if record["id"] < algorithm.next_id)
    for record in evaluations:
        while record["id"] >= algorithm.next_id and algorithm.ready():
            algorithm.ask()  # ids in between stay pending and are re-submitted
        if record["id"] in algorithm.pending:
            algorithm.adopt(record["id"], Genome.from_dict(record["genome"]))
            algorithm.tell(record["id"], record)
    store.write_state(algorithm.state_dict())


def _is_new_genome(record_or_meta: dict[str, Any]) -> bool:
    """Whether an evaluation counts toward the budget: a new genome, not an upgrade to a costlier rung."""
    return record_or_meta.get("rung", 0) == 0


def _finish_record(proposal_id: int, meta: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    # finished_at (Unix time) lets a run's wall time be read at any budget afterwards.
    return {"id": proposal_id, **meta, **record, "finished_at": round(time.time(), 3)}


def search(config: Config | None = None, *, out: str | Path | None = None, resume: str | Path | None = None,
           budget: int | None = None, executor_factory: Callable[[Config], Executor] | None = None,
           progress: bool = True) -> SearchResult:
    """Run (or resume) a search; every finished evaluation is on disk before the algorithm hears of it."""
    started = time.monotonic()
    store, document, config, space = _resolve_run(config or Config(), resume, budget)
    out = Path(out) if out is not None else default_run_dir(config)
    if store is None:
        RunStore.check_new(out)
    algorithm = make_algorithm(space, config.search, config.seed)
    # Data and workers come up before the run directory is written, so a missing data set leaves nothing behind.
    executor = (executor_factory or LocalExecutor)(config)
    try:
        if store is None:
            store = RunStore.create(out, document)
        elif budget is not None:
            store.write_config(document)
    except BaseException:
        executor.close()
        raise
    if config.search.screen_signal is not None:  # before the replay: a replayed generation screens its offspring
        algorithm.screener = lambda genomes: executor.screen(genomes, config.search.screen_signal)
    records = store.records()
    _restore(algorithm, store, records)
    inflight: dict[int, Any] = {}
    budget = config.search.budget  # new genomes; upgrades to costlier fitness rungs come on top
    done = len({record["id"] for record in records if "id" in record and _is_new_genome(record)})
    bar = SearchProgress(budget, done, enabled=progress)
    archive = ParetoArchive(records)
    interrupted = False

    def out_of_time() -> bool:
        limit = config.search.time_budget
        return limit is not None and time.monotonic() - started >= limit

    def new_in_flight() -> int:
        if not algorithm.rungs.enabled:  # every evaluation is a new genome: no need to look at each
            return len(inflight)
        return sum(_is_new_genome(proposal.meta) for proposal in inflight.values())

    try:
        # Proposals asked before a crash go first, so a resumed run proposes what an uninterrupted one would.
        for proposal in sorted(algorithm.pending.values(), key=lambda p: p.id):
            if not _is_new_genome(proposal.meta) or done + new_in_flight() < budget:
                executor.submit(proposal)
                inflight[proposal.id] = proposal
        while True:
            while (len(inflight) < executor.slots and algorithm.ready() and not out_of_time()
                   and (algorithm.owes_upgrades() or done + new_in_flight() < budget)):
                # No checkpoint per proposal: after a crash the same state proposes the same genomes again.
                proposal = algorithm.ask()
                executor.submit(proposal)
                inflight[proposal.id] = proposal
            if not inflight:
                break
            finished = [(proposal, _finish_record(proposal.id, proposal.meta, result))
                        for proposal, result in executor.wait()]
            store.append(*(record for _, record in finished))  # one fsync for all; on disk before any tell
            for proposal, record in finished:
                inflight.pop(proposal.id)
                algorithm.tell(proposal.id, record)
                records.append(record)
                archive.add(record, records)
                if _is_new_genome(record):
                    done += 1
                    bar.update(record, archive.best_accuracy(), len(archive.members))
            store.write_state(algorithm.state_dict())  # its size is the population's, not the run's
    except KeyboardInterrupt:
        interrupted = True
    except ExecutorLost as error:
        raise ExecutorLost(f"{error}: every finished evaluation is saved; resume with "
                           f"'evohybrid search --resume {store.path}'") from None
    finally:
        bar.close()
        stats = executor.stats()
        executor.close()
    return SearchResult(store.path, records, archive.front, time.monotonic() - started, interrupted, stats)
