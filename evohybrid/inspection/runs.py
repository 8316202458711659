"""A run as the report sees it, read once from its folder: the report's figures and the interactive front share it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evolution.pareto import run_chance
from ..evolution.store import RunStore


@dataclass(frozen=True)
class RunData:
    """One run as the report sees it: where it is, what to call it, its config, evaluations and chance level."""

    path: Path
    label: str
    config: dict[str, Any]
    records: list[dict[str, Any]]
    chance: float  # 1 / the classes of its data set


def load_run(path: str | Path) -> RunData:
    """Read a run directory; its label is the folder name and the algorithm."""
    store = RunStore.open(path)
    config = store.read_config().get("config", {})
    algorithm = config.get("search", {}).get("algorithm", "?")
    return RunData(store.path, f"{store.path.name} ({algorithm})", config, store.records(), run_chance(store))
