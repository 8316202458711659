"""The search loop on the smoke config: the run directory it writes, and resuming that gives the same run."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import evohybrid
from evohybrid.evolution.executors import LocalExecutor
from evohybrid.errors import ConfigError, EvohybridError, ExecutorLost, RunDirError
from evohybrid.evolution.store import read_records
from evohybrid.evolution.pareto import pareto_front
from evohybrid.spaces.genome import Genome
from evohybrid.spaces.space import SPACES_DIR

from conftest import ALGORITHM_NAMES

BUDGET = 12
RECORD_FIELDS = {"id", "hash", "genome", "status", "val_acc", "params", "train_s", "eval_s", "error"}


def _config(smoke_config: evohybrid.Config, algorithm: str) -> evohybrid.Config:
    return smoke_config.override("search", algorithm=algorithm)


def _run(config=None, *, split, **kwargs) -> evohybrid.SearchResult:
    """A search that evaluates on the session's smoke split instead of loading it again."""
    return evohybrid.search(config, executor_factory=lambda cfg: LocalExecutor(cfg, split), progress=False, **kwargs)


def _log(run_dir: Path) -> list[dict[str, Any]]:
    return read_records(Path(run_dir) / "evaluations.jsonl")


def _hashes_by_id(run_dir: Path) -> list[str]:
    return [record["hash"] for record in sorted(_log(run_dir), key=lambda record: record["id"])]


def _assert_complete(run_dir: Path, budget: int) -> None:
    records = _log(run_dir)
    assert sorted(record["id"] for record in records) == list(range(budget))
    assert len({record["hash"] for record in records}) == budget
    state = json.loads((Path(run_dir) / "state.json").read_text())
    assert state["next_id"] == budget
    assert state["pending"] == []


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory, smoke_config) -> dict[str, tuple[Path, evohybrid.SearchResult]]:
    """One uninterrupted smoke search per algorithm, through the default executor (which loads its own data)."""
    runs = {}
    for algorithm in ALGORITHM_NAMES:
        out = tmp_path_factory.mktemp(f"reference-{algorithm}") / "run"
        runs[algorithm] = out, evohybrid.search(_config(smoke_config, algorithm), out=out, progress=False)
    return runs


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_search_writes_a_complete_run(reference_runs, smoke_config, algorithm):
    out, result = reference_runs[algorithm]
    config = _config(smoke_config, algorithm)
    assert config.search.budget == BUDGET
    assert result.run_dir == out
    assert not result.interrupted

    records = _log(out)
    assert records == result.records
    assert len(records) == BUDGET
    assert [record["id"] for record in records] == list(range(BUDGET))
    assert len({record["hash"] for record in records}) == BUDGET
    space = evohybrid.load_space(config.space)
    for record in records:
        assert RECORD_FIELDS <= set(record), RECORD_FIELDS - set(record)
        genome = Genome.from_dict(record["genome"])
        assert genome.hash == record["hash"]
        space.validate(genome)
        assert record["status"] in {"ok", "failed", "diverged"}
        if record["status"] == "ok":
            assert 0.0 <= record["val_acc"] <= 1.0 and record["params"] > 0 and record["error"] is None

    document = json.loads((out / "config.json").read_text())
    assert document["config"] == config.to_dict()
    assert evohybrid.config.config_from_dict(document["config"]) == config
    assert document["search_space"] == yaml.safe_load((SPACES_DIR / f"{config.space}.yaml").read_text())
    for package in ("python", "evohybrid", "torch", "deap", "numpy"):
        assert document["versions"][package]

    state = json.loads((out / "state.json").read_text())
    assert state["algorithm"] == algorithm
    _assert_complete(out, BUDGET)


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_front_is_the_non_dominated_ok_records(reference_runs, algorithm):
    _out, result = reference_runs[algorithm]
    ok = [record for record in result.records if record["status"] == "ok"]
    assert result.front and all(record in ok for record in result.front)

    def dominates(a, b):
        return (a["val_acc"] >= b["val_acc"] and a["params"] <= b["params"]
                and (a["val_acc"] > b["val_acc"] or a["params"] < b["params"]))

    for member in result.front:
        assert not any(dominates(other, member) for other in ok)
    for record in ok:
        if record not in result.front:
            assert any(dominates(member, record) or (member["val_acc"], member["params"]) ==
                       (record["val_acc"], record["params"]) for member in result.front)
    assert result.front == evohybrid.pareto_front(result.records)


