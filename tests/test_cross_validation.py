"""Choice by cross-validation: stratified folds of the training split (never the test split), each architecture of
the top K trained on all folds but one, the winner by mean; a kill -9 loses only the trainings in flight, and the
same command continues into the uninterrupted result; mistakes are one line that writes nothing."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys

import pytest
import torch

import evohybrid
from evohybrid.cli import main
from evohybrid.distributed.job_pool import PoolOptions
from evohybrid.evolution.store import RunStore
from evohybrid.errors import EvohybridError
from evohybrid.config import config_from_dict
from evohybrid.data import stratified_folds
from evohybrid.training.cross_validation import CV_DIR, CrossValidationSettings, cross_validate, fold_data
from evohybrid.training.trainer import training_data
from search_processes import wait_for_lines

SETTINGS = CrossValidationSettings(top=3, folds=3, epochs=3, batch_size=128, train_size=1000)
FLAGS = ["--top", "3", "--folds", "3", "--epochs", "3", "--batch-size", "128", "--train-size", "1000",
         "--executor", "local"]
LOCAL = PoolOptions(executor="local")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A six-evaluation smoke search, read only: tests that cross-validate work on a copy."""
    out = tmp_path_factory.mktemp("cv") / "run"
    evohybrid.search(evohybrid.load_config("smoke"), out=out, budget=6, progress=False)  # in this process
    return out


