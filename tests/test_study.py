"""The proxy study end to end on the smoke config (every signal and the truth at each seed once, on a real Ray pool,
resumable, analysed), its analysis against hand-made measurements, and its one-line errors."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import evohybrid
from evohybrid.cli import main
from evohybrid.distributed.job_pool import PoolOptions
from evohybrid.errors import ConfigError, RunDirError
from evohybrid.evolution.store import read_records
from evohybrid.studies.analysis import TRUTH, analyse
from evohybrid.studies.proxy_study import MEASUREMENTS_FILE, RECIPES_FILE, SIGNALS, run_recipe_study, run_study, spread_sample
from evohybrid.rank_stats import partial_tau, tau_within_groups
from evohybrid.studies.truth import TruthSettings

N = 10
TRUTH_SETTINGS = TruthSettings(epochs=1, seeds=2, val_size=256, train_size=1024)


def quiet(line: str) -> None:
    pass


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory, smoke_config):
    """A proxy study of ten architectures on the smoke config, on a real Ray pool of two workers:
    (directory, summary)."""
    out = tmp_path_factory.mktemp("study") / "study"
    return out, run_study(out, smoke_config, n=N, truth=TRUTH_SETTINGS, pool=PoolOptions(workers=2), log=quiet)


def test_spread_sample_covers_the_parameter_range(smoke_split):
    space = evohybrid.load_space("tiny")
    genomes = spread_sample(space, 5, 0, smoke_split.input_shape, smoke_split.num_classes)
    params = [evohybrid.count_parameters(evohybrid.build_model(g)) for g in genomes]
    assert len({g.hash for g in genomes}) == 5
    assert params == sorted(params) and params[0] < params[-1]


def test_study_measures_every_signal_at_each_seed_once_and_resumes(smoke_study, smoke_config, tmp_path):
    out, summary = smoke_study
    lines = read_records(out / MEASUREMENTS_FILE)
    keys = [(line["hash"], line["proxy"], line["seed"]) for line in lines]
    assert len(keys) == len(set(keys)) == N * (2 + 2 * len(SIGNALS))  # truth x 2 seeds, every signal x 2 seeds
    assert {line["proxy"] for line in lines} == set(SIGNALS) | {TRUTH}
    assert summary["n"] == N and summary["default"] == "bn" and summary["truth_seeds"] == 2
    assert set(summary["proxies"]) >= set(SIGNALS) | {"params", "flops", "combined (bn, params, naswot)"}
    for entry in summary["proxies"].values():
        assert entry["cost_s"] >= 0 and 0 <= entry["top10_hit_rate"] <= 1
        assert "partial_tau_params" in entry and "kendall_tau_ci95" in entry
    assert "repeatability" in summary["proxies"]["bn"]
    assert set(summary["noise_ceiling"]) >= {"kendall_tau", "kendall_tau_ci95"}
    assert (out / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "summary.json").read_text())
    assert saved["n"] == N and saved["noise_ceiling"] == summary["noise_ceiling"]
    resumed = shutil.copytree(out, tmp_path / out.name)  # a resume rewrites the summary: not the shared study
    run_study(resumed, smoke_config, n=N, truth=TRUTH_SETTINGS, pool=PoolOptions(executor="local"), log=quiet)
    # Resumed: nothing left to measure, not a line added.
    assert (resumed / MEASUREMENTS_FILE).read_bytes() == (out / MEASUREMENTS_FILE).read_bytes()


def test_study_summary_analyses_what_is_measured_without_measuring(smoke_study, tmp_path, capsys):
    out, summary = smoke_study
    out = shutil.copytree(out, tmp_path / out.name)  # the summary is rewritten: not in the shared study
    lines = (out / MEASUREMENTS_FILE).read_bytes()
    assert main(["study", "summary", str(out)]) == 0
    assert (out / MEASUREMENTS_FILE).read_bytes() == lines
    assert json.loads((out / "summary.json").read_text())["n"] == summary["n"]
    assert "noise ceiling" in capsys.readouterr().out


def test_the_same_genome_at_the_same_seed_measures_the_same_in_a_worker_and_here(smoke_study, smoke_config, tmp_path):
    """A study resumed in this process continues the Ray pool's study: one value per (genome, signal, seed)."""
    out, _ = smoke_study
    lines = read_records(out / MEASUREMENTS_FILE)
    first = next(line for line in lines if line["proxy"] == "bn" and line["seed"] == 1)
    again = evohybrid.evaluate(evohybrid.Genome.from_dict(first["genome"]),
                               smoke_config.override(None, seed=smoke_config.seed + 1),
                               split=evohybrid.load_search_split(smoke_config))
    assert again["val_acc"] == first["value"]


