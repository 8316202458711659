"""Multi-fidelity rungs: selection values and promotion by hand, config errors, the batches an algorithm hears of
through ask/tell and their JSON state, a search whose best are judged again by a costlier fitness, and a kill -9 in
the middle of it that resumes into the run an uninterrupted search makes."""

from __future__ import annotations

import json
import random
import shutil

import pytest

import evohybrid
from evohybrid.evolution.executors import LocalExecutor
from evohybrid.errors import ConfigError
from evohybrid.evolution.algorithms import Proposal
from evohybrid.evolution.algorithms.aging import AgingEvolution
from evohybrid.evolution.algorithms.random_search import RandomSearch
from evohybrid.evolution.algorithms.rungs import promote, selection_values, selection_view
from evohybrid.evolution.store import read_records
from evohybrid.evolution.pareto import ok_records, pareto_front

from test_algorithms import TINY, make, ok
from test_cli import kill_and_resume
from test_search import keep_only

BUDGET = 8  # two batches of the smoke population (4)


def _rung_config(smoke_config: evohybrid.Config) -> evohybrid.Config:
    return smoke_config.override("search", rungs=[{"steps": 20}], rung_fraction=0.5)


def test_promoted_genomes_trade_their_values_in_the_order_of_the_costlier_rung():
    members = {0: {"params": 1, "values": [0.3]}, 1: {"params": 1, "values": [0.5, 0.6]},
               2: {"params": 1, "values": [0.4, 0.8]}, 3: {"params": 1, "values": [0.2]}}
    # 1 and 2 went up; rung 1 says 2 is better, so 2 takes the higher of the values they held (0.5), 1 the lower.
    assert selection_values(members) == {0: 0.3, 1: 0.4, 2: 0.5, 3: 0.2}
    members[1]["values"].append(0.9)  # rung 2 for one genome alone reorders nothing
    assert selection_values(members) == {0: 0.3, 1: 0.4, 2: 0.5, 3: 0.2}


def test_each_costlier_rung_reorders_the_genomes_it_measured():
    members = {0: {"params": 1, "values": [0.3, 0.5]}, 1: {"params": 1, "values": [0.5, 0.6, 0.9]},
               2: {"params": 1, "values": [0.4, 0.8, 0.7]}, 3: {"params": 1, "values": [0.2]}}
    # Rung 1 orders 0 < 1 < 2 (values 0.3, 0.4, 0.5); rung 2 then says 1 beats 2, so they swap 0.4 and 0.5.
    assert selection_values(members) == {0: 0.3, 1: 0.5, 2: 0.4, 3: 0.2}


def test_a_tie_at_the_costlier_rung_goes_to_the_earlier_proposal():
    members = {0: {"params": 1, "values": [0.4, 0.7]}, 1: {"params": 1, "values": [0.5, 0.7]}}
    assert selection_values(members) == {0: 0.5, 1: 0.4}


def batch(*values: list[float]) -> dict[int, dict]:
    """A batch as the rungs keep it: member i has the accuracies values[i] (rung 0 first) and 100 parameters."""
    return {key: {"genome": TINY.sample(random.Random(key)).to_dict(), "params": 100, "values": list(accuracies)}
            for key, accuracies in enumerate(values)}


@pytest.mark.parametrize("fraction, promoted", [(1.0, [0, 1, 2, 3]), (0.5, [1, 2]), (0.25, [1]), (0.1, [1])])
def test_the_best_fraction_of_a_batch_is_promoted_and_always_at_least_one(fraction, promoted):
    # All the same size, so accuracy alone ranks them: 1, 2, 3, 0.
    assert promote(batch([0.1], [0.4], [0.3], [0.2]), fraction, 0, seed=0) == promoted


def test_only_the_genomes_measured_at_a_rung_compete_for_the_next():
    members = batch([0.3], [0.5, 0.6], [0.4, 0.8], [0.2])
    # Half of the two measured at rung 1 goes on: 2, the better at rung 1; 0 and 3 never reached rung 1.
    assert promote(members, 0.5, 1, seed=0) == [2]


def logged(record_id: int, accuracy: float | None, rung: int = 0, base_id: int | None = None) -> dict:
    """A record of a multi-fidelity log (batch 0): rung 0 is a new genome, a higher rung an upgrade of base_id."""
    record = {"id": record_id, "rung": rung, "batch": 0, "params": 100 + record_id,
              "status": "ok" if accuracy is not None else "failed", "val_acc": accuracy}
    return {**record, "base_id": base_id} if rung else record


