"""Shared fixtures: the smoke config and its data split (real Fashion-MNIST), loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

import evohybrid
from evohybrid.evolution.algorithms import ALGORITHMS
from evohybrid.evolution.pareto import ok_records
from evohybrid.spaces.space import SPACES_DIR
from evohybrid.training.promote import PromoteOptions, promote

SPACE_NAMES = sorted(path.stem for path in SPACES_DIR.glob("*.yaml"))
ALGORITHM_NAMES = sorted(ALGORITHMS)

assert SPACE_NAMES, f"no search space shipped in {SPACES_DIR}"
assert ALGORITHM_NAMES, "no algorithm registered"

# The slowest modules (whole searches, subprocesses, training), last under a mutation run.
SLOW_MODULES = ("test_learning.py", "test_search.py", "test_rungs.py")
# The modules that share the session's `promoted` run: one worker runs them all, so the run is built once.
PROMOTED_MODULES = ("test_promote.py", "test_export.py", "test_ensemble.py", "test_lottery.py", "test_weights_only.py")
# The modules that take the longest (a minute or more of the suite each), handed out first under `make test`: a
# long module started last would leave one worker running alone.
LONGEST_MODULES = ("test_ray.py", *PROMOTED_MODULES, "test_cli.py", "test_study.py", "test_algorithm_study.py")


def pytest_configure(config: pytest.Config) -> None:
    """Under `make test` each xdist worker takes its share of the cores for torch's threads, and hands it to the
    commands it starts (OMP_NUM_THREADS): every worker on every core would have OpenMP's threads spin against each
    other (a pruning command beside another busy worker took 8x longer on two threads than on one)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        threads = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadScopeScheduling:
    """`make test` spreads the suite over pytest-xdist workers a module at a time (its module fixtures are built
    once), keeps PROMOTED_MODULES together, and hands out modules in the order of collection."""

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "promoted" if Path(module).name in PROMOTED_MODULES else module

    config.option.loadscopereorder = False  # xdist would order modules by their number of tests
    return ByModule(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `make test` (an xdist worker) the longest modules come first. Under `make mutation` (mutmut names the
    mutant in MUTANT_UNDER_TEST) a mutant's tests arrive in no particular order: group them by module, so a
    module's fixtures are built once, fast modules first, so a caught mutant stops early (mutmut runs with -x).
    Sorts are stable: each module's tests keep their order."""
    if "MUTANT_UNDER_TEST" in os.environ:
        items.sort(key=_module_rank)
    elif hasattr(config, "workerinput"):
        items.sort(key=lambda item: LONGEST_MODULES.index(item.path.name) if item.path.name in LONGEST_MODULES
                   else len(LONGEST_MODULES))


def _module_rank(item: pytest.Item) -> tuple[int, str]:
    name = item.path.name
    return (SLOW_MODULES.index(name) + 1 if name in SLOW_MODULES else 0, name)


def listing(path: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder (None) under `path`: two equal listings mean nothing was written."""
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None) for p in sorted(path.rglob("*"))}


@pytest.fixture(scope="session")
def folder_listing():
    """`listing` for tests: error tests compare a shared fixture's folder before and after, byte for byte."""
    return listing


@pytest.fixture(scope="session")
def smoke_config() -> evohybrid.Config:
    return evohybrid.load_config("smoke")


@pytest.fixture(scope="session")
def smoke_split(smoke_config: evohybrid.Config) -> evohybrid.SearchSplit:
    """The smoke config's training and validation slices; tests must not modify its tensors."""
    return evohybrid.load_search_split(smoke_config)


@pytest.fixture(params=SPACE_NAMES)
def space(request: pytest.FixtureRequest) -> evohybrid.SearchSpace:
    """Every shipped search space in turn."""
    return evohybrid.load_space(request.param)


@pytest.fixture(scope="session")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """A 6-evaluation smoke search whose two smallest networks are promoted for one epoch over 2,048 images at the
    native 28 pixels, with real Ray Tune: (run directory, promoted ids). Built once per session and shared, read only,
    by PROMOTED_MODULES (a test that writes works on a copy)."""
    base = tmp_path_factory.mktemp("promoted-run")
    result = evohybrid.search(evohybrid.load_config("smoke"), out=base / "run", budget=6, progress=False)
    smallest = sorted(ok_records(result.records), key=lambda record: record["flops"])[:2]
    ids = [record["id"] for record in smallest]
    promote(result.run_dir, ids=ids, options=PromoteOptions(epochs=1, batch_size=512, train_size=2048))
    return result.run_dir, ids
