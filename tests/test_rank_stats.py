"""Rank statistics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evohybrid.rank_stats import (interval, kendall_tau, out_of_fold_fit, partial_tau, resample, spearman_rho,
                                  tau_within_groups)


def test_kendall_tau_b_with_a_tie():
    # 6 pairs: 5 concordant, 0 discordant, 1 tied in x only: 5 / sqrt((6 - 1) * (6 - 0)).
    assert kendall_tau(np.array([1, 2, 2, 3]), np.array([1, 2, 3, 4])) == pytest.approx(5 / math.sqrt(30))


def test_kendall_tau_of_a_constant_is_nan():
    assert math.isnan(kendall_tau(np.array([1, 1, 1]), np.array([1, 2, 3])))


def test_partial_tau_removes_what_size_explains():
    z = np.array([1, 2, 3, 4])
    x = np.array([1, 2, 4, 3])  # tau(x, z) = (5 - 1) / 6 = 2/3
    y = np.array([2, 1, 3, 4])  # tau(y, z) = 2/3; tau(x, y) = (4 - 2) / 6 = 1/3
    # (1/3 - 4/9) / sqrt((1 - 4/9)^2) = (-1/9) / (5/9)
    assert partial_tau(x, y, z) == pytest.approx(-0.2)
    assert math.isnan(partial_tau(z * 2, y, z))  # x is z itself: nothing left beyond it


def test_tau_within_groups_slices_by_size():
    size = np.arange(10)
    x = np.array([1, 2, 3, 4, 5, 5, 4, 3, 2, 1])
    y = np.array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
    assert tau_within_groups(x, y, size, 2) == pytest.approx([1.0, -1.0])
    shuffled = np.random.default_rng(0).permutation(10)  # the order of the architectures does not matter
    assert tau_within_groups(x[shuffled], y[shuffled], size[shuffled], 2) == pytest.approx([1.0, -1.0])
    assert all(math.isnan(value) for value in tau_within_groups(x, y, size, 5))  # slices of 2 rank nothing


def test_resamples_pair_up_and_give_an_interval():
    x, y = np.arange(12.0), np.arange(12.0) ** 2
    first = resample(12, lambda i: kendall_tau(x[i], y[i]), rounds=200)
    again = resample(12, lambda i: kendall_tau(x[i], y[i]), rounds=200)
    assert np.array_equal(first, again, equal_nan=True)
    assert interval(first) == pytest.approx([1.0, 1.0])


def test_out_of_fold_fit_recovers_a_linear_truth_and_never_sees_its_own_target():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(20, 3))
    target = 0.5 + features @ np.array([2.0, -1.0, 0.25])
    predictions = out_of_fold_fit(features, target)
    assert predictions == pytest.approx(target)
    changed = target.copy()
    changed[7] += 100.0  # only the folds that fitted on architecture 7 can move; its own prediction cannot
    moved = out_of_fold_fit(features, changed)
    assert moved[7] == pytest.approx(predictions[7])
    assert not np.allclose(moved, predictions)


def test_spearman_rho_by_hand():
    # ranks differ by one in two places: rho = 1 - 6 * (1 + 1) / (4 * (16 - 1)) = 0.8
    assert spearman_rho(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(0.8)


def test_top_ten_percent_hit_rate_by_hand():
    from evohybrid.study_analysis import analyse

    def lines(proxy: list[float]) -> list[dict]:
        common = [{"hash": f"h{i}", "genome": {}, "params": 100 + i, "flops": 1, "cost_s": 1.0} for i in range(10)]
        truth = [0.1, 0.5, 0.2, 0.9, 0.3, 0.4, 0.6, 0.7, 0.8, 0.35]  # architecture 3 is truly best
        return ([{**c, "proxy": "truth", "value": t} for c, t in zip(common, truth)]
                + [{**c, "proxy": "bn", "value": v} for c, v in zip(common, proxy)])

    hit = [0.0, 0.1, 0.2, 0.99, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]  # its best is architecture 3
    miss = [0.0, 0.1, 0.2, 0.3, 0.99, 0.4, 0.5, 0.6, 0.7, 0.8]  # its best is architecture 4
    assert analyse(lines(hit))["proxies"]["bn"]["top10_hit_rate"] == 1.0
    assert analyse(lines(miss))["proxies"]["bn"]["top10_hit_rate"] == 0.0