def test_the_view_of_a_multi_fidelity_log_holds_each_genome_once_with_its_selection_value():
    records = [logged(0, 0.5), logged(1, 0.7), logged(2, None), logged(3, 0.6),
               logged(4, 0.8, rung=1, base_id=1), logged(5, 0.9, rung=1, base_id=3)]
    # Rung 1 ranks 3 above 1, so 3 takes the higher value the two held (0.7) and 1 the lower (0.6).
    expected = [{**records[0], "rung_val_accs": [0.5]}, {**records[1], "val_acc": 0.6, "rung_val_accs": [0.7, 0.8]},
                records[2], {**records[3], "val_acc": 0.7, "rung_val_accs": [0.6, 0.9]}]
    assert selection_view(records) == expected
    shuffled = [records[i] for i in (5, 2, 4, 0, 3, 1)]  # as a log of several workers may hold them
    assert sorted(selection_view(shuffled), key=lambda record: record["id"]) == expected


def test_the_view_of_a_log_without_upgrades_is_the_log():
    before_any_upgrade = [logged(0, 0.5), logged(1, None)]
    assert selection_view(before_any_upgrade) == before_any_upgrade
    without_rungs = [{key: value for key, value in record.items() if key not in ("rung", "batch")}
                     for record in before_any_upgrade]
    assert selection_view(without_rungs) == without_rungs


@pytest.mark.parametrize("search, message", [
    ({"rungs": [{"steps": 5}]}, "costs no more than the rung before it"),
    ({"rungs": [{"steps": 20}, {"lr": 0.01}]}, r"rungs\[1\] costs no more"),
    ({"rungs": [{"val_size": 10}]}, "cannot set 'val_size'"),
    ({"rungs": [{"steps": -3}]}, r"rungs\[0\]: fitness.steps must be positive"),
    ({"rungs": [5]}, "must map fitness settings"),
    ({"rung_fraction": 0.0}, "rung_fraction"),
])
def test_bad_rungs_are_one_line_config_errors(smoke_config, search, message):
    with pytest.raises(ConfigError, match=message):
        smoke_config.override("search", **search)