def test_a_study_folder_with_other_settings_is_refused_and_left_alone(smoke_study, smoke_config, folder_listing):
    out, _ = smoke_study
    before = folder_listing(out)
    with pytest.raises(RunDirError, match="other settings"):
        run_study(out, smoke_config.override("fitness", steps=3), n=N, truth=TRUTH_SETTINGS, log=quiet)
    with pytest.raises(RunDirError, match="other settings"):
        run_study(out, smoke_config, n=N, truth=TruthSettings(epochs=2, val_size=256, train_size=1024), log=quiet)
    assert folder_listing(out) == before


def test_a_study_grows_keeping_what_it_measured_and_never_shrinks(smoke_study, smoke_config, tmp_path,
                                                                   folder_listing):
    out, _ = smoke_study
    grown = shutil.copytree(out, tmp_path / "grown")
    before = read_records(grown / MEASUREMENTS_FILE)
    summary = run_study(grown, smoke_config, n=N + 1, truth=TRUTH_SETTINGS, pool=PoolOptions(executor="local"),
                        log=quiet)
    after = read_records(grown / MEASUREMENTS_FILE)
    assert after[:len(before)] == before  # nothing measured again
    old, new = {m["hash"] for m in before}, {m["hash"] for m in after}
    assert old < new and len(new) == N + 1 and summary["n"] == N + 1
    assert json.loads((grown / "study.json").read_text())["sizes"] == [N, N + 1]
    listing = folder_listing(grown)
    with pytest.raises(RunDirError, match="may grow it, not shrink it"):
        run_study(grown, smoke_config, n=N, truth=TRUTH_SETTINGS, log=quiet)
    assert folder_listing(grown) == listing


def test_a_study_saved_before_a_setting_existed_still_resumes(smoke_study, smoke_config, tmp_path):
    out, _ = smoke_study
    older = tmp_path / "older"
    shutil.copytree(out, older)
    saved = json.loads((older / "study.json").read_text())
    del saved["config"]["search"]["rungs"], saved["config"]["fitness"]["bn_init"]  # as an earlier version wrote it
    (older / "study.json").write_text(json.dumps(saved))
    lines = (older / MEASUREMENTS_FILE).read_bytes()
    run_study(older, smoke_config.override("search", budget=99), n=N, truth=TRUTH_SETTINGS,
              pool=PoolOptions(executor="local"), log=quiet)  # search settings are no part of a study
    assert (older / MEASUREMENTS_FILE).read_bytes() == lines  # nothing measured again


@pytest.mark.parametrize("kwargs, message", [({"n": 9}, "at least 10 architectures"),
                                             ({"proxy_seeds": 0}, "--proxy-seeds must be at least 1"),
                                             ({"truth": TruthSettings(seeds=0, val_size=256)}, "--truth-seeds"),
                                             ({"truth": TruthSettings(val_size=100)}, "smaller than the search")])
