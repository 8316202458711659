"""Promotion with real Ray Tune: two tiny architectures of a smoke search trained fully for one epoch, their outputs,
a resumed promotion that trains nothing again, the data it trains and tests on, the choice of what to promote (the
knee among them), one-line CLI errors, and a promotion whose Ray dies, resumed without loading any pickle."""

from __future__ import annotations

import csv
import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import evohybrid
from evohybrid.cli import main
from evohybrid.data import Augmentation, augment, series_shifts
from evohybrid.evolution.executors import LocalExecutor
from evohybrid.evolution.store import RunStore
from evohybrid.inspection.report import PROMOTED_FIGURE, write_report
from evohybrid.spaces.builder import build_model, count_flops
from evohybrid.training.promote import promote
from evohybrid.training.promoted import (LEDGER_FILE, PROMOTED_DIR, SUMMARY_FILE, TRIALS_DIR, PromotionError,
                                         format_promoted, proxy_full_tau, select_records)
from test_ray import _session_processes
from test_weights_only import SideEffect


def test_promoted_models_have_every_output(promoted):
    run, ids = promoted
    records = {record["id"]: record for record in RunStore.open(run).records()}
    for eval_id in ids:
        folder = run / PROMOTED_DIR / str(eval_id)
        genome = evohybrid.Genome.from_json((folder / "genome.json").read_text())
        assert genome.to_dict() == records[eval_id]["genome"]
        state_dict = torch.load(folder / "model.pt", weights_only=True)
        metrics = json.loads((folder / "metrics.json").read_text())
        model = build_model(genome, in_channels=metrics["input"]["in_channels"],
                            num_classes=metrics["input"]["num_classes"], trainable="all")
        model.load_state_dict(state_dict)  # strict: every weight of the architecture, nothing else
        assert metrics["resolution"] == metrics["input"]["resolution"] == 28  # native, not the search's 12
        assert metrics["flops"] == count_flops(model, (1, 28, 28)) > records[eval_id]["flops"]  # at 28, not 12
        assert metrics["train_size"] == 2048
        assert 0.0 <= metrics["val_acc"] <= 1.0 and 0.0 <= metrics["test_acc"] <= 1.0
        assert metrics["proxy_val_acc"] == records[eval_id]["val_acc"]
        assert (metrics["params"], metrics["epochs"], metrics["lr"]) == (records[eval_id]["params"], 1, 0.1)
        assert metrics["train_s"] > 0
        curve = list(csv.DictReader((folder / "curve.csv").open()))
        assert [int(row["epoch"]) for row in curve] == list(range(1, 1 + 1))
        assert float(curve[-1]["val_acc"]) == metrics["val_acc"]
    summary = list(csv.DictReader((run / PROMOTED_DIR / SUMMARY_FILE).open()))
    assert sorted(int(row["id"]) for row in summary) == sorted(ids)
    assert {"proxy_val_acc", "val_acc", "test_acc", "params", "train_s"} <= set(summary[0])


def test_resume_of_a_finished_promotion_trains_nothing_again(promoted, tmp_path, folder_listing):
    run, ids = promoted
    run = shutil.copytree(run, tmp_path / run.name)  # a resume writes the outputs again: not in the shared run
    before = folder_listing(run)
    result = promote(run, resume=True)
    assert sorted(result.written) == sorted(ids) and not result.failures and not result.interrupted
    # Same weights, the same recorded training time, the same trial checkpoints and no new Tune experiment.
    assert folder_listing(run) == before
    assert json.loads((run / PROMOTED_DIR / LEDGER_FILE).read_text())[-1]["finished"] is True


