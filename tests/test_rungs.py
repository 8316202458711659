"""Multi-fidelity rungs: selection values by hand, config errors, a search whose best are judged again by a costlier
fitness, and a kill -9 in the middle of it that resumes into the run an uninterrupted search makes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

import evohybrid
from evohybrid.distributed.executors import LocalExecutor
from evohybrid.errors import ConfigError
from evohybrid.evolution.algorithms.rungs import selection_values
from evohybrid.evolution.store import read_records
from evohybrid.inspection.pareto import ok_records, pareto_front

from test_cli import TIMEOUT, _complete_records, _env, kill_search_once_logged

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


def test_sigkill_in_a_multi_fidelity_search_then_resume_gives_the_uninterrupted_run(smoke_config, smoke_split,
                                                                                    tmp_path):
    config = _rung_config(smoke_config)
    (tmp_path / "rungs.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(config.to_dict()))))
    log = tmp_path / "run" / "evaluations.jsonl"
    before = kill_search_once_logged(tmp_path, ["--config", "rungs.yaml", "--budget", str(BUDGET)], 6)
    assert 6 <= len(before) < BUDGET + 4, "the kill must land past the first batch's upgrades, mid-run"
    resumed = subprocess.run([sys.executable, "-m", "evohybrid.cli", "search", "--resume", "run", "--executor",
                              "local", "--quiet"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                             timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    after = _complete_records(log)
    assert after[:len(before)] == before  # no line lost or rewritten
    reference = evohybrid.search(config, out=tmp_path / "reference", budget=BUDGET, progress=False,
                                 executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split))

    def summary(records):
        return [(r["id"], r["hash"], r["rung"], r["val_acc"]) for r in sorted(records, key=lambda r: r["id"])]

    assert summary(json.loads(line) for line in after) == summary(reference.records)