def test_bad_study_settings_are_one_line_errors_before_anything_is_written(smoke_config, tmp_path, kwargs, message):
    settings = {"n": N, "truth": TRUTH_SETTINGS, **kwargs}
    with pytest.raises(ConfigError, match=message):
        run_study(tmp_path / "study", smoke_config, log=quiet, **settings)
    assert not (tmp_path / "study").exists()


def test_a_study_measures_only_what_it_is_told_on_local_processes(smoke_study, smoke_config, tmp_path):
    """The truth alone on two processes without Ray (as on a GPU machine), then one signal: each adds its own lines
    for the architecture the growth adds, and nothing else."""
    out, _ = smoke_study
    grown = shutil.copytree(out, tmp_path / "grown")
    before = read_records(grown / MEASUREMENTS_FILE)
    for measure in [(TRUTH,), ("bn",)]:
        run_study(grown, smoke_config, n=N + 1, truth=TRUTH_SETTINGS, measure=measure,
                  pool=PoolOptions(executor="local", workers=2), log=quiet)
    added = read_records(grown / MEASUREMENTS_FILE)[len(before):]
    assert sorted((m["proxy"], m["seed"]) for m in added) == [("bn", 0), ("bn", 1), ("bn-nas", 0), ("bn-nas", 1),
                                                              (TRUTH, 0), (TRUTH, 1)]
    assert len({m["hash"] for m in added}) == 1


@pytest.mark.parametrize("flags", [["--n", "5"], ["--truth-seeds", "0"], ["--measure", "truth,nope"],
                                   ["--workers", "2", "--executor", "local", "--worker-timeout", "5"]])
