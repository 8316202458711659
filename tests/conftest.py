"""Shared fixtures: the smoke config and its data split (real Fashion-MNIST), loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import evohybrid
from evohybrid.evolution.algorithms import ALGORITHMS
from evohybrid.inspection.pareto import ok_records
from evohybrid.spaces.space import SPACES_DIR
from evohybrid.training.promote import PromoteOptions, promote

SPACE_NAMES = sorted(path.stem for path in SPACES_DIR.glob("*.yaml"))
ALGORITHM_NAMES = sorted(ALGORITHMS)

assert SPACE_NAMES, f"no search space shipped in {SPACES_DIR}"
assert ALGORITHM_NAMES, "no algorithm registered"

# The slowest modules (whole searches, subprocesses, training), last under a mutation run.
SLOW_MODULES = ("test_learning.py", "test_search.py", "test_rungs.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `make mutation` (mutmut names the mutant in MUTANT_UNDER_TEST) a mutant's tests arrive in no particular
    order: group them by module, so a module's fixtures are built once, fast modules first, so a caught mutant
    stops early (mutmut runs with -x)."""
    if "MUTANT_UNDER_TEST" in os.environ:
        items.sort(key=_module_rank)  # a stable sort: each module's tests keep their order


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
    native 28 pixels, with real Ray Tune: (run directory, promoted ids). Built once per session: test_promote.py and test_export.py share it, read only
    (a test that writes works on a copy)."""
    base = tmp_path_factory.mktemp("promoted-run")
    result = evohybrid.search(evohybrid.load_config("smoke"), out=base / "run", budget=6, progress=False)
    smallest = sorted(ok_records(result.records), key=lambda record: record["flops"])[:2]
    ids = [record["id"] for record in smallest]
    promote(result.run_dir, ids=ids, options=PromoteOptions(epochs=1, batch_size=512, train_size=2048))
    return result.run_dir, ids
