"""Lottery tickets of a promoted model, on the shared promoted smoke run (copied: pruning writes into the run):
levels, masks, rewinding, the control, continuing with more levels, export of a level, the report, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

import evohybrid
from evohybrid.cli import main
from evohybrid.config import config_from_dict
from evohybrid.evolution.store import RunStore
from evohybrid.inspection.report import write_report
from evohybrid.spaces.genome import Genome
from evohybrid.training.lottery import LotterySettings, level_dir, lottery_dir, prunable, prune
from evohybrid.training.promoted import model_dir, read_promoted
from evohybrid.training.trainer import Training, training_data

# The shared promotion trains 1 epoch of 4 steps (2,048 images, batches of 512): rewind 2 steps in.
SETTINGS = LotterySettings(levels=2, rate=0.5, rewind="2it")


@pytest.fixture(scope="module")
def pruned(promoted, tmp_path_factory) -> tuple[Path, int, list[dict]]:
    run, ids = promoted
    run = shutil.copytree(run, tmp_path_factory.mktemp("lottery") / run.name)
    return run, ids[0], prune(run, ids[0], SETTINGS, log=lambda line: None)


def _masks(run: Path, eval_id: int, level: int) -> dict[str, torch.Tensor]:
    return torch.load(level_dir(lottery_dir(model_dir(run, eval_id)), level) / "mask.pt", weights_only=True)


def test_each_level_removes_the_rate_of_what_is_left_and_keeps_only_survivors(pruned):
    run, eval_id, results = pruned
    levels = [row for row in results if not row["control"]]
    assert [row["level"] for row in levels] == [0, 1, 2]
    total = levels[0]["weights_left"]
    assert [row["weights_left"] for row in levels] == [total, pytest.approx(total / 2, abs=1),
                                                        pytest.approx(total / 4, abs=2)]
    assert [row["sparsity"] for row in levels] == pytest.approx([0.0, 0.5, 0.75], abs=1e-3)
    first, second = _masks(run, eval_id, 1), _masks(run, eval_id, 2)
    assert all(torch.all(second[name] <= first[name]) for name in first)  # a weight once pruned stays pruned
    state = torch.load(level_dir(lottery_dir(model_dir(run, eval_id)), 2) / "model.pt", weights_only=True)
    for name, mask in second.items():
        assert torch.all(state[f"{name}.weight"][mask == 0] == 0)  # masks folded in: a plain state_dict


def test_layerwise_pruning_removes_the_rate_from_every_layer(promoted, tmp_path):
    run, ids = promoted
    run = shutil.copytree(run, tmp_path / run.name)
    prune(run, ids[1], LotterySettings(levels=1, rate=0.5, rewind="0", layerwise=True), log=lambda line: None)
    for name, mask in _masks(run, ids[1], 1).items():
        assert mask.sum().item() == pytest.approx(mask.numel() / 2, abs=1), name


def test_the_tickets_start_from_the_dense_training_at_the_rewind_step(pruned, tmp_path):
    run, eval_id, _ = pruned
    folder = model_dir(run, eval_id)
    metrics = json.loads((folder / "metrics.json").read_text())
    config = config_from_dict(RunStore.open(run).read_config()["config"])
    data = training_data(config, resolution=metrics["resolution"], train_size=metrics["train_size"])
    replay = Training(Genome.from_json((folder / "genome.json").read_text()), data, epochs=metrics["epochs"],
                      lr=metrics["lr"], batch_size=metrics["batch_size"])
    replay.run(on_step=lambda training: training.step == 2 and training.save(tmp_path))
    kept = torch.load(lottery_dir(folder) / "rewind" / "model.pt", weights_only=True)
    replayed = torch.load(tmp_path / "model.pt", weights_only=True)
    assert kept.keys() == replayed.keys() and all(torch.equal(kept[key], replayed[key]) for key in kept)


def test_the_control_trains_the_last_mask_from_other_random_weights(pruned):
    run, eval_id, results = pruned
    control = results[-1]
    assert control["control"] and control["level"] == 2 and control["sparsity"] == results[-2]["sparsity"]
    lottery = lottery_dir(model_dir(run, eval_id))
    ticket, control_state = (torch.load(folder / "model.pt", weights_only=True)
                             for folder in (level_dir(lottery, 2), level_dir(lottery, 2) / "control"))
    for name, mask in _masks(run, eval_id, 2).items():
        weights = control_state[f"{name}.weight"]
        assert torch.all(weights[mask == 0] == 0) and not torch.equal(weights, ticket[f"{name}.weight"])
    rows = list(csv.DictReader((lottery / "curve.csv").open()))
    assert [(row["level"], row["control"]) for row in rows] == [("0", "False"), ("1", "False"), ("2", "False"),
                                                                 ("2", "True")]
    assert (lottery / "lottery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_more_levels_continue_a_finished_lottery(pruned, tmp_path):
    run, eval_id, _ = pruned
    run = shutil.copytree(run, tmp_path / run.name)
    lottery = lottery_dir(model_dir(run, eval_id))
    before = {level: (level_dir(lottery, level) / "metrics.json").read_bytes() for level in range(3)}
    # Begun before the recipe had a shift: its settings lack one, and it continues as a shift of 0.
    written = json.loads((lottery / "settings.json").read_text())
    assert written["recipe"].pop("shift") == 0.0
    (lottery / "settings.json").write_text(json.dumps(written))
    lines = []
    results = prune(run, eval_id, LotterySettings(levels=3, rate=0.5, rewind="2it"), log=lines.append)
    assert [line.split(":")[0] for line in lines] == ["level 3", "control (level 3's mask on fresh random weights)"]
    assert {level: (level_dir(lottery, level) / "metrics.json").read_bytes() for level in range(3)} == before
    assert results[-1]["level"] == 3 and results[-2]["sparsity"] == pytest.approx(0.875, abs=1e-3)


def test_a_pruned_level_exports_and_runs_with_its_zeros(pruned, tmp_path, capsys):
    run, eval_id, _ = pruned
    assert main(["export", str(run), str(eval_id), "--level", "2", "--out", str(tmp_path / "ticket.pt")]) == 0
    model = evohybrid.load_exported(tmp_path / "ticket.pt")
    masks = _masks(run, eval_id, 2)
    layers = dict(prunable(model.network))
    assert all(torch.all(layers[name].weight[mask == 0] == 0) for name, mask in masks.items())
    logits = model(torch.rand(3, 1, 28, 28))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_the_report_shows_each_pruned_model(pruned, tmp_path):
    run, eval_id, _ = pruned
    run = shutil.copytree(run, tmp_path / run.name)
    written = write_report([run])
    assert run / f"lottery-{eval_id}.png" in written
    assert f"Lottery ticket of model {eval_id}" in written[0].read_text()


@pytest.mark.parametrize("args, fragment", [
    (["--levels", "0"], "--levels must be at least 1"),
    (["--rate", "1.5"], "--rate must be between 0 and 1"),
    (["--rewind", "9ep"], "beyond the end of the promotion recipe"),
    (["--rewind", "soon"], "--rewind must be"),
    (["--rate", "0.3", "--rewind", "2it", "--levels", "2"], "pruned with other settings"),
    (["unpromoted"], "evohybrid promote"),
    (["export-level"], "no pruning level 7"),
])
def test_prune_errors_are_one_line_and_write_nothing(pruned, tmp_path, capsys, folder_listing, args, fragment):
    run, eval_id, _ = pruned
    before = folder_listing(run)
    if args == ["unpromoted"]:
        other = next(r["id"] for r in RunStore.open(run).records() if not model_dir(run, r["id"]).exists())
        command = ["prune", str(run), str(other)]
    elif args == ["export-level"]:
        command = ["export", str(run), str(eval_id), "--level", "7", "--out", str(tmp_path / "x.pt")]
    elif "9ep" in args:  # a model not pruned yet: its settings are free, the rewind point is not
        other = next(row["id"] for row in read_promoted(run) if row["id"] != eval_id)
        command = ["prune", str(run), str(other), *args]
    else:
        command = ["prune", str(run), str(eval_id), *args]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert folder_listing(run) == before and not (tmp_path / "x.pt").exists()
