"""The search algorithms driven by hand through ask/tell, with objectives chosen so that the expected selection is
known: aging evolution's tournament and retirement, steady-state NSGA-II's replacement of the worst, NSGA-II's
generations, NSGA-II's selection against DEAP's own, the JSON state with proposals still pending, a replayed genome
adopted, and the error once every genome of a space has been proposed. No training, no Ray."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from typing import Any

import pytest
from deap import tools

import evohybrid
from evohybrid.errors import ConfigError
from evohybrid.evolution.algorithms import Algorithm, SpaceExhausted, make_algorithm
from evohybrid.evolution.algorithms.aging import AgingEvolution
from evohybrid.evolution.algorithms.deap_types import Individual
from evohybrid.evolution.algorithms.nsga2 import NSGA2, SteadyStateNSGA2
from evohybrid.evolution.algorithms.nsga2_selection import select_nsga2
from evohybrid.evolution.algorithms.proposal import objectives
from evohybrid.evolution.algorithms.random_search import RandomSearch
from evohybrid.spaces.space import parse_space

TINY = evohybrid.load_space("tiny")
# One stem width, one stage of depth 1 with two widths and either residual bit: exactly four genomes.
FOUR = parse_space({"name": "four", "stem": {"widths": [4]},
                    "stages": [{"depth": [1, 1], "widths": [4, 8], "kernels": [3], "residual": [True, False],
                                "stride": 1}]}, "four")


def make(cls: type[Algorithm], population: int = 4, sample_size: int = 4, space=TINY, seed: int = 0,
         **search: Any) -> Algorithm:
    cfg = evohybrid.Config().override("search", algorithm=cls.name, population=population,
                                      sample_size=sample_size, **search).search
    # By keyword: the classes must hand every argument on to Algorithm.
    return cls(space=space, cfg=cfg, seed=seed)


def ok(val_acc: float, params: int) -> dict:
    return {"status": "ok", "val_acc": val_acc, "params": params}


def ask_and_tell(algorithm: Algorithm, results: list[tuple[float, int]]) -> list:
    """One proposal per (accuracy, parameters), each told before the next is asked; the proposals in order."""
    proposals = []
    for val_acc, params in results:
        proposal = algorithm.ask()
        algorithm.tell(proposal.id, ok(val_acc, params))
        proposals.append(proposal)
    return proposals


def population(algorithm: Algorithm) -> list[tuple[dict, list[float]]]:
    """The population as its JSON state holds it: (genome, [accuracy, parameters]) in the order kept."""
    return [(item["genome"], item["objectives"]) for item in algorithm.state_dict()["population"]]


# -- aging evolution ------------------------------------------------------------------------------------------------

def test_aging_samples_at_random_until_the_first_population_is_in():
    aging = make(AgingEvolution, population=4)
    first = ask_and_tell(aging, [(0.5, 100), (0.6, 200), (0.7, 300), (0.8, 400)])
    # Results already told do not start the tournament early: the whole first population is random.
    assert [proposal.meta for proposal in first] == [{"origin": "random"}] * 4
    child = aging.ask()
    assert child.id == 4 and child.meta["origin"] == "mutation"


def test_aging_keeps_sampling_while_no_result_is_in():
    aging = make(AgingEvolution, population=4)
    # Five proposals out, none told: past the first population, but there is nothing to pick a parent from.
    assert [aging.ask().meta for _ in range(5)] == [{"origin": "random"}] * 5


def test_aging_parent_is_the_most_accurate_of_the_tournament():
    # The tournament samples the whole population (sample_size = population), so its winner is known.
    aging = make(AgingEvolution, population=4, sample_size=4)
    proposals = ask_and_tell(aging, [(0.6, 400), (0.9, 200), (0.7, 300), (0.8, 100)])
    child = aging.ask()
    # Accuracy decides, not size: the winner is the 0.9 network, though 0.8 is smaller and 0.6 larger.
    assert child.meta == {"origin": "mutation", "parent": proposals[1].genome.hash}
    assert child.genome.hash not in {proposal.genome.hash for proposal in proposals}


def test_aging_tournament_tie_goes_to_the_smaller_network():
    aging = make(AgingEvolution, population=4, sample_size=4)
    proposals = ask_and_tell(aging, [(0.9, 300), (0.9, 100), (0.5, 50), (0.5, 50)])
    assert aging.ask().meta["parent"] == proposals[1].genome.hash


def test_aging_retires_the_oldest_member_not_the_worst():
    aging = make(AgingEvolution, population=4)
    results = [(0.9, 100), (0.5, 200), (0.6, 300), (0.7, 400), (0.4, 500), (0.3, 600)]
    proposals = ask_and_tell(aging, results[:4])
    assert [values for _, values in population(aging)] == [[0.9, 100], [0.5, 200], [0.6, 300], [0.7, 400]]
    proposals += ask_and_tell(aging, results[4:])
    # Two more results push out the two oldest, the best network (0.9) among them.
    assert population(aging) == [(proposal.genome.to_dict(), [acc, params])
                                 for proposal, (acc, params) in zip(proposals[2:], results[2:])]


# -- steady-state NSGA-II -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [4, 6])
def test_steady_state_samples_at_random_until_the_first_population_is_in(size):
    steady = make(SteadyStateNSGA2, population=size)
    first = ask_and_tell(steady, [(0.5 + 0.05 * index, 100 * (index + 1)) for index in range(size)])
    # Even once four results (a tournament's worth) are in, the first population stays random.
    assert [proposal.meta for proposal in first] == [{"origin": "random"}] * size
    assert steady.ask().meta == {"origin": "offspring"}  # four results or more: breeding starts


def test_steady_state_keeps_sampling_with_fewer_than_four_results():
    steady = make(SteadyStateNSGA2, population=4)
    ask_and_tell(steady, [(0.5, 100), (0.6, 200), (0.7, 300)])
    proposals = [steady.ask() for _ in range(2)]  # ids 3 and 4: the second is past the first population
    assert [proposal.meta for proposal in proposals] == [{"origin": "random"}] * 2


# A chain where each network dominates the next: NSGA-II's fronts are [A], [B], [C], [D].
CHAIN = [(0.9, 100), (0.8, 200), (0.7, 300), (0.6, 400)]


def test_steady_state_replaces_the_worst_member():
    steady = make(SteadyStateNSGA2, population=4)
    ask_and_tell(steady, CHAIN)
    # E (0.85, 150) is dominated by A only and dominates B, C, D: fronts [A], [E], [B], [C], [D]; D goes.
    ask_and_tell(steady, [(0.85, 150)])
    assert [values for _, values in population(steady)] == [[0.9, 100], [0.8, 200], [0.7, 300], [0.85, 150]]


def test_steady_state_drops_a_child_worse_than_everyone():
    steady = make(SteadyStateNSGA2, population=4)
    proposals = ask_and_tell(steady, CHAIN)
    ask_and_tell(steady, [(0.5, 500)])  # dominated by all four: the last front, alone
    assert population(steady) == [(proposal.genome.to_dict(), [acc, params])
                                  for proposal, (acc, params) in zip(proposals, CHAIN)]


# -- NSGA-II ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [4, 6])  # 6: the crowded tournament still takes a multiple of four
def test_nsga2_tags_each_proposal_with_its_generation(size):
    nsga2 = make(NSGA2, population=size)
    proposals = ask_and_tell(nsga2, [(0.5 + 0.01 * index, 100 + index) for index in range(3 * size)])
    # A generation is `population` proposals; the next is bred once all of them are told.
    assert [proposal.meta for proposal in proposals] == [{"generation": g} for g in range(3) for _ in range(size)]


# -- the registry ---------------------------------------------------------------------------------------------------

def test_an_unknown_algorithm_is_a_config_error_that_names_the_choices():
    # The config file check catches a bad name first; a SearchConfig built in code reaches make_algorithm.
    cfg = dataclasses.replace(evohybrid.Config().search, algorithm="hillclimb")
    with pytest.raises(ConfigError, match=r"unknown algorithm 'hillclimb': use one of "
                                          r"\['aging', 'nsga2', 'nsga2-steady', 'random'\]"):
        make_algorithm(TINY, cfg, seed=0)


# -- state and exhaustion -------------------------------------------------------------------------------------------

def test_state_with_pending_proposals_round_trips_through_json():
    aging = make(AgingEvolution, population=4)
    proposals = [aging.ask() for _ in range(3)]
    aging.tell(1, ok(0.7, 300))
    state = json.loads(json.dumps(aging.state_dict()))  # as state.json stores it
    # The two proposals still out are saved whole: birth index, genome and the algorithm's notes.
    assert state["pending"] == [{"id": p.id, "genome": p.genome.to_dict(), "meta": {"origin": "random"}}
                                for p in (proposals[0], proposals[2])]
    restored = make(AgingEvolution, population=4, seed=99)
    restored.load_state_dict(state)
    restored.seen.add(proposals[1].genome.hash)  # as the search does on resume: the logged genomes are seen
    assert restored.state_dict() == state
    for algorithm in (aging, restored):  # the resumed search hears of the pending proposals ...
        algorithm.tell(0, ok(0.6, 200))
        algorithm.tell(2, ok(0.8, 400))
    assert restored.state_dict() == json.loads(json.dumps(aging.state_dict()))
    assert restored.ask() == aging.ask()  # ... and goes on exactly as the uninterrupted one


def test_every_genome_of_a_space_is_proposed_once_then_the_space_is_exhausted():
    assert FOUR.size == 4
    search = make(RandomSearch, space=FOUR)
    hashes = [search.ask().genome.hash for _ in range(4)]
    assert len(set(hashes)) == 4  # a genome sampled again after it was proposed is not proposed again
    with pytest.raises(SpaceExhausted, match=r"in space 'four' after 4 evaluations: the space is \(nearly\) exhausted"):
        search.ask()


def test_an_adopted_genome_is_seen_and_keeps_the_proposals_notes():
    aging = make(AgingEvolution, space=FOUR)
    proposal = aging.ask()
    other = next(genome for genome in _every_genome(FOUR) if genome.hash != proposal.genome.hash)
    aging.adopt(proposal.id, other)  # as a replay does: the log says `other` ran under this birth index
    assert aging.state_dict()["pending"] == [{"id": 0, "genome": other.to_dict(), "meta": {"origin": "random"}}]
    # Both genomes count as proposed: the space has two left, not three.
    later = [aging.ask().genome.hash for _ in range(2)]
    assert other.hash not in later
    with pytest.raises(SpaceExhausted):
        aging.ask()


def _every_genome(space) -> list:
    """The genomes of a small space, in the order a random search proposes them."""
    search = make(RandomSearch, space=space, seed=1)
    return [search.ask().genome for _ in range(space.size)]


@pytest.mark.parametrize("record, expected", [
    ({"status": "ok", "val_acc": 0.8, "params": 100}, (0.8, 100.0)),
    ({"status": "failed", "val_acc": 0.8, "params": 100}, (0.0, 100.0)),  # a failed run's accuracy counts for nothing
    ({"status": "ok", "val_acc": None, "params": None}, (0.0, math.inf)),
    ({"status": "failed", "error": "out of memory"}, (0.0, math.inf)),  # no size known: the largest there is
])
def test_the_objectives_rank_a_failed_evaluation_below_every_finished_one(record, expected):
    assert objectives(record) == expected



@pytest.mark.parametrize("levels", [3, 10, 1000])
def test_nsga2_selection_picks_what_deaps_picks_ties_and_nans_included(levels):
    # The fast sort must keep DEAP's fronts and their order, or recorded runs would select differently.
    rng = random.Random(levels)
    for trial in range(300):
        values = [(rng.randint(0, levels) / levels if trial % 5 or rng.random() > 0.2 else math.nan,
                   float(rng.randint(1, levels))) for _ in range(rng.randint(1, 30))]
        k = rng.randint(1, len(values) + 2)
        ours, deaps = ([Individual(None, value) for value in values] for _ in range(2))
        assert ([ours.index(ind) for ind in select_nsga2(ours, k)]
                == [deaps.index(ind) for ind in tools.selNSGA2(deaps, k)])
        assert ([repr(ind.fitness.__dict__.get("crowding_dist")) for ind in ours]
                == [repr(ind.fitness.__dict__.get("crowding_dist")) for ind in deaps])
