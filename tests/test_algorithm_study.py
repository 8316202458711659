"""The search-efficiency study on real (tiny) searches: curves, pairing by seed, promotion, resumption, errors."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

import evohybrid
from evohybrid.distributed.job_pool import PoolOptions
from evohybrid.errors import RunDirError
from evohybrid.evolution.store import RunStore, read_records
from evohybrid.studies.algorithm_study import (PROMOTED_FILE, analyse_runs, evaluations_to_reach, format_bands,
                                               front_sample, search_label, study_algorithms)
from evohybrid.studies.truth import TruthSettings

BUDGET = 6
TRUTH = TruthSettings(epochs=1, seeds=2, val_size=512, train_size=512)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, smoke_config):
    """Random search and NSGA-II, seeds 0 and 1, six evaluations each, one at a time in this process."""
    base = tmp_path_factory.mktemp("algorithms")
    paths = []
    for seed in (0, 1):
        for algorithm in ("random", "nsga2"):
            config = smoke_config.override(None, seed=seed).override("search", algorithm=algorithm)
            paths.append(evohybrid.search(config, out=base / f"{algorithm}-{seed}", budget=BUDGET,
                                          progress=False).run_dir)
    return paths


def test_evaluations_to_reach_counts_from_one():
    assert evaluations_to_reach([0.1, 0.2, 0.2, 0.5], 0.2) == 2
    assert evaluations_to_reach([0.1, 0.2], 0.3) is None


def _hand_run(algorithm: str, seed: int, points: list[tuple[float, int]]) -> dict:
    """A run as `analyse_runs` reads it: (val_acc, params) per evaluation, in log order, all ok."""
    return {"path": Path(f"{algorithm}-{seed}"), "algorithm": algorithm, "seed": seed,
            "config": {"search": {"time_budget": None}},
            "records": [{"id": i, "status": "ok", "val_acc": acc, "params": params}
                        for i, (acc, params) in enumerate(points)]}


def test_evaluations_to_reach_random_pairs_runs_by_seed():
    runs = [
        # Seed 0: random search's front is (0.7, 500) alone from its 3rd evaluation on (it dominates the rest).
        _hand_run("random", 0, [(0.5, 1000), (0.6, 2000), (0.7, 500), (0.1, 5000)]),
        # NSGA-II finds that very point at its 2nd evaluation, then only dominated ones.
        _hand_run("nsga2", 0, [(0.1, 5000), (0.7, 500), (0.2, 4000), (0.3, 3000)]),
        # Seed 1: random search's 1st evaluation (0.9, 100) dominates everything either run finds afterwards.
        _hand_run("random", 1, [(0.9, 100), (0.2, 300), (0.4, 200), (0.9, 150)]),
        _hand_run("nsga2", 1, [(0.8, 100), (0.85, 200), (0.5, 1000), (0.3, 100)]),
    ]
    summary = analyse_runs(runs)
    assert summary["budget"] == 4
    # Paired with the other seed's random run instead, these would be {0: None, 1: 1}.
    assert summary["algorithms"]["nsga2"]["evaluations_to_reach_random"] == {0: 2, 1: None}
    assert summary["algorithms"]["random"]["evaluations_to_reach_random"] == {0: 3, 1: 1}


def test_study_compares_algorithms_paired_by_seed_and_promotes_their_best(runs, tmp_path):
    out = tmp_path / "study"
    summary = study_algorithms(runs, out, top=1, truth=TRUTH, pool=PoolOptions(workers=2), log=lambda line: None)
    assert summary["budget"] == BUDGET
    assert set(summary["algorithms"]) == {"random", "nsga2"}
    for entry in summary["runs"]:
        assert len(entry["curve"]) == BUDGET
        assert entry["curve"] == sorted(entry["curve"])  # the front only grows
    # Paired by seed: each run's count is where its own curve first reaches random search's final hypervolume
    # on the same seed (None: never), read off the curves reported for the runs.
    random_final = {e["seed"]: e["curve"][-1] for e in summary["runs"] if e["algorithm"] == "random"}
    for entry in summary["runs"]:
        target = random_final[entry["seed"]] - 1e-12  # equal fronts may differ in the last bit
        first = [count for count, value in enumerate(entry["curve"], start=1) if value >= target]
        reach = summary["algorithms"][entry["algorithm"]]["evaluations_to_reach_random"]
        assert reach[entry["seed"]] == (first[0] if first else None)
    promoted = read_records(out / PROMOTED_FILE)
    # Every run's best architecture, trained under both truth seeds.
    assert sorted((m["algorithm"], m["seed"], m["truth_seed"]) for m in promoted) == sorted(
        (algorithm, seed, truth_seed) for seed in (0, 1) for algorithm in ("random", "nsga2") for truth_seed in (0, 1))
    assert all(0.0 <= m["val_acc"] <= 1.0 for m in promoted)
    assert all(entry["promoted_mean_val_acc"] is not None for entry in summary["algorithms"].values())
    assert json.loads((out / "algorithms.json").read_text())["promotion"]["top"] == 1
    assert (out / "hypervolume.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    study_algorithms(runs, out, top=1, truth=TRUTH, pool=PoolOptions(executor="local"), log=lambda line: None)
    assert len(read_records(out / PROMOTED_FILE)) == len(promoted)  # resumed: nothing trained again
    with pytest.raises(RunDirError, match="truth with other settings"):
        study_algorithms(runs, out, top=1, truth=TruthSettings(epochs=2, val_size=512, train_size=512),
                         log=lambda line: None)
    assert len(read_records(out / PROMOTED_FILE)) == len(promoted)  # the refusal trained nothing


def test_runs_of_other_data_or_twice_the_same_search_are_refused(runs, tmp_path, smoke_config, folder_listing):
    other_data = evohybrid.search(smoke_config.override("data", val_size=200), out=tmp_path / "data", budget=2,
                                  progress=False).run_dir
    before = [folder_listing(run) for run in runs]
    with pytest.raises(RunDirError, match="different data settings"):
        study_algorithms([runs[0], other_data], tmp_path / "study", log=lambda line: None)
    with pytest.raises(RunDirError, match="same algorithm, fitness and seed"):
        study_algorithms([runs[0], runs[0]], tmp_path / "study", log=lambda line: None)
    assert [folder_listing(run) for run in runs] == before and not (tmp_path / "study").exists()


def test_a_run_saved_before_a_setting_existed_compares_with_its_default(runs, tmp_path):
    older = shutil.copytree(runs[1], tmp_path / "older")
    saved = json.loads((older / "config.json").read_text())
    del saved["config"]["fitness"]["bn_init"]  # as written before fitness.bn_init existed
    (older / "config.json").write_text(json.dumps(saved))
    summary = study_algorithms([runs[0], older], tmp_path / "study", log=lambda line: None)
    assert set(summary["algorithms"]) == {"random", "nsga2"}


@pytest.fixture(scope="module")
def timed_runs(tmp_path_factory, smoke_config):
    """Random search, NSGA-II and NSGA-II with rungs on seed 0, given the same (ample) time budget."""
    base = tmp_path_factory.mktemp("timed")
    config = smoke_config.override("search", time_budget=600.0)
    variants = {"random": config.override("search", algorithm="random"), "nsga2": config,
                "rungs": config.override("search", rungs=[{"steps": 20}], rung_fraction=0.5)}
    return [evohybrid.search(variant, out=base / name, budget=8, progress=False).run_dir
            for name, variant in variants.items()]


def test_front_sample_spreads_along_the_front():
    genome = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
    records = [{"id": i, "status": "ok", "val_acc": 0.1 * i, "params": 100 * (i + 1), "genome": genome}
               for i in range(5)]  # every record is on the front
    assert [r["id"] for r in front_sample(records, 3)] == [0, 2, 4]
    assert [r["id"] for r in front_sample(records, 9)] == [0, 1, 2, 3, 4]


def test_equal_time_runs_compare_their_true_fronts(timed_runs, tmp_path):
    out = tmp_path / "study"
    summary = study_algorithms(timed_runs, out, front=3, truth=TRUTH, pool=PoolOptions(executor="local"),
                               log=lambda line: None)
    assert summary["equal_time"] and set(summary["algorithms"]) == {"random", "nsga2", "nsga2+rungs"}
    rungs_run = next(e for e in summary["runs"] if e["algorithm"] == "nsga2+rungs")
    assert len(rungs_run["curve"]) == 8 + 4  # every evaluation of the run, its upgrades included
    promoted = read_records(out / PROMOTED_FILE)
    for entry in summary["runs"]:
        trained = {m["id"] for m in promoted if m["run"] == entry["run"]}
        assert 1 <= len(trained) <= 3 and {m["truth_seed"] for m in promoted} == {0, 1}
        assert {p["id"] for p in entry["true_front"]} <= trained
        assert entry["true_hypervolume"] > 0 and entry["best_true_val_acc_small"] is not None
    for name, entry in summary["algorithms"].items():
        assert entry["mean_true_hypervolume"] > 0
        assert set(entry["seeds_beating_random_true_hypervolume"]) <= {0}
    assert summary["algorithms"]["random"]["seeds_beating_random_true_hypervolume"] == []
    assert (out / "true_fronts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_given_different_time_budgets_are_refused(timed_runs, tmp_path, smoke_config, folder_listing):
    other = evohybrid.search(smoke_config.override("search", time_budget=300.0, algorithm="random"),
                             out=tmp_path / "other", budget=2, progress=False).run_dir
    before = folder_listing(timed_runs[1])
    with pytest.raises(RunDirError, match="different --time-budget"):
        study_algorithms([timed_runs[1], other], tmp_path / "study", log=lambda line: None)
    assert folder_listing(timed_runs[1]) == before and not (tmp_path / "study").exists()


def test_a_study_stopped_part_way_holds_an_equal_share_of_every_run(timed_runs, tmp_path):
    out = tmp_path / "study"
    lines = []

    def stop_after_three_architectures(line):
        lines.append(line)
        if len(lines) == 3 * TRUTH.seeds:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study_algorithms(timed_runs, out, front=3, truth=TRUTH, pool=PoolOptions(executor="local"),
                         log=stop_after_three_architectures)
    measured = (out / PROMOTED_FILE).read_bytes()
    summary = study_algorithms(timed_runs, out, front=3, truth=TRUTH, pool=PoolOptions(executor="local"),
                               log=lambda line: None, measure=False)
    assert (out / PROMOTED_FILE).read_bytes() == measured  # nothing trained
    assert [(e["truth_measured"], e["truth_chosen"] >= 1) for e in summary["runs"]] == [(1, True)] * 3
    assert all(e["true_hypervolume"] > 0 for e in summary["runs"])


def test_a_network_that_several_runs_of_one_seed_chose_is_trained_once_per_truth_seed(smoke_config, tmp_path):
    # Both NSGA-IIs start from the same random population of the same seed: with a budget of one population,
    # they evaluate the same networks.
    config = smoke_config.override("search", population=4)
    paths = [evohybrid.search(config.override("search", algorithm=algorithm), out=tmp_path / algorithm, budget=4,
                              progress=False).run_dir for algorithm in ("nsga2", "nsga2-steady")]
    out = tmp_path / "study"
    study_algorithms(paths, out, front=3, truth=TRUTH, pool=PoolOptions(executor="local"), log=lambda line: None)
    hashes = {(path.name, record["id"]): record["hash"] for path in paths for record in RunStore.open(path).records()}
    lines: dict[tuple, list[dict]] = {}
    for line in read_records(out / PROMOTED_FILE):
        lines.setdefault((line["seed"], hashes[(line["run"], line["id"])], line["truth_seed"]), []).append(line)
    assert any(len(same) > 1 for same in lines.values())
    for same in lines.values():
        trained = [line for line in same if "same_as" not in line]
        assert len(trained) == 1 and {line["val_acc"] for line in same} == {trained[0]["val_acc"]}
        assert all(line["same_as"] == {"run": trained[0]["run"], "id": trained[0]["id"]} and line["train_s"] == 0
                   for line in same if line is not trained[0])


def test_band_picks_are_trained_and_compared_with_the_reference_paired_by_seed(runs, tmp_path):
    out = tmp_path / "study"
    limits = (2_000, 1_000_000)
    summary = study_algorithms(runs, out, truth=TRUTH, pool=PoolOptions(executor="local"), log=lambda line: None,
                               bands=limits, reference="nsga2", hv_accuracy=0.5)
    promoted = read_records(out / PROMOTED_FILE)
    every = summary["bands"]["1000000"]
    assert set(every) == {"random", "random (largest)", "nsga2"}
    for label, entry in every.items():
        assert set(entry["true_val_acc"]) == {"0", "1"}
        for seed, pick in entry["picks"].items():
            # The pick's truth is the mean of its truth seeds, as trained.
            run = next(e["run"] for e in summary["runs"] if e["algorithm"] == label.split(" ")[0]
                       and e["seed"] == int(seed))
            values = [m["val_acc"] for m in promoted if m["run"] == run and m["id"] == pick["id"]]
            assert entry["true_val_acc"][seed] == pytest.approx(sum(values) / len(values))
        if label != "nsga2":
            difference = [every["nsga2"]["true_val_acc"][s] - entry["true_val_acc"][s] for s in ("0", "1")]
            assert entry["nsga2 minus this"] == pytest.approx(sum(difference) / 2)
            low, high = entry["nsga2 minus this, ci95"]
            assert min(difference) - 1e-12 <= low <= high <= max(difference) + 1e-12
    # Random search's largest pick under each limit is its largest network there.
    for seed, pick in every["random (largest)"]["picks"].items():
        records = RunStore.open(next(r for r in runs if r.name == f"random-{seed}")).records()
        assert pick["params"] == max(r["params"] for r in records if r["status"] == "ok")
    for entry in summary["runs"]:
        assert set(entry["true_hypervolume_from"]) == {"0", "chance", "0.5"}
        assert entry["true_hypervolume_from"]["0"] >= entry["true_hypervolume_from"]["chance"] \
            >= entry["true_hypervolume_from"]["0.5"]


def test_a_reference_that_names_no_run_is_a_one_line_error(runs, tmp_path):
    with pytest.raises(RunDirError, match="--reference 'aging' names none of the runs"):
        study_algorithms(runs, tmp_path / "study", log=lambda line: None, bands=(1000,), reference="aging")
    assert not (tmp_path / "study").exists()


def test_a_search_is_labelled_by_its_selection_its_screening_and_the_fitness_settings_the_runs_differ_in():
    config = evohybrid.Config().to_dict()
    assert search_label(config) == "nsga2"
    noise = evohybrid.Config().override("search", selection="noise", rungs=[{"steps": 80}]).to_dict()
    assert search_label(noise) == "nsga2+rungs+noise"
    screened = evohybrid.Config().override("search", screen_signal="naswot", screen_factor=4).to_dict()
    assert search_label(screened, ["lr", "steps"]) == "nsga2+screen(naswot x4) [lr 0.03, steps 40]"


def test_the_band_table_keeps_its_columns_in_line_for_labels_of_any_length():
    long = "nsga2 [precision bf16, steps 200, trainable bn+head, batch_size 128, lr 0.1]"
    entry = {"true_val_acc": {"0": 0.8, "1": 0.9}, "mean_true_val_acc": 0.85}
    compared = {**entry, "nsga2 minus this": 0.01, "nsga2 minus this, ci95": [-0.02, 0.04]}
    summary = {"reference_search": "nsga2", "bands": {"10000": {"nsga2": entry, long: compared}}}
    header, *rows = format_bands(summary).splitlines()
    end = header.index("true acc") + len("true acc")
    assert [row[end - 6:end] for row in rows] == ["0.8500", "0.8500"]
    assert rows[1].endswith("+0.0100 [-0.0200, +0.0400]") and long in rows[1]
