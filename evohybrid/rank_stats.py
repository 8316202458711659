"""Rank statistics for judging a fitness signal against a truth: Kendall tau, partial tau given size, tau within
size groups, bootstrap intervals over architectures, and a linear combination of signals fitted out of fold."""

from __future__ import annotations

import functools
import math
import warnings
from typing import Callable

import numpy as np


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b, (concordant - discordant) / sqrt(pairs untied in x * pairs untied in y); NaN when either
    side is constant. Counted over all pairs at once: scipy's kendalltau gives the same value but spends most of
    its time checking arguments, and the bootstrap calls this tens of thousands of times on a few dozen points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    first, second = _pairs(len(x))
    dx, dy = np.sign(x[second] - x[first]), np.sign(y[second] - y[first])
    untied = np.count_nonzero(dx) * np.count_nonzero(dy)
    return float(np.dot(dx, dy) / math.sqrt(untied)) if untied else math.nan


@functools.lru_cache(maxsize=32)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, k=1)


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of average ranks (ties share theirs); NaN when either side is
    constant or not finite. As with kendall_tau, scipy's spearmanr agrees at several times the cost."""
    rx, ry = _average_ranks(np.asarray(x, dtype=float)), _average_ranks(np.asarray(y, dtype=float))
    if rx is None or ry is None:
        return math.nan
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float(np.dot(rx, ry) / math.sqrt(np.dot(rx, rx) * np.dot(ry, ry)))


def _average_ranks(values: np.ndarray) -> np.ndarray | None:
    """Ranks from 1, tied values sharing the mean of their ranks; None for constant or non-finite values."""
    if not np.all(np.isfinite(values)):
        return None
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(counts) < 2:
        return None
    return (np.cumsum(counts) - (counts - 1) / 2)[inverse]


def partial_tau(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Kendall's partial tau of x and y given z: how well x ranks y beyond what z (e.g. parameter count) already
    ranks, (t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2)). Rank-based, so z and log z give the same value."""
    t_xy, t_xz, t_yz = kendall_tau(x, y), kendall_tau(x, z), kendall_tau(y, z)
    denominator = (1 - t_xz ** 2) * (1 - t_yz ** 2)
    # x or y ranked exactly as z: nothing is left to explain beyond z.
    return (t_xy - t_xz * t_yz) / math.sqrt(denominator) if denominator > 1e-12 else math.nan


def tau_within_groups(x: np.ndarray, y: np.ndarray, size: np.ndarray, groups: int) -> list[float]:
    """Kendall tau of x and y within each of `groups` equal slices of the architectures ordered by `size`
    (NaN for a slice of fewer than 3)."""
    slices = np.array_split(np.argsort(size, kind="stable"), groups)
    return [kendall_tau(x[index], y[index]) if len(index) >= 3 else math.nan for index in slices]


def resample(n: int, statistic: Callable[[np.ndarray], float], rounds: int = 1000) -> np.ndarray:
    """`statistic` of each of `rounds` resamples (with replacement) of n architectures. The resamples are the
    same on every call, so two signals' samples pair up and their difference has an interval."""
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample of repeated points may have NaN statistics
        return np.array([statistic(rng.integers(0, n, n)) for _ in range(rounds)], dtype=float)


def interval(samples: np.ndarray) -> list[float]:
    """The 95% interval of the finite samples."""
    finite = samples[np.isfinite(samples)]
    return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))] if len(finite) else [math.nan] * 2


def out_of_fold_fit(features: np.ndarray, target: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Predictions of `target` from a least-squares linear fit (with intercept) on standardised `features`
    (architectures x signals), each architecture predicted by the fit on the other folds only: a combined signal
    is never scored on the architectures it was fitted on."""
    n = len(target)
    order = np.random.default_rng(seed).permutation(n)
    predictions = np.empty(n)
    for held_out in np.array_split(order, min(folds, n)):
        fitted = np.setdiff1d(order, held_out)
        mean, std = features[fitted].mean(axis=0), features[fitted].std(axis=0)
        std[std == 0] = 1.0
        design = np.column_stack([np.ones(len(fitted)), (features[fitted] - mean) / std])
        weights = np.linalg.lstsq(design, target[fitted], rcond=None)[0]
        predictions[held_out] = np.column_stack([np.ones(len(held_out)), (features[held_out] - mean) / std]) @ weights
    return predictions