def _resume_in_chunks(config, out: Path, chunks: tuple[int, ...], split) -> None:
    result = _run(config, out=out, budget=chunks[0], split=split)
    assert len(result.records) == chunks[0]
    assert json.loads((out / "config.json").read_text())["config"]["search"]["budget"] == chunks[0]
    for budget in chunks[1:]:
        result = _run(resume=out, budget=budget, split=split)
        assert len(result.records) == budget
        assert json.loads((out / "config.json").read_text())["config"]["search"]["budget"] == budget


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_resumed_run_equals_uninterrupted_run(reference_runs, smoke_config, smoke_split, tmp_path, algorithm):
    _resume_in_chunks(_config(smoke_config, algorithm), tmp_path / "run", (5, BUDGET), smoke_split)
    _assert_complete(tmp_path / "run", BUDGET)
    assert _hashes_by_id(tmp_path / "run") == _hashes_by_id(reference_runs[algorithm][0])


def test_resuming_many_times_across_generations(reference_runs, smoke_config, smoke_split, tmp_path):
    # Population 4: stops at 1, 4 (a generation's end), 9 and 12 cut NSGA-II's generations every way.
    _resume_in_chunks(_config(smoke_config, "nsga2"), tmp_path / "run", (1, 4, 9, BUDGET), smoke_split)
    _assert_complete(tmp_path / "run", BUDGET)
    assert _hashes_by_id(tmp_path / "run") == _hashes_by_id(reference_runs["nsga2"][0])


class InterruptingExecutor(LocalExecutor):
    """The local executor, with a Ctrl-C (or another `error`) arriving during the n-th evaluation."""

    def __init__(self, config, split, interrupt_at: int, error: BaseException | type = KeyboardInterrupt) -> None:
        super().__init__(config, split)
        self.calls, self.interrupt_at, self.error = 0, interrupt_at, error

    def wait(self):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise self.error
        return super().wait()


def test_an_executor_that_loses_its_workers_stops_the_search_with_the_command_that_resumes_it(smoke_config,
                                                                                            smoke_split, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ExecutorLost, match=rf"^the pool went away: every finished evaluation is saved; resume with "
                                           rf"'evohybrid search --resume {re.escape(str(out))}'$"):
        evohybrid.search(smoke_config, out=out, progress=False, executor_factory=lambda cfg: InterruptingExecutor(
            cfg, smoke_split, 3, ExecutorLost("the pool went away")))
    assert [record["id"] for record in _log(out)] == [0, 1]


def _pending_ids(run_dir: Path) -> list[int]:
    return [proposal["id"] for proposal in json.loads((run_dir / "state.json").read_text())["pending"]]


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_resume_after_crashes_equals_uninterrupted_run(reference_runs, smoke_config, smoke_split, tmp_path,
                                                       algorithm):
    """Both states a crash can leave, in one run: a proposal asked but neither logged nor checkpointed (Ctrl-C during
    its evaluation), and one logged but not yet checkpointed (a crash between the log append and the state write)."""
    config = _config(smoke_config, algorithm)
    out = tmp_path / "run"

    result = evohybrid.search(config, out=out, progress=False,
                              executor_factory=lambda cfg: InterruptingExecutor(cfg, smoke_split, 5))
    assert result.interrupted
    assert [record["id"] for record in _log(out)] == [0, 1, 2, 3]
    assert json.loads((out / "state.json").read_text())["next_id"] == 4  # id 4 was asked, never checkpointed

    result = _run(resume=out, budget=5, split=smoke_split)  # the same state asks the same id 4 again
    assert not result.interrupted
    assert [record["id"] for record in _log(out)] == [0, 1, 2, 3, 4]
    assert _pending_ids(out) == []

    state_before = (out / "state.json").read_text()
    _run(resume=out, budget=6, split=smoke_split)  # id 5 evaluated and logged ...
    (out / "state.json").write_text(state_before)  # ... but the crash came before the state said so

    _run(resume=out, budget=BUDGET, split=smoke_split)
    _assert_complete(out, BUDGET)
    assert _hashes_by_id(out) == _hashes_by_id(reference_runs[algorithm][0])


