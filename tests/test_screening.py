"""Zero-cost screening: the workers score candidates at the weights their evaluation would start from, only the best by
NSGA-II's sort on (score, size) are evaluated, the records keep the score, bad settings are one-line errors, and a
screened search killed with SIGKILL resumes into the uninterrupted run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from evohybrid.config import config_from_dict
from evohybrid.evolution.executors import LocalExecutor
from evohybrid.errors import ConfigError
from evohybrid.evolution.algorithms.aging import AgingEvolution
from evohybrid.evolution.algorithms.nsga2 import NSGA2
from evohybrid.evolution.algorithms.random_search import RandomSearch
from evohybrid.fitness.signals import zero_cost_signal
from evohybrid.spaces.builder import build_model, count_parameters, genome_seed
from evohybrid.spaces.space import parse_space

from test_algorithms import TINY, make
from test_cli import cli, kill_and_resume

SCREEN = {"screen_signal": "naswot", "screen_factor": 3}


@pytest.fixture(scope="module")
def executor(smoke_config, smoke_split):
    return LocalExecutor(smoke_config, smoke_split)


def test_a_screening_score_is_the_signal_at_the_weights_the_evaluation_starts_from(smoke_config, smoke_split,
                                                                                 executor):
    genomes = [TINY.sample(random.Random(seed)) for seed in range(3)]
    for genome, (score, params) in zip(genomes, executor.screen(genomes, "naswot")):
        model = build_model(genome, seed=genome_seed(smoke_config.seed, genome))
        assert score == zero_cost_signal("naswot", model, smoke_split) and params == count_parameters(model)


def test_the_screen_keeps_a_non_dominated_candidate_and_everyone_when_asked_for_all(executor):
    algorithm = make(RandomSearch)
    algorithm.screener = lambda genomes: executor.screen(genomes, "naswot")
    candidates = [TINY.sample(random.Random(seed)) for seed in range(8)]
    results = dict(zip(candidates, executor.screen(candidates, "naswot")))
    (index, score), = algorithm.screened(candidates, 1)
    kept = candidates[index]
    assert score == results[kept][0]
    assert not any(other[0] > score and other[1] < results[kept][1] for other in results.values())
    # Asked for all, every distinct candidate comes back, in order (a repeat is left out).
    distinct = list(dict.fromkeys(candidates))
    assert [candidates[index] for index, _ in algorithm.screened(candidates, len(distinct))] == distinct


def _screener(scores: dict):
    """A screen that gives each genome the (score, parameters) it is told: None for a score that failed."""
    return lambda genomes: [scores[genome] for genome in genomes]


def test_a_failed_screening_score_ranks_below_every_other():
    algorithm = make(RandomSearch)
    candidates = list(dict.fromkeys(TINY.sample(random.Random(seed)) for seed in range(20)))[:4]
    # The failed one would be on the first front at any score of 2 or more (it is smaller than candidate 1).
    algorithm.screener = _screener(dict(zip(candidates, [(1.0, 10), (2.0, 20), (3.0, 30), (None, 15)])))
    assert [index for index, _ in algorithm.screened(candidates, 3)] == [0, 1, 2]
    # When every score fails, the screen keeps the smallest.
    algorithm.screener = _screener(dict(zip(candidates, [(None, 30), (None, 10), (None, 20), (None, 40)])))
    assert algorithm.screened(candidates, 2) == [(1, None), (2, None)]
    # A failed score lies one below the lowest: on a front of four, the crowding then keeps the third over the second.
    algorithm.screener = _screener(dict(zip(candidates, [(None, 5), (1.0, 10), (2.0, 20), (3.0, 30)])))
    assert [index for index, _ in algorithm.screened(candidates, 3)] == [0, 2, 3]


def test_the_screen_passes_over_proposed_genomes_while_enough_fresh_ones_remain():
    algorithm = make(RandomSearch)
    proposed = algorithm.ask().genome
    fresh = list(dict.fromkeys(genome for genome in (TINY.sample(random.Random(seed)) for seed in range(20))
                               if genome != proposed))
    candidates = [proposed, *fresh[:3]]
    # The proposed genome would win on both objectives.
    algorithm.screener = _screener({proposed: (9.0, 1), **{genome: (1.0, 10 + i) for i, genome in enumerate(fresh)}})
    assert [index for index, _ in algorithm.screened(candidates, 3)] == [1, 2, 3]
    # Too few fresh ones for the count: every candidate competes.
    assert [index for index, _ in algorithm.screened(candidates[:3], 3)] == [0, 1, 2]


def test_a_screened_generation_resumes_from_its_state_with_its_scores(executor):
    def screened_nsga2():
        algorithm = make(NSGA2, **SCREEN)
        algorithm.screener = lambda genomes: executor.screen(genomes, "naswot")
        return algorithm

    algorithm = screened_nsga2()
    first = [algorithm.ask() for _ in range(4)]
    for index, proposal in enumerate(first):
        algorithm.tell(proposal.id, {"status": "ok", "val_acc": 0.1 * index, "params": 1000 + index})
    algorithm.ask()  # one offspring of the second generation out, three queued with their scores
    restored = screened_nsga2()
    restored.load_state_dict(json.loads(json.dumps(algorithm.state_dict())))
    remaining = [algorithm.ask() for _ in range(3)]
    assert [(p.genome, p.meta) for p in (restored.ask() for _ in range(3))] == [(p.genome, p.meta) for p in remaining]
    assert all("screen" in proposal.meta for proposal in remaining)


def test_aging_evolution_screens_each_proposal_among_its_candidates_and_it_carries_the_score(executor):
    algorithm = make(AgingEvolution, **SCREEN)
    screened_at_once = []
    algorithm.screener = lambda genomes: screened_at_once.append(len(genomes)) or executor.screen(genomes, "naswot")
    proposals = []
    for index in range(8):
        proposals.append(algorithm.ask())
        algorithm.tell(proposals[-1].id, {"status": "ok", "val_acc": 0.1 * index, "params": 1000 + index})
    # screen_factor candidates a proposal, fewer only when some were proposed before
    assert len(screened_at_once) == 8 and max(screened_at_once) == SCREEN["screen_factor"]
    screened = [proposal for proposal in proposals if "screen" in proposal.meta]
    assert screened  # a chosen candidate that was already proposed is mutated, and loses the score
    scores = executor.screen([proposal.genome for proposal in screened], "naswot")
    assert [proposal.meta["screen"] for proposal in screened] == [score for score, _ in scores]


def test_a_chosen_candidate_proposed_before_is_mutated_and_its_proposal_loses_the_score():
    # Six genomes: once most are proposed, every candidate of a proposal may have been, and the chosen one is mutated.
    six = parse_space({"name": "six", "stem": {"widths": [4]}, "stages": [
        {"depth": [1, 1], "widths": [4, 8, 16], "kernels": [3], "residual": [True, False], "stride": 1}]}, "six")
    members = sorted({six.sample(random.Random(seed)) for seed in range(100)}, key=lambda genome: genome.hash)
    assert len(members) == 6
    scores = {genome: (float(index), 100 + index) for index, genome in enumerate(members)}
    algorithm = make(AgingEvolution, space=six, **SCREEN)
    algorithm.screener = _screener(scores)
    proposals = []
    for index in range(6):
        proposals.append(algorithm.ask())
        algorithm.tell(proposals[-1].id, {"status": "ok", "val_acc": 0.1 * index, "params": 100 + index})
    assert {proposal.genome for proposal in proposals} == set(members)
    assert any("screen" not in proposal.meta for proposal in proposals)
    assert all(proposal.meta["screen"] == scores[proposal.genome][0] for proposal in proposals
               if "screen" in proposal.meta)


def test_nsga2_screens_each_generations_offspring_and_its_proposals_carry_the_score(executor):
    algorithm = make(NSGA2, **SCREEN)
    algorithm.screener = lambda genomes: executor.screen(genomes, "naswot")
    first = [algorithm.ask() for _ in range(4)]
    assert all("screen" not in proposal.meta for proposal in first)  # the first generation is sampled as before
    for index, proposal in enumerate(first):
        algorithm.tell(proposal.id, {"status": "ok", "val_acc": 0.1 * index, "params": 1000 + index})
    second = [algorithm.ask() for _ in range(4)]
    scores = executor.screen([proposal.genome for proposal in second], "naswot")
    assert [proposal.meta["screen"] for proposal in second] == [score for score, _ in scores]
    state = json.loads(json.dumps(algorithm.state_dict()))
    assert state["queue"] == [] and state["queue_screen"] == []
    # Without a screener (the algorithm used on its own) a screening config breeds one population of offspring.
    unscreened = make(NSGA2, **SCREEN)
    for index, proposal in enumerate([unscreened.ask() for _ in range(4)]):
        unscreened.tell(proposal.id, {"status": "ok", "val_acc": 0.1 * index, "params": 1000 + index})
    assert all("screen" not in unscreened.ask().meta for _ in range(4))


@pytest.mark.parametrize("search, message", [
    ({"screen_signal": "naswot", "screen_factor": 0}, "search.screen_factor must be positive"),
    ({"screen_signal": "naswot"}, "screens nothing out"),
    ({"screen_signal": "bn", "screen_factor": 4}, "'bn' needs training"),
    ({"screen_signal": "grasp", "screen_factor": 4}, "'grasp' is not a signal"),
    ({"screen_factor": 4}, "needs search.screen_signal"),
])
def test_bad_screening_settings_are_one_line_errors(search, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"search": search})


def test_no_screen_turns_off_a_configs_screening(tmp_path):
    smoke = (Path(__file__).parents[1] / "configs" / "smoke.yaml").read_text()
    (tmp_path / "screened.yaml").write_text(smoke + "  screen_signal: naswot\n  screen_factor: 4\n")
    result = cli("search", "--config", "screened.yaml", "--no-screen", "--budget", "6", "--executor", "local",
                 "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["search"]["screen_signal"] is None and config["search"]["screen_factor"] == 1
    records = [json.loads(line) for line in (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert len(records) == 6 and not any("screen" in record for record in records)


def test_sigkill_in_a_screened_search_then_resume_gives_the_uninterrupted_run(smoke_config, smoke_split, tmp_path):
    before, after, reference = kill_and_resume(tmp_path, smoke_config.override("search", **SCREEN), 10, 6,
                                               smoke_split)
    assert 6 <= len(before) < 10, "the kill must land past the first generation, mid-run"
    summary = lambda records: sorted((r["id"], r["hash"], r["val_acc"], r.get("screen")) for r in records)
    assert summary(after) == summary(reference)
    assert all(("screen" in r) == (r["generation"] > 0) for r in reference)
