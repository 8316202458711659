"""Pareto fronts over (validation accuracy up, parameters down): DEAP's non-dominated sorting, the chance level,
the knee point, and the hypervolume of a run in the plane (-accuracy, log10 parameters). The search keeps its front
with these, promotion picks from them, and the reports and studies draw them (tables: inspection/tables.py)."""

from __future__ import annotations

import bisect
import math
from typing import Any, Iterable

import moocore
import numpy as np
from deap import tools

from ..config import config_from_dict
from ..dataset_names import NUM_CLASSES
from ..spaces.genome import Genome
from .algorithms.base import objectives
from .algorithms.deap_types import Individual
from .algorithms.rungs import selection_view
from .store import RunStore

REFERENCE_MARGIN = 0.1  # decades of parameters beyond the largest network, so that it still adds volume


def ok_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluations that produced an accuracy (status `ok`), in log order; with fitness rungs, one per genome
    with its selection value (see algorithms/rungs.py)."""
    return [record for record in selection_view(list(records)) if record.get("status") == "ok"]


def pareto_fronts(records: list[dict[str, Any]], count: int | None = None) -> list[list[dict[str, Any]]]:
    """The first `count` non-dominated fronts of the `ok` records (all fronts when None), each smallest first.

    Records with equal objectives share a front; a record is in front k when only records of fronts < k dominate it.
    """
    ok = ok_records(records)
    if not ok:
        return []
    individuals = [Individual(Genome.from_dict(record["genome"]), objectives(record)) for record in ok]
    by_identity = {id(ind): record for ind, record in zip(individuals, ok)}
    fronts = tools.sortNondominated(individuals, len(individuals), first_front_only=count == 1)
    # Within a front equal sizes mean equal accuracies (else one would dominate the other): size alone orders it.
    return [sorted((by_identity[id(ind)] for ind in front), key=lambda record: record["params"])
            for front in fronts[:count] if front]


def pareto_front(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The non-dominated `ok` records, smallest first."""
    fronts = pareto_fronts(records, 1)
    return fronts[0] if fronts else []


class ParetoArchive:
    """The first front, kept up to date one record at a time in O(log n) plus what the record evicts, instead of a
    non-dominated sort of every record after each evaluation. Records with equal objectives share the front, as in
    `pareto_front`. With fitness rungs an upgrade changes earlier genomes' selection values, so the archive is
    rebuilt from the log's selection view then (once per upgrade, not per evaluation)."""

    def __init__(self, records: list[dict[str, Any]] = ()) -> None:
        self.rebuild(list(records))

    def rebuild(self, records: list[dict[str, Any]]) -> None:
        self.members: list[dict[str, Any]] = []  # smallest first; accuracy never falls along the list
        self._sizes: list[float] = []  # the members' parameter counts, for bisection
        for record in sorted(ok_records(records), key=lambda r: (r["params"], -r["val_acc"])):
            self._insert(record)

    def add(self, record: dict[str, Any], log: list[dict[str, Any]]) -> None:
        """Take one new record; `log` is every record so far (read only when an upgrade forces a rebuild)."""
        if record.get("rung", 0) > 0:
            self.rebuild(log)
        elif record.get("status") == "ok":
            self._insert(record)

    def _insert(self, record: dict[str, Any]) -> None:
        accuracy, params = objectives(record)
        index = bisect.bisect_right(self._sizes, params)  # members before `index` are no larger
        if index and objectives(self.members[index - 1])[0] >= accuracy:
            before_acc, before_params = objectives(self.members[index - 1])
            if before_acc > accuracy or before_params < params:
                return  # dominated: no larger and at least as accurate, better in one
        # Evict what the new record dominates: members at least as large and no more accurate.
        start = bisect.bisect_left(self._sizes, params)
        end = start
        while end < len(self.members) and objectives(self.members[end])[0] <= accuracy:
            end += 1
        keep = [member for member in self.members[start:end] if objectives(member) == (accuracy, params)]
        self.members[start:end] = keep + [record]
        self._sizes[start:end] = [params] * (len(keep) + 1)

    def best_accuracy(self) -> float | None:
        return objectives(self.members[-1])[0] if self.members else None

    @property
    def front(self) -> list[dict[str, Any]]:
        """The non-dominated `ok` records, smallest first (as `pareto_front` orders them)."""
        return list(self.members)


