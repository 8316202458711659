"""The proxy study end to end on the smoke config: every proxy measured once per genome, resumable, analysed."""

from __future__ import annotations

import json

import pytest

import evohybrid
from evohybrid.store import read_records
from evohybrid.errors import ConfigError
from evohybrid.study import (MEASUREMENTS_FILE, PROXIES, RECIPES_FILE, TRUTH, analyse, run_recipe_study, run_study,
                             spread_sample)


def quiet(line: str) -> None:
    pass


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory, smoke_config):
    """A proxy study of three architectures on the smoke config: (directory, summary)."""
    out = tmp_path_factory.mktemp("study") / "study"
    return out, run_study(out, smoke_config, n=3, truth_epochs=1, truth_train_size=1024, log=quiet)


def test_spread_sample_covers_the_parameter_range(smoke_split):
    space = evohybrid.load_space("tiny")
    genomes = spread_sample(space, 5, 0, smoke_split.image_shape, smoke_split.num_classes)
    params = [evohybrid.count_parameters(evohybrid.build_model(g)) for g in genomes]
    assert len({g.hash for g in genomes}) == 5
    assert params == sorted(params) and params[0] < params[-1]


def test_study_measures_every_proxy_once_and_resumes(smoke_study, smoke_config):
    out, summary = smoke_study
    lines = read_records(out / MEASUREMENTS_FILE)
    assert len(lines) == 3 * len(PROXIES)
    assert {line["proxy"] for line in lines} == set(PROXIES)
    assert summary["n"] == 3
    assert set(summary["proxies"]) == (set(PROXIES) - {TRUTH}) | {"params", "flops"}
    for entry in summary["proxies"].values():
        assert entry["cost_s"] >= 0 and 0 <= entry["top10_hit_rate"] <= 1
    assert (out / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text())["n"] == 3
    run_study(out, smoke_config, n=3, truth_epochs=1, truth_train_size=1024, log=quiet)  # resumed: nothing left to measure
    assert len(read_records(out / MEASUREMENTS_FILE)) == len(lines)


def test_analyse_finds_a_perfect_proxy():
    measurements = []
    for index in range(6):
        common = {"hash": f"h{index}", "genome": {}, "params": 100 + index, "flops": 1000 - index, "cost_s": 1.0}
        measurements.append({**common, "proxy": TRUTH, "value": index / 10})
        measurements.append({**common, "proxy": "bn", "value": index / 20})
    summary = analyse(measurements)
    assert summary["proxies"]["bn"]["kendall_tau"] == pytest.approx(1.0)
    assert summary["proxies"]["flops"]["kendall_tau"] == pytest.approx(-1.0)


def test_analyse_compares_each_proxy_with_a_baseline_on_the_same_resamples():
    measurements = []
    for index in range(8):
        common = {"hash": f"h{index}", "genome": {}, "params": 100 + index, "flops": 1000 - index, "cost_s": 1.0}
        measurements.append({**common, "proxy": TRUTH, "value": index / 10})
        measurements.append({**common, "proxy": "base", "value": (index * 5) % 8})  # a poor proxy
        measurements.append({**common, "proxy": "same", "value": (index * 5) % 8})
        measurements.append({**common, "proxy": "perfect", "value": index})
    summary = analyse(measurements, baseline="base")
    proxies = summary["proxies"]
    assert summary["baseline"] == "base" and "kendall_tau_minus_baseline" not in proxies["base"]
    # An identical proxy differs by exactly zero on every resample; a perfect one by 1 - tau(base).
    assert proxies["same"]["kendall_tau_minus_baseline"] == 0
    assert proxies["same"]["kendall_tau_minus_baseline_ci95"] == [0, 0]
    assert proxies["perfect"]["kendall_tau_minus_baseline"] == pytest.approx(1 - proxies["base"]["kendall_tau"])
    low, high = proxies["perfect"]["kendall_tau_minus_baseline_ci95"]
    assert 0 < low <= high


def test_recipe_study_measures_each_recipe_once_against_the_truth(smoke_study):
    out, _ = smoke_study
    recipes = {"default": {}, "more-steps": {"fitness": {"steps": 12}}, "native-size": {"data": {"resolution": 28}}}
    summary = run_recipe_study(out, recipes, log=quiet)
    lines = read_records(out / RECIPES_FILE)
    assert len(lines) == 3 * len(recipes)
    assert set(summary["proxies"]) == set(recipes) | {"params", "flops"}
    assert summary["recipes"] == recipes and summary["baseline"] == "default"  # the first recipe
    assert all("kendall_tau_minus_baseline" in summary["proxies"][name] for name in ("more-steps", "native-size"))
    # The unchanged recipe is the study's own BN-only fitness: the same accuracy for every architecture.
    bn = {m["hash"]: m["value"] for m in read_records(out / MEASUREMENTS_FILE) if m["proxy"] == "bn"}
    assert {m["hash"]: m["value"] for m in lines if m["proxy"] == "default"} == bn
    assert (out / "recipes_scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_recipe_study(out, recipes, log=quiet)  # resumed: nothing left to measure
    assert len(read_records(out / RECIPES_FILE)) == len(lines)


@pytest.mark.parametrize("recipe, message", [({"fitness": {"stepz": 3}}, "unknown config key 'fitness.stepz'"),
                                             ({"search": {"budget": 3}}, "data and fitness only"),
                                             ({"fitness": 3}, "must map sections")])
def test_a_bad_recipe_is_named_before_anything_is_measured(smoke_study, recipe, message):
    out, _ = smoke_study
    with pytest.raises(ConfigError, match=f"recipe 'bad'.*{message}"):
        run_recipe_study(out, {"fine": {}, "bad": recipe}, log=quiet)
