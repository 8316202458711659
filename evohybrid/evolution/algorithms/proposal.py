"""What an algorithm proposes, and the two objectives it reads off a finished evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...spaces.genome import Genome


@dataclass(frozen=True)
class Proposal:
    """A genome to evaluate, with its birth index and the algorithm's notes (e.g. its generation)."""

    id: int
    genome: Genome
    meta: dict[str, Any] = field(default_factory=dict)


def objectives(record: dict[str, Any]) -> tuple[float, float]:
    """(validation accuracy, parameter count); a failed evaluation counts as accuracy 0."""
    accuracy = record["val_acc"] if record.get("status") == "ok" and record.get("val_acc") is not None else 0.0
    params = record["params"] if record.get("params") is not None else float("inf")
    return float(accuracy), float(params)
