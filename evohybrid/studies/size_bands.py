"""What a user takes from a search at a given size: in each size band (parameters at most a limit), the network the
search's own fitness rates best, or, as the baseline that needs no fitness at all, the largest network.

A band is cumulative (at most 10k, at most 30k, ...): a user with a budget of 30k parameters may take a 5k network.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..evolution.algorithms.selection import aggregate_ranks
from ..evolution.pareto import ok_records


def fitness_values(records: list[dict[str, Any]], search: dict[str, Any]) -> dict[int, float]:
    """Each finished genome's fitness as its search judged it ({id: value}): val_acc (with rungs, its selection
    value); for an ensemble search, its signals' ranks aggregated over the whole run. A noise-selection search is
    judged by val_acc, which its records keep: noise only steered its evolution."""
    view = ok_records(records)
    if search.get("selection") != "ensemble":
        return {record["id"]: record["val_acc"] for record in view}
    names = search["ensemble"]
    rows = [tuple(record["val_acc"] if name == "bn" else (record.get("signals") or {}).get(name) for name in names)
            for record in view]
    return {record["id"]: score for record, score in zip(view, aggregate_ranks(rows))}


def best_in_bands(records: list[dict[str, Any]], values: dict[int, float],
                  limits: Sequence[int]) -> dict[int, dict[str, Any] | None]:
    """{limit: the record of highest value among those with at most `limit` parameters}, the smaller network and
    then the earlier one winning a tie; None for a band the search never reached."""
    return {limit: min((record for record in records if record["id"] in values and record["params"] <= limit),
                       key=lambda record: (-values[record["id"]], record["params"], record["id"]), default=None)
            for limit in limits}


def largest_in_bands(records: list[dict[str, Any]], limits: Sequence[int]) -> dict[int, dict[str, Any] | None]:
    """{limit: the finished record with the most parameters at or below `limit`}, the earlier one winning a tie."""
    finished = ok_records(records)
    return {limit: min((record for record in finished if record["params"] <= limit),
                       key=lambda record: (-record["params"], record["id"]), default=None)
            for limit in limits}