class Listener(RandomSearch):
    """Random search that keeps what the rungs hand on to it: each finished proposal with its record."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.heard: list[tuple[Proposal, dict]] = []

    def _observe(self, proposal: Proposal, record: dict) -> None:
        self.heard.append((proposal, record))


def tell_all(algorithm, proposals: list[Proposal], accuracies: list[float]) -> None:
    for proposal, accuracy in zip(proposals, accuracies):
        algorithm.tell(proposal.id, ok(accuracy, 100))


def test_the_algorithm_hears_of_a_batch_once_its_best_are_judged_at_every_rung():
    listener = make(Listener, population=4, rungs=[{"steps": 80}, {"steps": 160}], rung_fraction=0.5)
    new = [listener.ask() for _ in range(4)]
    assert [proposal.meta for proposal in new] == [{"rung": 0, "batch": 0}] * 4
    tell_all(listener, new, [0.5, 0.8, 0.7, 0.6])
    first = [listener.ask() for _ in range(2)]  # the best half goes up to rung 1
    assert [(p.genome, p.meta) for p in first] == [(new[key].genome, {"rung": 1, "base_id": key, "batch": 0})
                                                   for key in (1, 2)]
    tell_all(listener, first, [0.6, 0.9])  # rung 1 prefers 2: it takes 1's value 0.8, 1 takes its 0.7
    second = listener.ask()  # the best half of those two goes up to rung 2
    assert (second.genome, second.meta) == (new[2].genome, {"rung": 2, "base_id": 2, "batch": 0})
    assert listener.heard == []  # nothing is heard while the batch owes an upgrade
    tell_all(listener, [second], [0.5])
    # The batch's new proposals, with their notes, each with its selection value.
    assert listener.heard == [(proposal, ok(value, 100)) for proposal, value in zip(new, [0.5, 0.7, 0.8, 0.6])]
    assert not listener.owes_upgrades()
    assert [listener.ask().meta for _ in range(4)] == [{"rung": 0, "batch": 1}] * 4


def test_the_algorithm_hears_each_members_rung_0_signals_beside_its_selection_value():
    # An ensemble ranks the zero-cost signals of a genome's first evaluation beside its selection value.
    listener = make(Listener, population=4, rungs=[{"steps": 80}], rung_fraction=0.5)
    new = [listener.ask() for _ in range(4)]
    for index, proposal in enumerate(new):
        listener.tell(proposal.id, {**ok(0.5 + index / 10, 100), "signals": {"naswot": float(index)}})
    tell_all(listener, [listener.ask(), listener.ask()], [0.9, 0.6])  # the upgrades carry no signals
    assert [record["signals"] for _, record in listener.heard] == [{"naswot": float(index)} for index in range(4)]


def test_a_state_saved_mid_batch_resumes_into_the_uninterrupted_run():
    def make_aging(seed: int):
        return make(AgingEvolution, population=4, seed=seed, rungs=[{"steps": 80}], rung_fraction=0.5)

    aging = make_aging(seed=0)
    new = [aging.ask() for _ in range(4)]
    tell_all(aging, new[:3], [0.5, 0.8, 0.7])
    state = json.loads(json.dumps(aging.state_dict()))  # as state.json stores it: every key a string
    restored = make_aging(seed=99)
    restored.load_state_dict(state)
    restored.seen.update(proposal.genome.hash for proposal in new[:3])  # as the search does: the logged genomes
    assert restored.state_dict() == state
    for algorithm in (aging, restored):  # the last of the batch, then its upgrades
        tell_all(algorithm, new[3:], [0.6])
        tell_all(algorithm, [algorithm.ask(), algorithm.ask()], [0.6, 0.9])
    assert restored.state_dict() == json.loads(json.dumps(aging.state_dict()))
    assert [restored.ask() for _ in range(5)] == [aging.ask() for _ in range(5)]


def test_the_best_of_each_batch_are_judged_again_and_the_front_has_one_point_per_genome(smoke_config, smoke_split,
                                                                                    tmp_path):
    config = _rung_config(smoke_config)
    result = evohybrid.search(config, out=tmp_path / "run", budget=BUDGET, progress=False,
                              executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split))
    records = read_records(tmp_path / "run" / "evaluations.jsonl")
    new = [r for r in records if r["rung"] == 0]
    upgrades = [r for r in records if r["rung"] == 1]
    assert len(new) == BUDGET and len({r["hash"] for r in new}) == BUDGET  # the budget counts new genomes
    assert len(upgrades) == 2 * 2  # half of each batch of four
    by_id = {r["id"]: r for r in records}
    for upgrade in upgrades:
        base = by_id[upgrade["base_id"]]
        assert upgrade["hash"] == base["hash"] and upgrade["batch"] == base["batch"]
        assert upgrade["train_samples"] == 20 * config.fitness.batch_size  # the costlier rung's steps
    view = ok_records(records)
    assert sorted(r["id"] for r in view) == sorted(r["id"] for r in new if r["status"] == "ok")
    promoted = {u["base_id"] for u in upgrades}
    assert all(len(r["rung_val_accs"]) == (2 if r["id"] in promoted else 1) for r in view)
    assert {r["id"] for r in result.front} == {r["id"] for r in pareto_front(records)} <= {r["id"] for r in view}


def _summary(records) -> list[tuple]:
    return [(r["id"], r["hash"], r["rung"], r["val_acc"]) for r in sorted(records, key=lambda r: r["id"])]


def test_a_multi_fidelity_log_with_gaps_resumes_into_the_uninterrupted_run(smoke_config, smoke_split, tmp_path):
    # Workers finish out of order: a run stopped with several in flight can log id 3 and miss ids 1 and 2. The two
    # missing genomes go back in flight together, ahead of anything new.
    config = _rung_config(smoke_config)
    local = lambda cfg: LocalExecutor(cfg, smoke_split)
    reference = evohybrid.search(config, out=tmp_path / "reference", budget=BUDGET, progress=False,
                                 executor_factory=local)
    out = shutil.copytree(tmp_path / "reference", tmp_path / "run")
    keep_only(out, (0, 3))
    resumed = evohybrid.search(resume=out, progress=False, executor_factory=local)
    assert _summary(resumed.records) == _summary(reference.records)


def test_sigkill_in_a_multi_fidelity_search_then_resume_gives_the_uninterrupted_run(smoke_config, smoke_split,
                                                                                    tmp_path):
    before, after, reference = kill_and_resume(tmp_path, _rung_config(smoke_config), BUDGET, 6, smoke_split)
    assert 6 <= len(before) < BUDGET + 4, "the kill must land past the first batch's upgrades, mid-run"
    assert _summary(after) == _summary(reference)
