"""Shared fixtures: the smoke config and its data split (real Fashion-MNIST), loaded once per session."""

from __future__ import annotations

import pytest

import evohybrid
from evohybrid.algorithms import ALGORITHMS
from evohybrid.space import SPACES_DIR

SPACE_NAMES = sorted(path.stem for path in SPACES_DIR.glob("*.yaml"))
ALGORITHM_NAMES = sorted(ALGORITHMS)

assert SPACE_NAMES, f"no search space shipped in {SPACES_DIR}"
assert ALGORITHM_NAMES, "no algorithm registered"


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