@pytest.fixture
def run_copy(smoke_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    return copy


def test_folds_are_stratified_disjoint_and_cover_the_training_split():
    labels = torch.tensor([0] * 7 + [1] * 5 + [2] * 9)
    folds = stratified_folds(labels, 3, seed=0)
    every = torch.cat(folds)
    assert sorted(every.tolist()) == list(range(len(labels)))  # each example in exactly one fold
    for label, count in ((0, 7), (1, 5), (2, 9)):
        per_fold = [int((labels[fold] == label).sum()) for fold in folds]
        assert sum(per_fold) == count and max(per_fold) - min(per_fold) <= 1, per_fold
    assert [fold.tolist() for fold in stratified_folds(labels, 3, seed=0)] == [fold.tolist() for fold in folds]
    assert [fold.tolist() for fold in stratified_folds(labels, 3, seed=1)] != [fold.tolist() for fold in folds]


def test_a_fold_trains_and_validates_on_the_training_split_only(smoke_run):
    config = json.loads((smoke_run / "config.json").read_text())["config"]
    whole = training_data(config_from_dict(config), train_size=1000).split
    inputs, labels = torch.cat([whole.train_inputs, whole.val_inputs]), torch.cat([whole.train_labels, whole.val_labels])
    folds = stratified_folds(labels, 3, seed=config["seed"])
    data = fold_data(config, dataclasses.asdict(dataclasses.replace(SETTINGS, folds=3)))[1]
    assert len(data.split.train_labels) + len(data.split.val_labels) == len(labels)
    assert torch.equal(data.split.val_inputs, inputs[folds[1]])
    test = training_data(config_from_dict(config), train_size=1000).test_inputs
    assert torch.equal(data.test_inputs, test)  # the test split is carried along, never divided or read


def test_more_folds_than_the_smallest_class_is_refused():
    with pytest.raises(EvohybridError, match=r"^--folds 4 is more than the 3 training examples of class 1: use at "
                                             r"most --folds 3$"):
        stratified_folds(torch.tensor([0, 0, 0, 0, 1, 1, 1]), 4, seed=0)


def test_cross_validation_names_the_best_mean_and_keeps_every_fold(run_copy):
    summary = cross_validate(run_copy, SETTINGS, LOCAL)
    folds = [json.loads(line) for line in (run_copy / CV_DIR / "folds.jsonl").read_text().splitlines()]
    assert len(folds) == 9 and {(row["id"], row["fold"]) for row in folds} == {
        (row["id"], fold) for row in summary["rows"] for fold in range(3)}
    best = max(summary["rows"], key=lambda row: (row["mean"], -row["params"], -row["id"]))
    assert summary["winner"] == best["id"]
    for row in summary["rows"]:
        assert row["mean"] == pytest.approx(sum(row["folds"]) / 3)
    assert json.loads((run_copy / CV_DIR / "summary.json").read_text()) == summary


def test_a_killed_cross_validation_resumes_into_the_uninterrupted_result(smoke_run, tmp_path, capsys):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    shutil.copytree(smoke_run, whole)
    shutil.copytree(smoke_run, killed)
    expected = cross_validate(whole, SETTINGS, LOCAL)
    proc = subprocess.Popen([sys.executable, "-m", "evohybrid.cli", "cross-validate", str(killed), *FLAGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_lines(killed / CV_DIR / "folds.jsonl", 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = (killed / CV_DIR / "folds.jsonl").read_text().count("\n")
    assert 1 <= left < 9
    assert main(["cross-validate", str(killed), *FLAGS]) == 0
    assert json.loads((killed / CV_DIR / "summary.json").read_text()) == expected
    assert "cross-validation: 9 of 9 trainings" in capsys.readouterr().out  # each training reported as it ends


@pytest.mark.parametrize("flags, fragment", [
    (["--top", "1"], "--top must be at least 2"),
    (["--folds", "1"], "--folds must be at least 2"),
    (["--folds", "400"], "--folds 400 is more than the"),
    (["--max-params", "1"], "raise --max-params"),
    (["--shift", "0.1"], "--shift moves series in time"),
])
def test_cross_validation_mistakes_are_one_line_and_write_nothing(smoke_run, capsys, folder_listing, flags, fragment):
    before = folder_listing(smoke_run)
    assert main(["cross-validate", str(smoke_run), "--executor", "local", "--train-size", "1000", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert folder_listing(smoke_run) == before


def test_other_settings_in_a_cross_validated_run_are_refused(run_copy, capsys, folder_listing):
    cross_validate(run_copy, SETTINGS, LOCAL)
    before = folder_listing(run_copy)
    assert main(["cross-validate", str(run_copy), *FLAGS[:-2], "--epochs", "4", "--executor", "local"]) == 2
    assert "holds a cross-validation with other settings" in capsys.readouterr().err
    assert folder_listing(run_copy) == before


def test_a_cross_validation_started_before_max_params_existed_continues(run_copy):
    summary = cross_validate(run_copy, SETTINGS, LOCAL)
    written = run_copy / CV_DIR / "settings.json"
    older = json.loads(written.read_text())
    del older["settings"]["max_params"]  # as a cross-validation started before the setting existed wrote it
    written.write_text(json.dumps(older))
    assert cross_validate(run_copy, SETTINGS, LOCAL) == summary  # its settings are the same: nothing trains again


def test_a_cap_that_leaves_one_network_is_one_line_that_writes_nothing(smoke_run, capsys, folder_listing):
    smallest = min(record["params"] for record in RunStore.open(smoke_run).records() if record["status"] == "ok")
    before = folder_listing(smoke_run)
    assert main(["cross-validate", str(smoke_run), *FLAGS, "--max-params", str(smallest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"has one successful evaluation of at most {smallest:,} parameters" in err
    assert "raise --max-params" in err and folder_listing(smoke_run) == before


def test_max_params_judges_the_top_among_networks_no_larger(run_copy):
    records = [record for record in RunStore.open(run_copy).records() if record["status"] == "ok"]
    cap = sorted(record["params"] for record in records)[2]  # the three smallest (or more, of equal size)
    small = sorted((record for record in records if record["params"] <= cap),
                   key=lambda record: (-record["val_acc"], record["params"], record["id"]))
    assert len(small) < len(records)  # the cap leaves some out
    summary = cross_validate(run_copy, dataclasses.replace(SETTINGS, top=2, folds=2, epochs=1, max_params=cap), LOCAL)
    assert [row["id"] for row in summary["rows"]] == [record["id"] for record in small[:2]]
    assert json.loads((run_copy / CV_DIR / "settings.json").read_text())["settings"]["max_params"] == cap
