"""What the algorithms select on: AZ-NAS's rank aggregation by hand, an ensemble's selections independent of the order
in which records arrive, the noise ablation reproducible from its seed and blind to the fitness, bad settings, and an
ensemble search killed with SIGKILL that resumes into the uninterrupted run."""

from __future__ import annotations

import json
import math
import random

import pytest

import evohybrid
from evohybrid.config import config_from_dict
from evohybrid.errors import ConfigError
from evohybrid.evolution.algorithms import make_algorithm
from evohybrid.evolution.algorithms.nsga2 import NSGA2
from evohybrid.evolution.algorithms.selection import aggregate_ranks, noise_value, selection_objectives

from test_algorithms import TINY, make
from test_cli import kill_and_resume

ENSEMBLE = {"selection": "ensemble", "ensemble": ["bn", "naswot", "depth"]}


def test_rank_aggregation_by_hand():
    # Signal 1 ranks the rows 1, 3, 2 (worst to best); signal 2 ties the first two (ranks 1.5 each), then 3.
    rows = [(0.1, 5.0), (0.9, 5.0), (0.5, 7.0)]
    expected = [math.log(1 / 3) + math.log(1.5 / 3), math.log(3 / 3) + math.log(1.5 / 3),
                math.log(2 / 3) + math.log(3 / 3)]
    assert aggregate_ranks(rows) == pytest.approx(expected)
    assert aggregate_ranks([]) == []  # no rows, no scores


def test_a_missing_value_ranks_below_every_other():
    assert aggregate_ranks([(None,), (-5.0,)]) == pytest.approx([math.log(1 / 2), 0.0])


def test_ensemble_objectives_are_judged_within_the_set_given():
    cfg = evohybrid.Config().override("search", **ENSEMBLE).search
    vectors = [(0.5, 1.0, 3.0, 100.0), (0.6, 2.0, 3.0, 200.0)]
    # The second is best on two signals and ties on depth: 0 + 0 + log(1.5 / 2); the first log(1/2) twice more.
    (first, first_params), (second, second_params) = selection_objectives(vectors, cfg)
    assert (first_params, second_params) == (100.0, 200.0)
    assert [first, second] == pytest.approx([2 * math.log(1 / 2) + math.log(1.5 / 2), math.log(1.5 / 2)])


def test_an_ensemble_keeps_the_fitness_and_each_signal_and_nothing_of_a_failed_evaluations_signals():
    algorithm = make(NSGA2, **ENSEMBLE)
    proposal = algorithm.ask()
    signals = {"naswot": 7.0, "depth": 4.0}
    ok_vector = algorithm.selection_vector(proposal, {"status": "ok", "val_acc": 0.5, "params": 100, "signals": signals})
    assert ok_vector == (*(0.5 if name == "bn" else signals[name] for name in ENSEMBLE["ensemble"]), 100)
    failed = {"status": "failed", "val_acc": None, "params": 100, "signals": signals}
    assert algorithm.selection_vector(proposal, failed) == (*(0.0 if name == "bn" else None
                                                               for name in ENSEMBLE["ensemble"]), 100)


def _record(genome, rng: random.Random) -> dict:
    return {"status": "ok", "val_acc": rng.random(), "params": rng.randint(100, 10_000),
            "signals": {"naswot": rng.random(), "depth": float(rng.randint(3, 9))}}


def _generations(algorithm, results: dict[str, dict], generations: int, order_seed: int | None) -> list[str]:
    """Run `generations` NSGA-II generations by hand, each told in a shuffled order (or by id); the proposals."""
    proposed = []
    for _ in range(generations):
        proposals = [algorithm.ask() for _ in range(algorithm.cfg.population)]
        if order_seed is not None:
            random.Random(order_seed).shuffle(proposals)
        for proposal in proposals:
            algorithm.tell(proposal.id, results.setdefault(proposal.genome.hash,
                                                           _record(proposal.genome, random.Random(proposal.genome.hash))))
        proposed += [proposal.genome.hash for proposal in sorted(proposals, key=lambda p: p.id)]
    return proposed


def test_an_ensemble_selects_the_same_whatever_order_the_records_arrive_in():
    results: dict[str, dict] = {}
    by_id = _generations(make(NSGA2, **ENSEMBLE), results, 4, None)
    for order_seed in (1, 2):
        assert _generations(make(NSGA2, **ENSEMBLE), results, 4, order_seed) == by_id