def test_resume_keeps_the_outputs_of_a_promotion_made_before_trial_folders(promoted, tmp_path, folder_listing):
    run, ids = promoted
    run = shutil.copytree(run, tmp_path / run.name)
    # What an earlier evohybrid left: outputs written from Tune's checkpoints, no trial folders, a ledger (here one
    # whose promotion was stopped after its outputs were written).
    shutil.rmtree(run / PROMOTED_DIR / TRIALS_DIR)
    ledger = json.loads((run / PROMOTED_DIR / LEDGER_FILE).read_text())
    (run / PROMOTED_DIR / LEDGER_FILE).write_text(json.dumps([{**ledger[-1], "finished": False}]))
    ledger_name = f"{PROMOTED_DIR}/{LEDGER_FILE}"
    before = {name: data for name, data in folder_listing(run).items() if name != ledger_name}
    result = promote(run, resume=True)
    assert result.written == [] and not result.failures and not result.interrupted  # nothing trained or rewritten
    assert {name: data for name, data in folder_listing(run).items() if name != ledger_name} == before
    assert json.loads((run / PROMOTED_DIR / LEDGER_FILE).read_text())[-1]["finished"] is True


def test_promoted_ids_are_not_trained_twice(promoted, capsys, folder_listing):
    run, ids = promoted
    before = folder_listing(run)
    result = promote(run, ids=ids[:1])
    assert result.skipped == ids[:1] and result.written == []
    assert main(["promote", str(run), "--ids", str(ids[0])]) == 0
    captured = capsys.readouterr()
    assert "already promoted" in captured.err and "Kendall tau" in captured.out
    assert folder_listing(run) == before  # no new Tune experiment, ledger entry or weights