@pytest.mark.parametrize("damage", ["deleted", "stale"])
def test_resume_without_an_up_to_date_state_replays_the_log(smoke_config, smoke_split, tmp_path, damage):
    out = tmp_path / "run"
    _run(_config(smoke_config, "random"), out=out, budget=4, split=smoke_split)
    stale = (out / "state.json").read_bytes()
    _run(resume=out, budget=5, split=smoke_split)
    if damage == "deleted":
        (out / "state.json").unlink()
    else:
        (out / "state.json").write_bytes(stale)
    log = out / "evaluations.jsonl"  # a line that is no evaluation (no id) comes first: the replay passes over it
    log.write_text('{"note": "added by hand"}\n' + log.read_text())

    _run(resume=out, budget=8, split=smoke_split)
    records = [record for record in _log(out) if "id" in record]
    assert sorted(record["id"] for record in records) == list(range(8))  # today: [0, 0, 1, 1, 2, 2, 3, 4]
    assert len({record["hash"] for record in records}) == 8


def keep_only(run_dir: Path, ids: tuple[int, ...]) -> None:
    """Leave only the records of `ids` in a run's log and drop its checkpoint: a run stopped with several in flight,
    whose workers finished out of order."""
    log = run_dir / "evaluations.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines() if json.loads(line)["id"] in ids))
    (run_dir / "state.json").unlink()


def test_a_log_with_gaps_resumes_the_missing_evaluations_first_within_the_budget(smoke_config, smoke_split, tmp_path):
    # Workers finish out of order: a run stopped with several in flight can log id 3 and miss ids 1 and 2.
    config = _config(smoke_config, "random")
    _run(config, out=tmp_path / "reference", budget=4, split=smoke_split)
    out = tmp_path / "run"
    _run(config, out=out, budget=4, split=smoke_split)
    keep_only(out, (0, 3))
    _run(resume=out, budget=3, split=smoke_split)  # room for one of the two missing genomes: the earlier one
    assert sorted(record["id"] for record in _log(out)) == [0, 1, 3]
    _run(resume=out, budget=4, split=smoke_split)
    assert _hashes_by_id(out) == _hashes_by_id(tmp_path / "reference")


def test_budget_argument_overrides_the_config(smoke_config, smoke_split, tmp_path):
    result = _run(smoke_config, out=tmp_path / "run", budget=3, split=smoke_split)
    assert len(result.records) == 3
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["search"]["budget"] == 3


def test_resume_of_a_finished_run_evaluates_nothing(smoke_config, smoke_split, tmp_path):
    out = tmp_path / "run"
    _run(smoke_config, out=out, budget=3, split=smoke_split)
    before = (out / "evaluations.jsonl").read_bytes()
    assert len(_run(resume=out, split=smoke_split).records) == 3
    assert len(_run(resume=out, budget=2, split=smoke_split).records) == 3
    assert (out / "evaluations.jsonl").read_bytes() == before


def test_search_refuses_an_existing_run_directory(smoke_config, smoke_split, tmp_path):
    out = tmp_path / "run"
    _run(smoke_config, out=out, budget=2, split=smoke_split)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunDirError, match="already exists"):
        _run(smoke_config, out=out, split=smoke_split)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_refuses_what_is_not_a_run(smoke_split, tmp_path):
    with pytest.raises(RunDirError):
        _run(resume=tmp_path / "missing", split=smoke_split)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"something": "else"}')
    (tmp_path / "foreign" / "evaluations.jsonl").write_text("")
    with pytest.raises(RunDirError, match="did not write"):
        _run(resume=tmp_path / "foreign", split=smoke_split)


@pytest.mark.parametrize("document", ["5", '{"config": {}}', '{"search_space": {}}'])
def test_resume_refuses_a_config_json_without_the_config_and_the_space(smoke_config, smoke_split, tmp_path, document):
    out = tmp_path / "run"
    _run(smoke_config, out=out, budget=1, split=smoke_split)
    (out / "config.json").write_text(document)
    with pytest.raises(RunDirError, match="did not write"):
        _run(resume=out, split=smoke_split)


def test_resume_of_a_run_whose_frozen_space_was_broken_names_the_space(smoke_config, smoke_split, tmp_path):
    out = tmp_path / "run"
    _run(smoke_config, out=out, budget=1, split=smoke_split)
    document = json.loads((out / "config.json").read_text())
    document["search_space"] = ["not", "a", "mapping"]
    (out / "config.json").write_text(json.dumps(document))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConfigError, match=f"search space '{smoke_config.space}' must be a YAML mapping"):
        _run(resume=out, split=smoke_split)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _space_file(tmp_path: Path, text: str) -> str:
    (tmp_path / "space.yaml").write_text(text)
    return str(tmp_path / "space.yaml")


