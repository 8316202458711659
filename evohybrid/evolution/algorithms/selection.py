"""What an algorithm selects on, beside size (search.selection): a record's fitness, an ensemble of signals whose ranks
are aggregated, or a seeded random number (the ablation).

The algorithms keep each genome's raw selection vector (its signals, then its parameter count) and turn a set of
vectors into objectives at the moment they select among them. An ensemble ranks each signal within that set only
(AZ-NAS's sum of log ranks): the set is fixed by birth indices (a generation and its parents, a population), never by
which evaluation finished first, so a resumed run and a run on more workers select alike; and a genome's score is
never frozen against a reference the evolution has since left behind.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

from ...config import SearchConfig
from ...signal_names import FITNESS_SIGNAL
from .proposal import objectives

Vector = tuple  # (signal values..., parameter count); a missing signal value is None


def noise_value(seed: int, genome_hash: str) -> float:
    """A number in [0, 1) fixed by the run's seed and the genome: the noise-selection ablation's 'fitness'."""
    digest = hashlib.sha256(f"{seed}:noise:{genome_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def selection_vector(genome_hash: str, record: dict[str, Any], cfg: SearchConfig, seed: int) -> Vector:
    """What the algorithm keeps of a finished evaluation."""
    accuracy, params = objectives(record)
    ok = record.get("status") == "ok"
    if cfg.selection == "noise":
        return noise_value(seed, genome_hash) if ok else 0.0, params
    if cfg.selection == "ensemble":
        signals = record.get("signals") or {}
        return (*(accuracy if name == FITNESS_SIGNAL else signals.get(name) if ok else None
                  for name in cfg.ensemble), params)
    return accuracy, params


def selection_objectives(vectors: Sequence[Vector], cfg: SearchConfig) -> list[tuple[float, float]]:
    """(value to maximise, parameters to minimise) for each vector, judged among these vectors only."""
    if cfg.selection != "ensemble":
        return [(float(vector[0]), float(vector[-1])) for vector in vectors]
    scores = aggregate_ranks([vector[:-1] for vector in vectors])
    return [(score, float(vector[-1])) for score, vector in zip(scores, vectors)]


def aggregate_ranks(rows: Sequence[Sequence[float | None]]) -> list[float]:
    """AZ-NAS's aggregation: for each signal (column), rank the rows from worst (1) to best (n), tied values sharing
    their mean rank and a missing value below every other; a row's score is the sum over signals of log(rank / n).
    The best row on every signal scores 0; a row that is worst on one signal is pulled far down."""
    n = len(rows)
    scores = [0.0] * n
    for column in range(len(rows[0]) if rows else 0):
        values = [-math.inf if row[column] is None else float(row[column]) for row in rows]
        order = sorted(range(n), key=values.__getitem__)
        start = 0
        while start < n:
            end = start
            while end + 1 < n and values[order[end + 1]] == values[order[start]]:
                end += 1
            rank = (start + end) / 2 + 1  # the mean of ranks start+1 .. end+1
            for position in range(start, end + 1):
                scores[order[position]] += math.log(rank / n)
            start = end + 1
    return scores