def test_report_shows_the_promoted_models(promoted, tmp_path):
    run, _ = promoted
    run = shutil.copytree(run, tmp_path / run.name)  # the report is written into the run: not the shared one
    written = write_report([run])
    assert run / PROMOTED_FIGURE in written
    assert (run / PROMOTED_FIGURE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert written[0].read_text().count('<img src="data:image/png;base64,') == 3


def test_the_knee_promoted_is_above_chance(tmp_path):
    genome = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
    # The smallest network is below chance (1/10): left out, it no longer makes id 1 (barely above chance) the knee.
    points = [(0, 0.0975, 100), (1, 0.161, 200), (2, 0.2, 10_000), (3, 0.22, 1_000_000)]
    records = [{"id": i, "genome": genome, "status": "ok", "val_acc": acc, "params": size} for i, acc, size in points]
    assert [record["id"] for record in select_records(records, tmp_path, knee=True, chance=0.1)] == [2]
    with pytest.raises(PromotionError, match="exactly one of --top K, --ids A,B, --front or --knee"):
        select_records(records, tmp_path, top=1, knee=True, chance=0.1)
    with pytest.raises(PromotionError, match="has no knee.*--top 1"):
        select_records(records[:3], tmp_path, knee=True, chance=0.1)  # two members above chance: no knee


def test_max_params_chooses_the_top_front_and_knee_among_networks_no_larger(tmp_path):
    genome = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
    points = [(0, 0.2, 100), (1, 0.3, 1_000), (2, 0.35, 10_000), (3, 0.85, 100_000), (4, 0.9, 1_000_000)]
    records = [{"id": i, "genome": genome, "status": "ok", "val_acc": acc, "params": size} for i, acc, size in points]

    def chosen(**how):
        return [record["id"] for record in select_records(records, tmp_path, **how)]

    assert chosen(top=2) == [4, 3] and chosen(top=2, max_params=100_000) == [3, 2]  # the cap is inclusive
    assert chosen(front=True) == [0, 1, 2, 3, 4] and chosen(front=True, max_params=99_999) == [0, 1, 2]
    assert chosen(knee=True, chance=0.1) == [3] and chosen(knee=True, chance=0.1, max_params=10_000) == [1]
    with pytest.raises(PromotionError, match=r"no successful evaluation of at most 99 parameters \(the smallest has "
                                             r"100\): raise --max-params$"):
        select_records(records, tmp_path, top=1, max_params=99)
    with pytest.raises(PromotionError, match="with --ids, drop it"):
        select_records(records, tmp_path, ids=[4], max_params=10)


def test_augment_crops_shifted_windows_of_the_padded_batch():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    cropped = augment(images, Augmentation(2, False), torch.Generator().manual_seed(0))
    assert cropped.shape == images.shape and cropped.dtype == torch.uint8
    windows = [padded[:, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
    for index in range(len(images)):
        assert any(torch.equal(cropped[index], window[index]) for window in windows)
    flipped = augment(images, Augmentation(2, True), torch.Generator().manual_seed(0))
    candidates = windows + [window.flip(3) for window in windows]
    assert all(any(torch.equal(flipped[i], window[i]) for window in candidates) for i in range(len(images)))
    assert not torch.equal(flipped, cropped)  # some of the 64 images were mirrored


def test_augment_shifts_series_by_at_most_the_policys_steps_with_zeros_shifted_in():
    series = torch.randn(64, 2, 20)
    padded = torch.nn.functional.pad(series, (3, 3))
    shifted = augment(series, series_shifts(0.15, 20), torch.Generator().manual_seed(0))  # 3 steps of 20
    assert shifted.shape == series.shape
    offsets = [next(start for start in range(7) if torch.equal(shifted[i], padded[i, :, start:start + 20]))
               for i in range(len(series))]  # every channel of a series moves together
    assert len(set(offsets)) > 1  # the 64 series are not all shifted alike


def test_proxy_full_tau_needs_two_models():
    rows = [{"id": i, "proxy_val_acc": proxy, "val_acc": full, "test_acc": full, "params": 10, "train_s": 1.0,
             "lr": 0.1, "resolution": 28, "architecture": "s4"} for i, (proxy, full) in enumerate([(0.1, 0.5), (0.2, 0.7), (0.3, 0.6)])]
    assert proxy_full_tau(rows[:1]) is None and proxy_full_tau([]) is None
    assert proxy_full_tau(rows) == pytest.approx(1 / 3)
    assert format_promoted(rows[:1], None).endswith(": n/a")


@pytest.mark.parametrize("args, fragment", [
    (["--top", "2"], "does not exist"),
    (["--ids", "999"], "no evaluation with id 999"),
    (["--top", "0"], "--top"),
    (["--resume", "--epochs", "3"], "--epochs"),
    (["--resume", "--max-params", "1000"], "--max-params cannot change a promotion being resumed"),
    (["--top", "1", "--max-params", "1"], "raise --max-params"),
    (["--ids", "1", "--max-params", "1000"], "with --ids, drop it"),
    (["--top", "1", "--max-params", "0"], "--max-params"),
    (["--top", "1", "--front"], "not allowed with"),
    (["--top", "1", "--resolution", "0"], "--resolution"),
    (["--top", "1", "--label-smoothing", "-0.1"], "--label-smoothing"),
    (["--top", "1", "--shift", "0.1"], "--shift moves series in time"),
    (["--top", "1", "--shift", "0.5"], "--shift"),
    (["--knee", "--front"], "not allowed with"),
])
def test_promote_errors_are_one_line(promoted, tmp_path, capsys, folder_listing, args, fragment):
    run = tmp_path / "missing" if fragment == "does not exist" else promoted[0]
    before = folder_listing(promoted[0])
    try:
        code = main(["promote", str(run), *args])
    except SystemExit as exit_info:  # argparse's usage errors
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert folder_listing(promoted[0]) == before and not (tmp_path / "missing").exists()  # nothing written


def test_resume_without_a_promotion_is_one_line(tmp_path, capsys):
    store = RunStore.create(tmp_path / "run", {"config": evohybrid.Config().to_dict()})
    assert main(["promote", str(store.path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no promotion to resume" in err


def _wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():  # a file the command writes: a condition, polled
        assert proc.poll() is None and time.monotonic() < deadline, f"{what}: {proc.stderr.read()}"
        time.sleep(0.1)


def _kill_9(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the command and every Ray process it started: no handler runs
    proc.wait()


def _trial_progress(run: Path) -> dict | None:
    """The progress of the only trial of the run's promotion, from its newest checkpoint (None before one)."""
    checkpoints = sorted((run / PROMOTED_DIR / TRIALS_DIR).rglob("checkpoint-*/progress.json"))
    return json.loads(checkpoints[-1].read_text()) if checkpoints else None


def _plant_pickles(tune: Path, marker: Path) -> list[Path]:
    """Replace every pickle Tune wrote (its tuner.pkl, trainable and trial parameters) with one whose unpickling
    creates `marker`, and add a tuner.pkl where Tune has none: what a shared run folder could hold."""
    payload = pickle.dumps(SideEffect(marker))
    pickle.loads(pickle.dumps(SideEffect(marker.with_name("proof"))))
    assert marker.with_name("proof").exists()  # the payload really runs code when unpickled
    planted = [*tune.rglob("*.pkl"), *(folder / "tuner.pkl" for folder in tune.iterdir())]
    for path in planted:
        path.write_bytes(payload)
    return planted


def test_a_promotion_stopped_by_a_dead_ray_resumes_from_our_files_alone_then_pruning_survives_kill_9(
        tmp_path, smoke_config, smoke_split):
    """A promotion whose local Ray dies mid-training (raylet and trial killed with SIGKILL) stops in bounded time with
    one line; --resume continues the trial from its last epoch and loads none of the pickles planted in Tune's
    folder; a pruning level killed with kill -9 continues from its checkpoint."""
    run = evohybrid.search(smoke_config, out=tmp_path / "run", budget=2, progress=False,
                           executor_factory=lambda cfg: LocalExecutor(cfg, smoke_split)).run_dir
    cli = [sys.executable, "-m", "evohybrid.cli"]
    promote_command = cli + ["promote", str(run)]
    # Epochs of about a second at 24,576 images of 12 pixels: long enough for a kill to land inside one.
    proc = subprocess.Popen(promote_command + ["--ids", "0", "--epochs", "2", "--batch-size", "512", "--resolution",
                                               "12", "--train-size", "24576"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(proc, lambda: _trial_progress(run) is not None, "promotion")  # the first epoch is checkpointed
    raylets = _session_processes(proc.pid, "raylet")
    assert raylets, "no raylet of this promotion found"
    for pid in raylets + [int(child) for raylet in raylets for child in subprocess.run(
            ["pgrep", "-P", str(raylet)], capture_output=True, text=True).stdout.split()]:
        os.kill(pid, signal.SIGKILL)  # the node dies with its workers, the trial among them
    _, stderr = proc.communicate(timeout=120)  # bounded: a promotion waiting on the dead Ray forever fails here
    assert proc.returncode == 1 and stderr.strip().splitlines() == [
        f"evohybrid: error: the local Ray stopped (raylet died): every finished epoch is saved; resume with "
        f"'evohybrid promote {run} --resume'"], stderr
    assert _trial_progress(run)["epoch"] == 1

    marker = tmp_path / "pickle-ran"
    assert _plant_pickles(run / PROMOTED_DIR / "tune", marker)
    resumed = subprocess.run(promote_command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert not marker.exists()  # no pickle of the run folder was loaded
    assert _trial_progress(run)["starts"] == [0, 1]  # the resumed trial began at its checkpoint, not at epoch 0
    curve = list(csv.DictReader((run / PROMOTED_DIR / "0" / "curve.csv").open()))
    assert [int(row["epoch"]) for row in curve] == [1, 2]
    assert json.loads((run / PROMOTED_DIR / LEDGER_FILE).read_text())[-1]["finished"] is True

    prune_command = cli + ["prune", str(run), "0", "--levels", "1", "--rewind", "1ep"]
    proc = subprocess.Popen(prune_command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lottery = run / PROMOTED_DIR / "0" / "lottery"
    _wait_for(proc, lambda: any((lottery / "level_01").glob("checkpoint-*/progress.json")), "pruning")
    _kill_9(proc)
    dense = (lottery / "level_00" / "metrics.json").read_bytes()
    again = subprocess.run(prune_command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    # Killed in its second (last) epoch, or just after it: level 1 goes on from its checkpoint either way.
    assert re.search(r"^level 1: continuing from epoch [12]$", again.stdout, re.M) and "level 0:" not in again.stdout
    assert (lottery / "level_00" / "metrics.json").read_bytes() == dense  # the dense level was not trained again
    assert json.loads((lottery / "level_01" / "control" / "metrics.json").read_text())["level"] == 1
    assert not any(lottery.rglob("checkpoint-*"))  # a finished level keeps its result, not its checkpoints