@pytest.mark.parametrize("space, message", [
    (lambda tmp_path: "nosuchspace", r"unknown search space 'nosuchspace': use one of \[.*'tiny'"),
    (lambda tmp_path: str(tmp_path / "missing.yaml"), r"search space file '.*missing.yaml' does not exist"),
    (lambda tmp_path: _space_file(tmp_path, "stem: [unclosed"), r"search space '.*space.yaml' is not valid YAML"),
    (lambda tmp_path: _space_file(tmp_path, "- a list"), r"search space '.*space.yaml' must be a YAML mapping"),
    (lambda tmp_path: "conv1d", r"search space 'conv1d' is of kind conv1d"),
])
def test_a_bad_search_space_is_refused_before_anything_is_written(smoke_config, smoke_split, tmp_path, space,
                                                                  message):
    with pytest.raises(ConfigError, match=message):
        _run(smoke_config.override(None, space=space(tmp_path)), out=tmp_path / "run", split=smoke_split)
    assert not (tmp_path / "run").exists()


def test_more_fitness_folds_than_the_smallest_class_holds_are_refused_before_anything_is_written(smoke_config,
                                                                                             smoke_split, tmp_path):
    # Eight training and four validation images: one class has a single image, too few for two folds.
    config = smoke_config.override("data", train_size=8, val_size=4).override("fitness", folds=2)
    with pytest.raises(EvohybridError, match=r"^fitness\.folds 2 is more than the 1 training examples of class \d+: "
                                             r"use at most fitness\.folds 1$"):
        _run(config, out=tmp_path / "run", split=smoke_split)
    assert not (tmp_path / "run").exists()
    # Two folds of the smoke slices (66 or more images of each class) are allowed.
    result = _run(smoke_config.override("fitness", folds=2), out=tmp_path / "run", budget=2, split=smoke_split)
    assert [record["status"] for record in result.records] == ["ok", "ok"]


class ThreeInFlight(LocalExecutor):
    """Three evaluations in flight that finish one at a time, as a pool of three workers looks to the search."""

    slots = 3


@pytest.mark.parametrize("rungs", [[], [{"steps": 20}]], ids=["one-fidelity", "rungs"])
def test_with_several_evaluations_in_flight_a_search_evaluates_exactly_its_budget_of_new_genomes(
        smoke_config, smoke_split, tmp_path, rungs):
    # Random search is always ready to propose: only the budget holds it back.
    config = smoke_config.override("search", algorithm="random", rungs=rungs, rung_fraction=0.5)
    result = evohybrid.search(config, out=tmp_path / "run", budget=8, progress=False,
                              executor_factory=lambda cfg: ThreeInFlight(cfg, smoke_split))
    new = [record for record in result.records if record.get("rung", 0) == 0]
    assert len(new) == len({record["hash"] for record in new}) == 8
    assert len(result.records) == 8 + 4 * bool(rungs)  # with rungs, the better half of each batch of four again


def test_search_rejects_a_bad_budget(smoke_config, smoke_split, tmp_path):
    with pytest.raises(ConfigError, match="search.budget"):
        _run(smoke_config, out=tmp_path / "run", budget=0, split=smoke_split)
    assert not (tmp_path / "run").exists()


def test_search_space_is_frozen_into_the_run(smoke_config, smoke_split, tmp_path):
    # A run resumes with the space it started with, even if the space file changes or disappears.
    space_file = tmp_path / "myspace.yaml"
    shutil.copy(SPACES_DIR / "tiny.yaml", space_file)
    config = smoke_config.override(None, space=str(space_file))
    out = tmp_path / "run"
    _run(config, out=out, budget=3, split=smoke_split)
    space_file.unlink()
    _run(resume=out, budget=6, split=smoke_split)
    _assert_complete(out, 6)


