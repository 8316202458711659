"""The size-band pickers on a hand-made set of records: the best by fitness and the largest in each cumulative band,
ties, empty bands, failed evaluations, and an ensemble search's fitness aggregated over its whole run."""

from __future__ import annotations

import math

import pytest

from evohybrid.studies.size_bands import best_in_bands, fitness_values, largest_in_bands


def rec(id_: int, params: int, val_acc: float | None, status: str = "ok", **signals: float) -> dict:
    return {"id": id_, "params": params, "val_acc": val_acc, "status": status, "signals": signals}


RECORDS = [rec(0, 8_000, 0.70), rec(1, 9_500, 0.80), rec(2, 25_000, 0.78), rec(3, 28_000, 0.80),
           rec(4, 90_000, 0.85), rec(5, 95_000, None, status="failed"), rec(6, 5_000, 0.80)]
LIMITS = (10_000, 30_000, 100_000, 300_000)


def test_the_best_by_fitness_in_each_band_the_smaller_winning_a_tie():
    values = fitness_values(RECORDS, {"selection": "fitness"})
    picks = best_in_bands(RECORDS, values, (4_000, *LIMITS))
    # <= 10k: ids 6 and 1 tie at 0.80, 6 is smaller; <= 30k: 6 still (3 ties, but is larger); then 4 at 0.85.
    assert {limit: pick and pick["id"] for limit, pick in picks.items()} == {
        4_000: None, 10_000: 6, 30_000: 6, 100_000: 4, 300_000: 4}


def test_the_largest_in_each_band_never_a_failed_evaluation():
    picks = largest_in_bands(RECORDS, (4_000, *LIMITS))
    assert {limit: pick and pick["id"] for limit, pick in picks.items()} == {
        4_000: None, 10_000: 1, 30_000: 3, 100_000: 4, 300_000: 4}


def test_a_noise_selection_search_is_judged_by_the_fitness_its_records_keep():
    assert fitness_values(RECORDS, {"selection": "noise"}) == fitness_values(RECORDS, {"selection": "fitness"})


def test_an_ensemble_search_is_judged_by_its_signals_ranks_over_the_whole_run():
    records = [rec(0, 1_000, 0.5, naswot=3.0), rec(1, 2_000, 0.6, naswot=1.0), rec(2, 3_000, 0.4, naswot=2.0)]
    values = fitness_values(records, {"selection": "ensemble", "ensemble": ["bn", "naswot"]})
    # bn ranks 2, 3, 1 and naswot 3, 1, 2 (of 3).
    expected = {0: math.log(2 / 3) + math.log(3 / 3), 1: math.log(3 / 3) + math.log(1 / 3),
                2: math.log(1 / 3) + math.log(2 / 3)}
    assert values == pytest.approx(expected)
    assert best_in_bands(records, values, (3_000,))[3_000]["id"] == 0
