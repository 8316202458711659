"""Pareto fronts over (validation accuracy up, parameters down), with DEAP's non-dominated sorting."""

from __future__ import annotations

from typing import Any

from deap import tools

from .algorithms.base import objectives
from .algorithms.deap_types import Individual
from .genome import Genome


def pareto_front(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The non-dominated `ok` records, smallest first."""
    ok = [record for record in records if record.get("status") == "ok"]
    if not ok:
        return []
    individuals = [Individual(Genome.from_dict(record["genome"]), objectives(record)) for record in ok]
    by_identity = {id(ind): record for ind, record in zip(individuals, ok)}
    front = tools.sortNondominated(individuals, len(individuals), first_front_only=True)[0]
    return sorted((by_identity[id(ind)] for ind in front), key=lambda record: (record["params"], -record["val_acc"]))


def format_front(front: list[dict[str, Any]]) -> str:
    """A plain-text table: accuracy, parameters, id and a short architecture string."""
    lines = [f"{'val_acc':>8}  {'params':>10}  {'id':>5}  architecture"]
    for record in front:
        arch = Genome.from_dict(record["genome"]).describe()
        lines.append(f"{record['val_acc']:>8.4f}  {record['params']:>10,}  {record['id']:>5}  {arch}")
    return "\n".join(lines)
