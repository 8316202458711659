"""The proxy study end to end on the smoke config: every proxy measured once per genome, resumable, analysed."""

from __future__ import annotations

import json

import pytest

import evohybrid
from evohybrid.store import read_records
from evohybrid.study import MEASUREMENTS_FILE, PROXIES, TRUTH, analyse, run_study, spread_sample


def test_spread_sample_covers_the_parameter_range(smoke_split):
    space = evohybrid.load_space("tiny")
    genomes = spread_sample(space, 5, 0, smoke_split.image_shape, smoke_split.num_classes)
    params = [evohybrid.count_parameters(evohybrid.build_model(g)) for g in genomes]
    assert len({g.hash for g in genomes}) == 5
    assert params == sorted(params) and params[0] < params[-1]


def test_study_measures_every_proxy_once_and_resumes(tmp_path, smoke_config):
    out = tmp_path / "study"
    summary = run_study(out, smoke_config, n=3, truth_epochs=1, truth_train_size=1024, log=lambda line: None)
    lines = read_records(out / MEASUREMENTS_FILE)
    assert len(lines) == 3 * len(PROXIES)
    assert {line["proxy"] for line in lines} == set(PROXIES)
    assert summary["n"] == 3
    assert set(summary["proxies"]) == (set(PROXIES) - {TRUTH}) | {"params", "flops"}
    for entry in summary["proxies"].values():
        assert entry["cost_s"] >= 0 and 0 <= entry["top10_hit_rate"] <= 1
    assert (out / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text())["n"] == 3
    run_study(out, smoke_config, n=3, truth_epochs=1, truth_train_size=1024, log=lambda line: None)  # resumed: nothing left to measure
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
