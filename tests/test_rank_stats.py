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
    from evohybrid.studies.analysis import analyse

    def lines(proxy: list[float]) -> list[dict]:
        common = [{"hash": f"h{i}", "genome": {}, "params": 100 + i, "flops": 1, "cost_s": 1.0} for i in range(10)]
        truth = [0.1, 0.5, 0.2, 0.9, 0.3, 0.4, 0.6, 0.7, 0.8, 0.35]  # architecture 3 is truly best
        return ([{**c, "proxy": "truth", "value": t} for c, t in zip(common, truth)]
                + [{**c, "proxy": "bn", "value": v} for c, v in zip(common, proxy)])

    hit = [0.0, 0.1, 0.2, 0.99, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]  # its best is architecture 3
    miss = [0.0, 0.1, 0.2, 0.3, 0.99, 0.4, 0.5, 0.6, 0.7, 0.8]  # its best is architecture 4
    assert analyse(lines(hit))["proxies"]["bn"]["top10_hit_rate"] == 1.0
    assert analyse(lines(miss))["proxies"]["bn"]["top10_hit_rate"] == 0.0


# -- independent implementations, for checks the code under test must agree with ------------------------------------

def _tau_b_by_pairs(x, y) -> float:
    """Kendall's tau-b by counting every pair: (C - D) / sqrt((n0 - ties in x) (n0 - ties in y))."""
    n = len(x)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[j] - x[i], y[j] - y[i]
            tied_x += dx == 0
            tied_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    pairs = n * (n - 1) // 2
    denominator = (pairs - tied_x) * (pairs - tied_y)
    return (concordant - discordant) / math.sqrt(denominator) if denominator else math.nan


def _percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between the two nearest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _bootstrap_interval(n: int, statistic, rounds: int = 1000) -> list[float]:
    """The percentile bootstrap as documented: resamples of n indices with replacement from default_rng(0), the same
    draws for every statistic, the 2.5th and 97.5th percentiles of the finite values."""
    rng = np.random.default_rng(0)
    values = [statistic(rng.integers(0, n, n)) for _ in range(rounds)]
    finite = [value for value in values if math.isfinite(value)]
    return [_percentile(finite, 2.5), _percentile(finite, 97.5)]


def _measurements(truth: list[float], signals: dict[str, list[float]], params: list[int]) -> list[dict]:
    """Study lines for architectures 0..n-1: the truth at seed 0 and each signal at seed 0."""
    common = [{"hash": f"h{i:02d}", "genome": {}, "params": p, "flops": 1, "cost_s": 1.0} for i, p in enumerate(params)]
    lines = [{**c, "proxy": "truth", "value": t} for c, t in zip(common, truth)]
    for name, values in signals.items():
        lines += [{**c, "proxy": name, "value": v} for c, v in zip(common, values)]
    return lines


def test_kendall_tau_b_with_ties_on_both_sides():
    x = np.array([1, 2, 2, 2, 3])
    y = np.array([2, 3, 1, 1, 4])
    # 10 pairs: (0,1) (0,4) (1,4) (2,4) (3,4) concordant = 5; (0,2) (0,3) discordant = 2;
    # (1,2) (1,3) (2,3) tied in x = 3; (2,3) tied in y = 1.  tau-b = (5 - 2) / sqrt((10 - 3)(10 - 1)) = 1/sqrt(7).
    assert kendall_tau(x, y) == pytest.approx(1 / math.sqrt(7))
    assert _tau_b_by_pairs(x, y) == pytest.approx(1 / math.sqrt(7))  # the helper the bootstrap checks rely on


def test_spearman_rho_with_ties_uses_mid_ranks():
    # Ranks of x with the tie shared: 1, 2.5, 2.5, 4; of y: 1, 3, 2, 4. Pearson of the ranks (means 2.5):
    # sum of products 2.25 + 0 + 0 + 2.25 = 4.5, sums of squares 4.5 and 5, rho = 4.5 / sqrt(22.5) = sqrt(9/10).
    # (The no-ties shortcut 1 - 6 * 0.5 / 60 = 0.95 would be wrong here.)
    assert spearman_rho(np.array([1, 2, 2, 3]), np.array([1, 3, 2, 4])) == pytest.approx(math.sqrt(0.9))


