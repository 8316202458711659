"""Kinds of search space: conv2d genomes keep their form and hash, conv1d genomes build 1D networks over series,
spaces and data sets of different kinds refuse each other with one line, and the UCR sets bundled with aeon load
as (N, C, L) series that a conv1d search runs on."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
import torch

import evohybrid
from evohybrid.cli import main
from evohybrid.config import config_from_dict
from evohybrid.data import load_dataset, search_split
from evohybrid.dataset_names import UCR_SETS
from evohybrid.errors import ConfigError, GenomeError
from evohybrid.evolution.store import RunStore
from evohybrid.spaces.builder import build_model, count_flops
from evohybrid.spaces.genome import Genome, StageGene
from evohybrid.spaces.kinds import KINDS, check_input
from evohybrid.training.trainer import NATIVE, training_data

IMAGE_GENOME = {"stem_width": 8, "stages": [
    {"depth": 2, "width": 16, "kernel": 3, "stride": 1, "residual": [True, False]}, {"depth": 0},
    {"depth": 1, "width": 32, "kernel": 5, "stride": 2, "residual": [True]}]}


def test_a_conv2d_genome_keeps_the_form_and_hash_it_had_before_kinds_existed():
    genome = Genome.from_dict(IMAGE_GENOME)
    assert genome.kind == "conv2d" and "kind" not in genome.to_dict() and "dilation" not in genome.to_json()
    assert genome.hash == "35b242181b89e0e4"  # the hash written into every record of earlier runs


def test_the_kind_and_the_dilation_are_part_of_a_genome_identity():
    series = Genome.from_dict({**IMAGE_GENOME, "kind": "conv1d"})
    assert series.hash != Genome.from_dict(IMAGE_GENOME).hash and series.describe().startswith("conv1d:")
    assert Genome.from_json(series.to_json()) == series
    dilated = Genome(8, (StageGene(1, 16, 3, 1, (True,), dilation=4),), "conv1d")
    assert dilated.to_dict()["stages"][0]["dilation"] == 4 and "k3d4" in dilated.describe()
    assert Genome.from_json(dilated.to_json()) == dilated
    assert dilated.hash != Genome(8, (StageGene(1, 16, 3, 1, (True,)),), "conv1d").hash
    with pytest.raises(GenomeError, match="dilation"):
        StageGene(1, 16, 3, 1, (True,), dilation=0)


def test_the_conv1d_space_makes_conv1d_genomes_and_refuses_others():
    space = evohybrid.load_space("conv1d")
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in range(30)]
    genomes += [space.mutate(genome, rng) for genome in genomes] + [space.crossover(*genomes[:2], rng)]
    assert {genome.kind for genome in genomes} == {"conv1d"}
    assert len({stage.dilation for genome in genomes for stage in genome.stages if stage.depth}) > 1
    for genome in genomes:
        space.validate(genome)
    with pytest.raises(GenomeError, match="kind is conv1d"):
        space.validate(evohybrid.load_space("default").sample(rng))


def test_a_conv1d_network_reads_series_and_dilation_keeps_their_length():
    genome = Genome(4, (StageGene(1, 8, 5, 1, (True,), dilation=4), StageGene(1, 16, 3, 2, (False,))), "conv1d")
    model = build_model(genome, in_channels=3, num_classes=5)
    assert model(torch.randn(2, 3, 40)).shape == (2, 5)
    assert model.blocks[0](model.stem(torch.randn(2, 3, 40))).shape == (2, 8, 40)
    # Per output position, in-channels x taps: stem 4x40x(3x3); block 1 (dilated, residual: a 1x1 projection
    # from 4 to 8 channels) 8x40x(4x5) + 8x40x(8x5) + 8x40x4; block 2, stride 2 over 20 positions:
    # 16x20x(8x3) + 16x20x(16x3); the head 16x5.
    assert count_flops(model, (3, 40)) == 1440 + 6400 + 12800 + 1280 + 7680 + 15360 + 80
    with pytest.raises(GenomeError, match="reads series, but the data set holds images"):
        check_input(genome, (1, 28, 28))


def test_a_space_and_a_data_set_of_different_kinds_are_refused_before_anything_runs(tmp_path, capsys):
    for args in (["--space", "conv1d"], ["--space", "tiny", "--dataset", "ucr:GunPoint"]):
        assert main(["search", "--config", "smoke", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "use a space of kind" in err and "Traceback" not in err
        assert not (tmp_path / "run").exists()


def test_an_unknown_ucr_set_lists_the_bundled_ones():
    with pytest.raises(ConfigError, match="unknown UCR set 'Gunpoint': the bundled ones are ACSF1, ArrowHead"):
        config_from_dict({"data": {"dataset": "ucr:Gunpoint"}})
    assert set(KINDS) == {"conv2d", "conv1d"}


@pytest.fixture(scope="module")
def aeon():
    return pytest.importorskip("aeon", reason="the time-series extra is not installed")


@pytest.mark.parametrize("name", UCR_SETS)
def test_every_bundled_ucr_set_loads_as_series(aeon, name):
    data = load_dataset(f"ucr:{name}")
    assert data.train_inputs.dtype == torch.float32 and data.train_inputs.ndim == 3
    assert data.test_inputs.shape[1:] == data.input_shape and torch.isfinite(data.train_inputs).all()
    assert set(data.train_labels.tolist()) == set(range(data.num_classes)) >= set(data.test_labels.tolist())
    if name == "BasicMotions":
        assert data.input_shape[0] == 6  # multivariate: six channels
    if name == "JapaneseVowels":  # unequal lengths, zero-padded at the end to the longest
        assert (data.train_inputs[:, :, -1] == 0).all(dim=1).any()


def test_a_fraction_of_a_small_training_split_is_held_out_for_validation(aeon):
    data = load_dataset("ucr:GunPoint")
    split = search_split(data, val_size=0.2, train_size=None, seed=0)
    assert (len(split.val_labels), len(split.train_labels)) == (10, 40)
    assert split.mean.shape == split.std.shape == (1,)


def test_series_longer_than_the_resolution_are_averaged_down_to_it_and_shorter_ones_keep_their_length(aeon):
    data = load_dataset("ucr:GunPoint")  # 150 steps
    capped = search_split(data, val_size=0.2, train_size=None, seed=0, resolution=50)
    native = search_split(data, val_size=0.2, train_size=None, seed=0)
    assert capped.input_shape == (1, 50) and native.input_shape == (1, 150)
    # Each step of the capped series is the mean of three native steps, by hand.
    torch.testing.assert_close(capped.train_inputs[:, :, 7], native.train_inputs[:, :, 21:24].mean(dim=-1))
    assert torch.equal(search_split(data, val_size=0.2, train_size=None, seed=0, resolution=500).train_inputs,
                       native.train_inputs)


def test_a_promotion_trains_series_at_their_own_length_and_the_search_at_the_cap(aeon):
    config = evohybrid.load_config("timeseries").override("data", dataset="ucr:GunPoint", resolution=50)
    assert training_data(config).split.input_shape == (1, 50)
    native = training_data(config, resolution=NATIVE)
    assert native.split.input_shape == (1, 150) and native.test_inputs.shape[1:] == (1, 150)
    assert training_data(config).test_inputs.shape[1:] == (1, 50)  # the test series as the model saw its training


def test_a_conv1d_search_runs_on_a_ucr_set(aeon, tmp_path):
    config = evohybrid.load_config("timeseries").override("data", dataset="ucr:ItalyPowerDemand").override(
        "fitness", steps=5, threads=1).override("search", population=4)
    result = evohybrid.search(config, out=tmp_path / "run", budget=4, progress=False)
    assert [record["status"] for record in result.records] == ["ok"] * 4
    assert all(Genome.from_dict(record["genome"]).kind == "conv1d" for record in result.records)
    assert all(0.0 <= record["val_acc"] <= 1.0 and record["flops"] > 0 for record in result.records)


def test_the_timeseries_tables_keep_their_columns_in_line_for_set_names_of_any_length():
    from evohybrid.studies.timeseries_study import format_timeseries

    method = {"test_acc": 0.9, "params": 1000, "seconds": 10.0, "search_s": 100.0, "architecture": "a"}
    refit = {"train_series": 50, "ours": {"test_acc": 0.9, "per_seed": [0.9]}, "minirocket": {"test_acc": 0.8},
             "ensemble": {"test_acc": 0.95, "params": 3000}, "seed_ensemble": {"test_acc": 0.97, "params": 2000}}
    rows = [{"set": name, "published_minirocket": None, "ours": method, "minirocket": method, "elm": method,
             "refit": refit} for name in ("GunPoint", "PickupGestureWiimoteZ")]
    means = {"ours": 0.9, "minirocket": 0.9, "elm": 0.9}
    summary = {"sets": rows, "mean_test_acc": means, "mean_rank": means, "sets_ours_above_elm": 0,
               "refit": {"mean_test_acc": {**means, "ensemble": 0.95, "seed_ensemble": 0.97}, "sets": 2}}
    lines = format_timeseries(summary).splitlines()
    for start in (index for index, line in enumerate(lines) if line.startswith("set ")):  # each table's header
        header, table = lines[start], lines[start + 1:start + 4]
        end = header.index("ours") + len("ours")
        assert [line[end - 5:end] for line in table] == ["0.900"] * 3  # both sets and the mean, under "ours"
    seed_ens = lines[-4].index("seed ens") + len("seed ens")  # the refit's header, two sets and the mean below it
    assert [line[seed_ens - 5:seed_ens] for line in lines[-3:]] == ["0.970"] * 3


def test_the_timeseries_study_compares_our_winner_with_minirocket_and_an_elm(aeon, tmp_path, capsys):
    from evohybrid.studies.timeseries_study import TimeseriesSettings, format_timeseries, run_timeseries_study

    settings = TimeseriesSettings(sets=("ItalyPowerDemand",), budget=2, epochs=1, batch_size=32)
    # Through the command line and a Ray pool, as users run it; with torch on one thread, below the CPU count, so
    # that a library resetting the count (numba's OpenMP layer, under MiniRocket) would show.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["study", "timeseries", "--out", str(tmp_path / "study"), "--sets", "ItalyPowerDemand", "--budget",
                     "2", "--epochs", "1", "--batch-size", "32", "--refit-seeds", "2", "--workers", "1"]) == 0
        assert torch.get_num_threads() == 1  # the refit's trainings after MiniRocket keep the caller's threads
    finally:
        torch.set_num_threads(threads)
    summary = json.loads((tmp_path / "study" / "timeseries.json").read_text())
    (row,) = summary["sets"]
    assert row["set"] == "ItalyPowerDemand" and row["published_minirocket"] == 0.960
    for method in ("ours", "minirocket", "elm"):
        assert 0.0 <= row[method]["test_acc"] <= 1.0 and row[method]["seconds"] >= 0
    assert row["ours"]["search_s"] > 0
    # Both architectures of the budget promoted (fewer than the default three), the better one after promotion wins.
    candidates = row["ours"]["candidates"]
    assert len(candidates) == 2 and row["ours"]["id"] == candidates[0]["id"]
    assert candidates[0]["val_acc"] >= candidates[1]["val_acc"]
    assert row["ours"]["params"] == row["elm"]["params"]  # the ELM is the winner's architecture, untrained
    assert sum(summary["mean_rank"].values()) == 6  # on one set, three methods share the ranks 1 + 2 + 3
    refit = row["refit"]  # the winner and MiniRocket again, on every training series, two seeds each
    assert refit["seeds"] == [0, 1] and refit["train_series"] == 67 == row["train_series"] + 13
    for method in ("ours", "minirocket"):
        assert len(refit[method]["per_seed"]) == 2
        assert refit[method]["test_acc"] == pytest.approx(sum(refit[method]["per_seed"]) / 2)
    assert summary["refit"]["sets"] == 1
    assert "ItalyPowerDemand" in format_timeseries(summary) and "refit on the whole training split" in format_timeseries(summary)
    finished = [tmp_path / "study" / "ItalyPowerDemand" / name for name in ("result.json", "refit.json")]
    before = [path.read_bytes() for path in finished]
    run_timeseries_study(tmp_path / "study", settings, log=lambda line: None)  # a finished set is not measured again
    assert [path.read_bytes() for path in finished] == before
    # Each training of the refit is kept as it finishes: a refit stopped after its first goes on with the second.
    refits = tmp_path / "study" / "ItalyPowerDemand" / "refits.jsonl"
    first, second = refits.read_bytes().splitlines(keepends=True)
    assert [(json.loads(line)["id"], json.loads(line)["seed"]) for line in (first, second)] == [
        (row["ours"]["id"], 0), (row["ours"]["id"], 1)]
    refits.write_bytes(first)
    finished[1].unlink()
    run_timeseries_study(tmp_path / "study", replace(settings, refit_seeds=2), log=lambda line: None)
    again = refits.read_bytes().splitlines(keepends=True)
    assert again[0] == first and [json.loads(line)["seed"] for line in again] == [0, 1]
    assert json.loads(finished[1].read_text())["ours"]["per_seed"][0] == refit["ours"]["per_seed"][0]
    finished[1].write_bytes(before[1])
    # A set finished by an earlier run of the folder stays in the summary of a run that names only another.
    earlier = tmp_path / "study" / "UnitTest"
    earlier.mkdir()
    (earlier / "result.json").write_text(json.dumps({**json.loads(before[0]), "set": "UnitTest"}))
    (earlier / "refit.json").write_bytes(before[1])
    summary = run_timeseries_study(tmp_path / "study", settings, log=lambda line: None)
    assert {row["set"] for row in summary["sets"]} == {"ItalyPowerDemand", "UnitTest"} and summary["refit"]["sets"] == 2
    assert set(summary["settings"]["sets"]) == {"ItalyPowerDemand", "UnitTest"}
    assert len(json.loads((tmp_path / "study" / "timeseries.json").read_text())["sets"]) == 2
    assert main(["study", "timeseries", "--out", str(tmp_path / "x"), "--sets", "Gunpoint"]) == 2
    assert "unknown UCR set 'Gunpoint'" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["study", "timeseries", "--out", str(tmp_path / "x"), "--executor", "local", "--workers", "2"]) == 2
    assert "--executor ray" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_the_timeseries_study_chooses_by_cross_validation_and_refits_an_ensemble(aeon, tmp_path, capsys):
    out = tmp_path / "study"
    study = ["study", "timeseries", "--out", str(out), "--sets", "ItalyPowerDemand", "--budget", "3", "--epochs", "1",
             "--batch-size", "32", "--refit-seeds", "1", "--space", "series", "--fitness-folds", "2", "--fitness-batch",
             "8", "--cv-folds", "2", "--max-params", "100000000", "--shift", "0.05", "--executor", "local"]
    assert main([*study, "--ensemble", "2"]) == 0
    summary = json.loads((out / "timeseries.json").read_text())
    (row,) = summary["sets"]
    run = out / "ItalyPowerDemand" / "search"
    records = RunStore.open(run).records()
    assert all(len(record["val_accs"]) == 2 for record in records)  # the fitness over two folds of its slices
    assert json.loads((run / "config.json").read_text())["config"]["fitness"]["batch_size"] == 8
    assert all(Genome.from_dict(record["genome"]).kind == "conv1d" for record in records)
    candidates = row["ours"]["candidates"]
    assert len(candidates) == 3 and [c["cv_acc"] for c in candidates] == sorted((c["cv_acc"] for c in candidates),
                                                                                  reverse=True)
    cross = json.loads((run / "cross_validation" / "summary.json").read_text())
    assert row["ours"]["id"] == candidates[0]["id"] == cross["winner"]
    assert cross["settings"]["max_params"] == summary["settings"]["max_params"] == 100_000_000
    promoted = sorted(int(path.name) for path in (run / "promoted").iterdir() if path.name.isdigit())
    assert promoted == [row["ours"]["id"]]  # only the winner is promoted
    # The recipe's shift reaches the cross-validation and the promotion (whose recipe the refit reads).
    assert cross["settings"]["shift"] == 0.05 == json.loads((run / "promoted" / str(row["ours"]["id"]) /
                                                             "metrics.json").read_text())["shift"]
    ensemble = row["refit"]["ensemble"]
    by_id = {record["id"]: record for record in records}
    assert ensemble["members"] == [c["id"] for c in candidates[:2]]
    assert ensemble["params"] == sum(by_id[i]["params"] for i in ensemble["members"])
    assert len(ensemble["per_seed"]) == 1 and 0.0 <= ensemble["test_acc"] <= 1.0
    assert summary["refit"]["mean_test_acc"]["ensemble"] == ensemble["test_acc"]
    refits = [json.loads(line) for line in (out / "ItalyPowerDemand" / "refits.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in refits) == sorted(ensemble["members"])  # the winner, a member, trained once
    printed = capsys.readouterr().out
    assert f"{ensemble['params']:,}" in printed
    # Each training of the cross-validation and of the refit is reported as it ends.
    assert "cross-validation: 6 of 6 trainings" in printed and "ItalyPowerDemand: refit, 2 of 2 trainings" in printed
    # A seed ensemble asked of the finished study trains only the winner's new seed, and leaves the rest as it was.
    winner, kept = row["ours"]["id"], (out / "ItalyPowerDemand" / "refits.jsonl").read_text().splitlines()
    assert main([*study, "--ensemble", "2", "--seed-ensemble", "2"]) == 0
    lines = (out / "ItalyPowerDemand" / "refits.jsonl").read_text().splitlines()
    assert lines[:2] == kept and [(json.loads(line)["id"], json.loads(line)["seed"]) for line in lines[2:]] == [
        (winner, 1)]
    refit = json.loads((out / "ItalyPowerDemand" / "refit.json").read_text())
    assert refit["ours"] == row["refit"]["ours"] and refit["ensemble"] == ensemble
    assert refit["minirocket"] == row["refit"]["minirocket"]  # kept as measured, its seconds too
    seed_ensemble = refit["seed_ensemble"]
    assert seed_ensemble["seeds"] == [[0, 1]] and seed_ensemble["params"] == 2 * by_id[winner]["params"]
    logits = torch.tensor([json.loads(line)["test_logits"] for line in lines if json.loads(line)["id"] == winner])
    labels = load_dataset("ucr:ItalyPowerDemand").test_labels
    assert seed_ensemble["per_seed"] == [float((logits.mean(dim=0).argmax(dim=1) == labels).double().mean())]
    summary = json.loads((out / "timeseries.json").read_text())
    assert summary["refit"]["mean_test_acc"]["seed_ensemble"] == seed_ensemble["test_acc"]
    # A larger ensemble asked of it trains only the new member; the seed ensemble stays.
    assert main([*study, "--ensemble", "3", "--seed-ensemble", "2"]) == 0
    again = (out / "ItalyPowerDemand" / "refits.jsonl").read_text().splitlines()
    assert again[:3] == lines and [(json.loads(line)["id"], json.loads(line)["seed"]) for line in again[3:]] == [
        (candidates[2]["id"], 0)]
    refit = json.loads((out / "ItalyPowerDemand" / "refit.json").read_text())
    assert refit["ensemble"]["members"] == [c["id"] for c in candidates] and refit["seed_ensemble"] == seed_ensemble


@pytest.mark.parametrize("flags, fragment", [(["--cv-folds", "1"], "--cv-folds"),
                                             (["--ensemble", "5"], "--ensemble must be 0 or between 2 and"),
                                             (["--seed-ensemble", "1"], "--seed-ensemble must be 0 or at least 2"),
                                             (["--seed-ensemble", "2", "--refit-seeds", "0"], "--refit-seeds 1"),
                                             (["--cv-folds", "3", "--promote-top", "1"], "--promote-top 2 or more")])
def test_the_timeseries_study_refuses_a_choice_it_cannot_make(tmp_path, capsys, flags, fragment):
    assert main(["study", "timeseries", "--out", str(tmp_path / "x"), "--executor", "local", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and not (tmp_path / "x").exists()