def test_an_existing_run_directory_is_refused_before_data_and_workers_come_up(smoke_config, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    def no_workers(cfg):
        raise AssertionError("the executor came up before the run directory was checked")

    # A validation slice as large as the training split could not be loaded: no data are read before the check.
    unloadable = smoke_config.override("data", val_size=60000)
    with pytest.raises(RunDirError, match="already exists"):
        evohybrid.search(unloadable, out=out, progress=False, executor_factory=no_workers)
    assert [path.name for path in out.iterdir()] == ["notes.txt"]


def test_a_time_budget_not_yet_spent_lets_the_search_finish_its_budget(smoke_config, smoke_split, tmp_path):
    result = _run(smoke_config.override("search", time_budget=3600), out=tmp_path / "run", budget=3, split=smoke_split)
    assert len(result.records) == 3 and result.interrupted is False


def test_a_spent_time_budget_proposes_nothing_new(smoke_config, smoke_split, tmp_path):
    # The budget starts with the call, before the data and workers come up, so a millisecond is spent at once.
    result = _run(smoke_config.override("search", time_budget=0.001), out=tmp_path / "run", split=smoke_split)
    assert result.records == [] and result.interrupted is False
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["search"]["time_budget"] == 0.001


def test_a_run_records_its_command_without_where_the_program_is_installed(tmp_path, monkeypatch, smoke_config,
                                                                          smoke_split):
    monkeypatch.setattr("sys.argv", ["/opt/tools/bin/evohybrid", "search", "--budget", "1"])
    run = evohybrid.search(smoke_config, out=tmp_path / "run", budget=1, progress=False,
                           executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split)).run_dir
    assert json.loads((run / "config.json").read_text())["command"] == ["evohybrid", "search", "--budget", "1"]


@pytest.mark.parametrize("progress", [None, False])
def test_progress_lines_by_default_and_none_when_turned_off(smoke_config, smoke_split, tmp_path, capsys, progress):
    options = {} if progress is None else {"progress": progress}
    result = evohybrid.search(smoke_config, out=tmp_path / "run", budget=2,
                              executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split), **options)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    if progress is False:
        assert lines == []
        return
    assert [line[:5] for line in lines] == ["[1/2]", "[2/2]"]
    # Each line: the best accuracy and the front's size after that evaluation.
    for count, line in enumerate(lines, start=1):
        so_far = result.records[:count]
        best = max(record["val_acc"] for record in so_far if record["status"] == "ok")
        assert f" best={best:.3f} front={len(pareto_front(so_far))} " in line


def test_progress_before_any_network_finished_ok_shows_no_best(smoke_config, smoke_split, tmp_path, capsys):
    diverging = smoke_config.override("fitness", trainable="all", optimizer="sgd", lr=1e20, schedule="constant")
    result = evohybrid.search(diverging, out=tmp_path / "run", budget=1,
                              executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split))
    assert [record["status"] for record in result.records] == ["diverged"]
    assert " best=- front=0 " in capsys.readouterr().err


def test_a_search_reports_its_wall_time_and_its_executor(smoke_config, smoke_split, tmp_path):
    started = time.monotonic()
    result = _run(smoke_config, out=tmp_path / "run", budget=2, split=smoke_split)
    assert 0 < result.wall_s <= time.monotonic() - started
    stats = result.executor_stats
    assert stats["workers"] == 1 and 0 < stats["busy_s"] <= stats["wall_s"] and 0 < stats["utilisation"] <= 1


def test_a_run_without_out_goes_under_results_and_records_its_versions_and_time(tmp_path, monkeypatch, smoke_config,
                                                                                 smoke_split):
    monkeypatch.chdir(tmp_path)  # the default folder is relative to where the command runs
    run = evohybrid.search(smoke_config, budget=1, progress=False,
                           executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split)).run_dir
    assert run.parent == Path("results") and re.fullmatch(r"\d{8}-\d{6}-nsga2-fashion-mnist", run.name)
    document = json.loads((tmp_path / run / "config.json").read_text())
    versions = document["versions"]
    assert set(versions) == {"python", "evohybrid", "torch", "torchvision", "deap", "ray", "numpy"}
    assert all(isinstance(value, str) and value not in ("", "not installed") for value in versions.values())
    created = datetime.datetime.fromisoformat(document["created"]).timestamp()  # local time, to the second
    (record,) = read_records(tmp_path / run / "evaluations.jsonl")
    finished = record["finished_at"]  # unix seconds, to the millisecond
    assert isinstance(finished, float) and finished == round(finished, 3) and finished >= created