def test_study_cli_errors_exit_2_with_one_line(flags, tmp_path, capsys):
    try:
        code = main(["study", "proxy", "--config", "smoke", "--out", str(tmp_path / "s"), *flags])
    except SystemExit as stop:  # argparse's own checks
        code = stop.code
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_stopped_study_says_how_to_continue_and_continues(tmp_path):
    """Stopped on two local processes (SIGTERM to the parent alone: it ends its workers), then resumed."""
    command = [sys.executable, "-m", "evohybrid.cli", "study", "proxy", "--config", "smoke", "--n", "10",
               "--truth-epochs", "1", "--truth-train-size", "512", "--truth-val-size", "256", "--executor", "local",
               "--workers", "2", "--out", "study"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = tmp_path / "study" / MEASUREMENTS_FILE
    deadline = time.monotonic() + 300
    while not (lines.exists() and len(lines.read_text().splitlines()) >= 3):  # a condition, polled
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == ("evohybrid: stopped by SIGTERM: every finished measurement is saved; "
                                               "run the same command again to continue")
    before = read_records(lines)
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    after = read_records(lines)
    assert after[:len(before)] == before
    keys = [(m["hash"], m["proxy"], m["seed"]) for m in after]
    assert len(keys) == len(set(keys)) == N * (2 + 2 * len(SIGNALS))


def _measurements(truth: list[list[float]], signals: dict[str, list[float]]) -> list[dict]:
    """Hand-made measurement lines: truth[seed][architecture], signals[name][architecture]; params grow by index."""
    lines = []
    for index in range(len(truth[0])):
        common = {"hash": f"h{index}", "genome": {}, "params": 100 + index, "flops": 1000 - index, "cost_s": 1.0}
        lines += [{**common, "proxy": TRUTH, "seed": seed, "value": values[index]} for seed, values in enumerate(truth)]
        lines += [{**common, "proxy": name, "value": values[index]} for name, values in signals.items()]
    return lines


def test_the_truth_is_the_mean_of_its_seeds_and_their_agreement_is_the_noise_ceiling():
    seed_a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    seed_b = [0.2, 0.1, 0.3, 0.4, 0.6, 0.5]  # two adjacent pairs swapped: tau = (13 - 2) / 15
    summary = analyse(_measurements([seed_a, seed_b], {"bn": [0.15, 0.15, 0.3, 0.4, 0.55, 0.55]}))
    assert summary["noise_ceiling"]["kendall_tau"] == pytest.approx(11 / 15)
    assert summary["noise_ceiling"]["mean_abs_seed_difference"] == pytest.approx(0.4 / 6)
    assert summary["proxies"]["bn"]["kendall_tau"] == pytest.approx(1.0)  # bn is the mean truth, ties and all
    assert summary["truth"]["mean_val_acc"] == pytest.approx(np.mean(seed_a))
    # An architecture without every seed's truth is left out of everything.
    lines = [line for line in _measurements([seed_a, seed_b], {"bn": seed_a})
             if not (line["hash"] == "h5" and line["proxy"] == TRUTH and line["seed"] == 1)]
    assert analyse(lines)["n"] == 5
    # Nor do its costs count: a truth trained elsewhere, its signals not measured yet, leaves the seconds alone.
    lines = [line for line in _measurements([seed_a, seed_b], {"bn": seed_a})
             if not (line["hash"] == "h5" and line["proxy"] == "bn")]
    lines += [{**line, "hash": "h6", "cost_s": 99.0} for line in lines if line["hash"] == "h0" and line["proxy"] == TRUTH]
    assert analyse(lines)["truth"]["cost_s"] == pytest.approx(1.0)


def test_partial_tau_and_size_slices_in_the_summary_are_the_statistics_of_the_mean_truth():
    truth = [0.10, 0.30, 0.20, 0.40, 0.35, 0.50, 0.45, 0.60, 0.70, 0.65]
    bn = [0.2, 0.1, 0.3, 0.5, 0.4, 0.6, 0.5, 0.8, 0.7, 0.9]
    entry = analyse(_measurements([truth], {"bn": bn}))["proxies"]["bn"]
    t, b, size = np.array(truth), np.array(bn), np.arange(10)
    assert entry["partial_tau_params"] == pytest.approx(partial_tau(b, t, size))
    assert entry["kendall_tau_lower_half"] == pytest.approx(tau_within_groups(b, t, size, 2)[0])
    assert all(value != value for value in entry["kendall_tau_quintiles"])  # NaN: slices of 2 rank nothing


def test_a_combined_signal_is_scored_out_of_fold():
    rng = np.random.default_rng(3)
    bn, naswot = rng.uniform(0.1, 0.5, 12), rng.uniform(0, 10, 12)
    truth = 0.3 + 0.5 * bn - 0.02 * np.log10(np.arange(100, 112)) + 0.001 * naswot  # exactly linear in the parts
    summary = analyse(_measurements([list(truth)], {"bn": list(bn), "naswot": list(naswot)}))
    combined = summary["proxies"]["combined (bn, params, naswot)"]
    assert combined["kendall_tau"] == pytest.approx(1.0)
    assert combined["cost_s"] == pytest.approx(2.0)  # bn's and naswot's seconds; parameters are free


def test_analyse_finds_a_perfect_proxy():
    measurements = []
    for index in range(6):
        common = {"hash": f"h{index}", "genome": {}, "params": 100 + index, "flops": 1000 - index, "cost_s": 1.0}
        measurements.append({**common, "proxy": TRUTH, "value": index / 10})
        measurements.append({**common, "proxy": "bn", "value": index / 20})
    summary = analyse(measurements)
    assert summary["proxies"]["bn"]["kendall_tau"] == pytest.approx(1.0)
    assert summary["proxies"]["flops"]["kendall_tau"] == pytest.approx(-1.0)
    assert summary["noise_ceiling"] is None  # one truth seed: no ceiling to measure


def test_analyse_compares_each_signal_with_the_default_and_parameter_count_on_the_same_resamples():
    measurements = []
    for index in range(8):
        common = {"hash": f"h{index}", "genome": {}, "params": 100 + index, "flops": 1000 - index, "cost_s": 1.0}
        measurements.append({**common, "proxy": TRUTH, "value": index / 10})
        measurements.append({**common, "proxy": "base", "value": (index * 5) % 8})  # a poor proxy, the default
        measurements.append({**common, "proxy": "same", "value": (index * 5) % 8})
        measurements.append({**common, "proxy": "perfect", "value": index})
    summary = analyse(measurements, default="base")
    proxies = summary["proxies"]
    assert summary["default"] == "base" and "kendall_tau_minus_default" not in proxies["base"]
    # An identical proxy differs by exactly zero on every resample; a perfect one by 1 - tau(base).
    assert proxies["same"]["kendall_tau_minus_default"] == 0
    assert proxies["same"]["kendall_tau_minus_default_ci95"] == [0, 0]
    assert proxies["perfect"]["kendall_tau_minus_default"] == pytest.approx(1 - proxies["base"]["kendall_tau"])
    low, high = proxies["perfect"]["kendall_tau_minus_default_ci95"]
    assert 0 < low <= high
    # Parameter count is the other reference; here it ranks perfectly too, so the perfect proxy ties it.
    assert proxies["perfect"]["kendall_tau_minus_params"] == pytest.approx(0.0)
    assert "partial_tau_params_minus_params" not in proxies["perfect"]


def test_recipe_study_measures_each_recipe_once_against_the_truth(smoke_study, tmp_path):
    out, _ = smoke_study
    out = shutil.copytree(out, tmp_path / out.name)  # recipes are written next to the study: not the shared one
    recipes = {"default": {}, "more-steps": {"fitness": {"steps": 12}}, "native-size": {"data": {"resolution": 28}}}
    summary = run_recipe_study(out, recipes, log=quiet)
    lines = read_records(out / RECIPES_FILE)
    assert len(lines) == N * len(recipes)
    assert set(summary["proxies"]) == set(recipes) | {"params", "flops"}
    assert summary["recipes"] == recipes and summary["default"] == "default"  # the first recipe
    assert all("kendall_tau_minus_default" in summary["proxies"][name] for name in ("more-steps", "native-size"))
    # The unchanged recipe is the study's own BN-only fitness: the same accuracy for every architecture.
    bn = {m["hash"]: m["value"] for m in read_records(out / MEASUREMENTS_FILE) if m["proxy"] == "bn" and m["seed"] == 0}
    assert {m["hash"]: m["value"] for m in lines if m["proxy"] == "default"} == bn
    assert (out / "recipes_scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_recipe_study(out, recipes, log=quiet)  # resumed: nothing left to measure
    assert len(read_records(out / RECIPES_FILE)) == len(lines)


@pytest.mark.parametrize("recipe, message", [({"fitness": {"stepz": 3}}, "unknown config key 'fitness.stepz'"),
                                             ({"search": {"budget": 3}}, "data and fitness only"),
                                             ({"fitness": 3}, "must map sections")])
def test_a_bad_recipe_is_named_before_anything_is_measured(smoke_study, folder_listing, recipe, message):
    out, _ = smoke_study
    before = folder_listing(out)
    with pytest.raises(ConfigError, match=f"recipe 'bad'.*{message}"):
        run_recipe_study(out, {"fine": {}, "bad": recipe}, log=quiet)
    assert folder_listing(out) == before  # not even the fine recipe was measured


def test_the_simulated_ceiling_rises_with_seeds_and_is_exact_without_noise():
    from evohybrid.studies.analysis import ceiling_by_seeds

    rng = np.random.default_rng(1)
    true = np.linspace(0.80, 0.90, 30)
    a, b = true + rng.normal(0, 0.01, 30), true + rng.normal(0, 0.01, 30)
    simulated = ceiling_by_seeds(a, b, rounds=100)
    assert simulated["1"] < simulated["2"] < simulated["4"] < simulated["8"] <= 1.0
    assert ceiling_by_seeds(true, true, rounds=5) == {"1": 1.0, "2": 1.0, "4": 1.0, "8": 1.0}  # no seed noise