def chance_level(dataset: str) -> float:
    """The accuracy of guessing on a registered data set: 1 / its classes."""
    return 1 / NUM_CLASSES[dataset]


def run_chance(store: RunStore) -> float:
    """The chance level of a run's data set, from its config.json (read through the current schema)."""
    return chance_level(config_from_dict(store.read_config()["config"]).data.dataset)


def no_better_than_chance(record: dict[str, Any], chance: float) -> bool:
    """Whether an `ok` record's accuracy is at or below `chance` (see `chance_level`)."""
    # Such a network learned nothing the proxy can see: it is on the front for its size alone, never one to promote.
    return record["val_acc"] <= chance


def knee_point(front: list[dict[str, Any]], chance: float) -> dict[str, Any] | None:
    """The member of the front above `chance` that bulges farthest toward the ideal corner (few parameters, high
    accuracy) beyond the line joining those members' two extremes, with log10 parameters and accuracy each scaled
    to 0..1 over them.

    None for fewer than three members above chance, or when none lies beyond that line (a straight or concave front).
    """
    front = [record for record in front if not no_better_than_chance(record, chance)]
    if len(front) < 3:
        return None
    points = np.array([(math.log10(record["params"]), record["val_acc"]) for record in front])
    span = points.max(axis=0) - points.min(axis=0)
    scaled = (points - points.min(axis=0)) / np.where(span > 0, span, 1.0)
    # On a front more parameters never mean less accuracy: the extremes scale to (0, 0) and (1, 1), the chord is
    # the diagonal, and a member's height above it is its scaled accuracy less its scaled size.
    beyond = scaled[:, 1] - scaled[:, 0]
    best = int(np.argmax(beyond))
    return front[best] if beyond[best] > 1e-9 else None


def _minimisation_points(records: Iterable[dict[str, Any]]) -> np.ndarray:
    # moocore (DEAP's hypervolume engine) minimises: accuracy is negated, size is measured in decades.
    return np.array([(-record["val_acc"], math.log10(record["params"])) for record in ok_records(records)],
                    dtype=float).reshape(-1, 2)


def reference_point(runs: Iterable[list[dict[str, Any]]]) -> tuple[float, float]:
    """One reference point for several runs, so their hypervolumes compare: accuracy 0 and a size a little beyond
    the largest `ok` network of any run."""
    largest = max((math.log10(record["params"]) for records in runs for record in ok_records(records)), default=0.0)
    return 0.0, largest + REFERENCE_MARGIN


def _volume(points: np.ndarray, reference: tuple[float, float]) -> float:
    return float(moocore.hypervolume(points, ref=np.array(reference))) if len(points) else 0.0


def hypervolume(records: list[dict[str, Any]], reference: tuple[float, float]) -> float:
    """Area dominated by the `ok` records in (-accuracy, log10 parameters) up to `reference` (larger is better)."""
    return _volume(_minimisation_points(records), reference)


def hypervolume_curve(records: list[dict[str, Any]], reference: tuple[float, float]) -> list[float]:
    """The hypervolume after each evaluation, in log order (a failed evaluation repeats the previous value)."""
    if any(record.get("rung", 0) > 0 for record in records):  # an upgrade changes earlier points: recompute each
        return [hypervolume(records[:count], reference) for count in range(1, len(records) + 1)]
    points = _minimisation_points(records)
    ok_counts = np.cumsum([record.get("status") == "ok" for record in records])
    return [_volume(points[:count], reference) for count in ok_counts]