def test_tau_within_halves_splits_an_odd_count_smaller_half_first():
    size = np.array([50, 10, 40, 20, 90, 30, 70, 60, 80])  # by size: 1, 3, 5, 2, 0 | 7, 6, 8, 4
    x, y = np.zeros(9), np.zeros(9)
    # Lower half (5, the larger slice): the tied case above, tau-b = 1/sqrt(7).
    x[[1, 3, 5, 2, 0]], y[[1, 3, 5, 2, 0]] = [1, 2, 2, 2, 3], [2, 3, 1, 1, 4]
    # Upper half (4): one swapped pair of 6, tau = (5 - 1) / 6 = 2/3.
    x[[7, 6, 8, 4]], y[[7, 6, 8, 4]] = [1, 2, 3, 4], [1, 3, 2, 4]
    assert tau_within_groups(x, y, size, 2) == pytest.approx([1 / math.sqrt(7), 2 / 3])
    from evohybrid.studies.analysis import analyse

    entry = analyse(_measurements(list(y), {"bn": list(x)}, list(size)))["proxies"]["bn"]
    halves = (entry["kendall_tau_lower_half"], entry["kendall_tau_upper_half"])
    assert halves == pytest.approx((1 / math.sqrt(7), 2 / 3))  # the smaller networks' half is the lower one


def test_top_ten_percent_of_twenty_is_two_architectures():
    from evohybrid.studies.analysis import analyse

    truth = [i / 100 for i in range(20)]  # architectures 19 and 18 are truly best
    one_of_two = truth[:17] + [0.99, 0.0, 0.5]  # its best two are 17 and 19: one hit of two
    summary = analyse(_measurements(truth, {"bn": one_of_two}, list(range(100, 120))))
    assert summary["proxies"]["bn"]["top10_hit_rate"] == 0.5
    assert summary["proxies"]["params"]["top10_hit_rate"] == 1.0  # size ranks like the truth here


def test_top_ten_percent_of_twenty_five_rounds_half_up_to_three():
    from evohybrid.studies.analysis import analyse

    truth = [i / 100 for i in range(25)]  # architectures 24, 23 and 22 are truly best
    proxy = [0.22] + truth[1:22] + [0.0, 0.23, 0.24]  # its best three are 24, 23 and 0: two hits of three
    summary = analyse(_measurements(truth, {"bn": proxy}, list(range(100, 125))))
    assert summary["proxies"]["bn"]["top10_hit_rate"] == pytest.approx(2 / 3)  # a top of 2 would score 1.0


def test_bootstrap_intervals_match_an_independent_percentile_bootstrap():
    from evohybrid.studies.analysis import analyse

    truth = [0.60, 0.72, 0.65, 0.80, 0.70, 0.90, 0.75, 0.85]
    bn = [0.30, 0.35, 0.50, 0.45, 0.40, 0.70, 0.40, 0.60]  # a tie, and some pairs out of order
    params = [400, 100, 300, 200, 500, 800, 600, 700]
    entry = analyse(_measurements(truth, {"bn": bn}, params), truth_seeds=1)["proxies"]["bn"]
    t, b, p = np.array(truth), np.array(bn), np.array(params)
    expected = _bootstrap_interval(8, lambda i: _tau_b_by_pairs(b[i], t[i]))
    assert entry["kendall_tau_ci95"] == pytest.approx(expected)
    # Paired: both signals' tau on the same resample, then the difference, resample by resample.
    paired = _bootstrap_interval(8, lambda i: _tau_b_by_pairs(b[i], t[i]) - _tau_b_by_pairs(p[i], t[i]))
    assert entry["kendall_tau_minus_params_ci95"] == pytest.approx(paired)
    # Unpaired intervals would not give it: the difference of the two intervals' ends is another interval.
    alone = _bootstrap_interval(8, lambda i: _tau_b_by_pairs(p[i], t[i]))
    assert paired != pytest.approx([expected[0] - alone[1], expected[1] - alone[0]])


def test_tau_and_rho_agree_with_scipy_on_random_cases_with_ties():
    """scipy's kendalltau (tau-b) and spearmanr are the reference implementations ours replace for speed."""
    import warnings

    from scipy import stats

    rng = np.random.default_rng(7)
    for case in range(300):
        n = int(rng.integers(2, 30))
        x = rng.integers(0, int(rng.integers(1, 6)), n).astype(float)  # often tied, sometimes constant
        y = rng.normal(size=n) if case % 2 else rng.integers(0, 4, n).astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns on a constant side, where both answer NaN
            expected = (stats.kendalltau(x, y)[0], stats.spearmanr(x, y)[0])
        for ours, theirs in zip((kendall_tau(x, y), spearman_rho(x, y)), expected):
            assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, abs=1e-12), (x, y)