def test_an_ensemble_ranks_on_its_signals_not_on_the_fitness_alone():
    results: dict[str, dict] = {}
    ensemble = _generations(make(NSGA2, **ENSEMBLE), results, 4, None)
    assert _generations(make(NSGA2), results, 4, None) != ensemble


def test_noise_selection_is_reproducible_from_its_seed_and_blind_to_the_fitness():
    results: dict[str, dict] = {}
    first = _generations(make(NSGA2, selection="noise"), results, 4, None)
    assert _generations(make(NSGA2, selection="noise"), results, 4, None) == first
    flipped = {key: {**record, "val_acc": 1 - record["val_acc"]} for key, record in results.items()}
    assert _generations(make(NSGA2, selection="noise"), flipped, 4, None) == first
    assert _generations(make(NSGA2, selection="noise", seed=1), {}, 4, None) != first
    assert 0 <= noise_value(0, "abc") < 1 and noise_value(0, "abc") != noise_value(1, "abc")
    values = [noise_value(0, f"{index:016x}") for index in range(200)]
    assert all(0 <= value < 1 for value in values) and min(values) < 0.1 and max(values) > 0.9  # spread over [0, 1)


def test_under_noise_selection_each_genome_has_its_own_seeded_value_and_a_failed_one_zero():
    algorithm = make(NSGA2, selection="noise", seed=3)
    proposals = [algorithm.ask() for _ in range(4)]
    vectors = [algorithm.selection_vector(p, {"status": "ok", "val_acc": 0.5, "params": 100}) for p in proposals]
    assert vectors == [(noise_value(3, p.genome.hash), 100) for p in proposals]
    assert len(set(vectors)) == 4
    failed = algorithm.selection_vector(proposals[0], {"status": "failed", "val_acc": None, "params": 100})
    assert failed == (0.0, 100)


@pytest.mark.parametrize("algorithm", ["nsga2", "nsga2-steady", "aging", "random"])
def test_every_algorithm_runs_on_an_ensemble_and_keeps_its_state_as_json(algorithm):
    cfg = evohybrid.Config().override("search", algorithm=algorithm, population=4, sample_size=2, **ENSEMBLE).search
    instance = make_algorithm(TINY, cfg, 0)
    for _ in range(12):
        proposal = instance.ask()
        instance.tell(proposal.id, _record(proposal.genome, random.Random(proposal.id)))
    state = json.loads(json.dumps(instance.state_dict(), allow_nan=False))
    again = make_algorithm(TINY, cfg, 0)
    again.load_state_dict(state)
    again.seen.update(instance.seen)  # the genomes proposed so far come from the log on resume, not from the state
    assert again.ask().genome == instance.ask().genome


@pytest.mark.parametrize("raw, message", [
    ({"search": {"selection": "ensemble", "ensemble": ["bn"]}}, "at least two signals"),
    ({"search": {"selection": "ensemble", "ensemble": ["bn", "grasp"]}}, "unknown signal 'grasp'"),
    ({"search": {"ensemble": ["bn", "bn"]}}, "named twice"),
    ({"search": {"selection": "best"}}, "search.selection"),
    ({"fitness": {"signals": ["bn"]}}, "fitness.signals has unknown signal 'bn'"),
    ({"fitness": {"repeats": 0}}, "fitness.repeats"),
])
def test_bad_selection_settings_are_one_line_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_an_ensembles_zero_cost_signals_are_measured_in_every_record():
    config = config_from_dict({"search": ENSEMBLE, "fitness": {"signals": ["zico"]}})
    assert config.fitness.signals == ("naswot", "zico", "depth")  # the registry's order


def test_sigkill_in_an_ensemble_search_then_resume_gives_the_uninterrupted_run(smoke_config, smoke_split, tmp_path):
    before, after, reference = kill_and_resume(tmp_path, smoke_config.override("search", **ENSEMBLE), 8, 5,
                                               smoke_split)
    assert 5 <= len(before) < 8, "the kill must land mid-run"
    summary = lambda records: sorted((r["id"], r["hash"], r["val_acc"], tuple(sorted(r["signals"].items())))
                                     for r in records)
    assert summary(after) == summary(reference)
    assert all(set(r["signals"]) == {"naswot", "depth"} for r in reference)
