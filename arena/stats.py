"""Interval estimates for arena's numbers: numpy only, no jax.

Every reported score carries a confidence interval: a percentile bootstrap over the unit of
replication (episodes, or training seeds when agents come in seed groups). Below MIN_UNITS
units a bootstrap has next to nothing to resample (two seeds give at most three distinct
resamples, one pair none), so the interval is left out (low = high = None) rather than
printed with a width that means nothing.
"""
from __future__ import annotations

import dataclasses

import numpy as np

# Fewest units (episodes, seeds, games) an interval is estimated from.
MIN_UNITS = 3


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% (by default) confidence interval; low and high are None
    when it rests on fewer than MIN_UNITS units (n)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def half_width(self) -> float | None:
        return (self.high - self.low) / 2 if self.low is not None and self.high is not None else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.mean:.3g} [n/a ({self.n} units)]"
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _too_few(point: float, n: int) -> Estimate:
    return Estimate(point, None, None, n)


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of values along `axis`."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    lo, hi = int(np.floor(0.25 * n)), int(np.ceil(0.75 * n))
    return np.take(x, np.arange(lo, max(hi, lo + 1)), axis=axis).mean(axis=axis)


def bootstrap_ci(
    x: np.ndarray,
    statistic=np.mean,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap of `statistic` over the first axis of x (N,) -> Estimate.

    Deterministic for a given seed, so the same match prints the same interval.
    """
    if len(x) == 0:
        return _too_few(float("nan"), 0)

    def one(a, axis):
        return np.asarray(statistic(a, axis=axis))[..., None]

    return bootstrap_cis(x, one, n_boot=n_boot, confidence=confidence, seed=seed)[0]


def bootstrap_cis(x: np.ndarray, statistics, *, n_boot: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> list[Estimate]:
    """`bootstrap_ci` of several statistics at once, over the same resamples of x (N, ...):
    `statistics(sample, axis)` maps samples with units along `axis` to a trailing axis of m
    values (one per statistic), computed once per resample; returns m Estimates. The intervals
    of statistic k are those `bootstrap_ci` gives it alone with the same seed. x holds at
    least one unit."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    points = np.asarray(statistics(x, axis=0), dtype=np.float64)
    if n < MIN_UNITS:
        return [_too_few(float(p), n) for p in points]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    stats = np.asarray(statistics(x[idx], axis=1))  # (n_boot, m)
    alpha = (1 - confidence) / 2
    lows, highs = np.quantile(stats, [alpha, 1 - alpha], axis=0)
    return [Estimate(float(p), float(lo), float(hi), n) for p, lo, hi in zip(points, lows, highs)]


def iqm_ci(x: np.ndarray, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Estimate:
    """IQM of x (N,) with its percentile-bootstrap interval."""
    return bootstrap_ci(x, iqm, n_boot=n_boot, confidence=confidence, seed=seed)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + 1/2 P(X = Y) for X drawn from x (N,) and Y from y (M,): the Mann-Whitney
    statistic that rliable reports as the probability of improvement of x over y."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    y = np.asarray(y, dtype=np.float64)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """probability_of_improvement with a stratified bootstrap: x and y resampled apart."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    point = probability_of_improvement(x, y)
    n = min(len(x), len(y))
    if len(x) < MIN_UNITS or len(y) < MIN_UNITS:
        return _too_few(point, n)
    rng = np.random.default_rng(seed)
    xs = x[rng.integers(0, len(x), size=(n_boot, len(x)))]
    ys = y[rng.integers(0, len(y), size=(n_boot, len(y)))]
    # Rank-free form per resample: mean over all (x, y) pairs, vectorised over resamples.
    stats = np.mean((xs[:, :, None] > ys[:, None, :]) + 0.5 * (xs[:, :, None] == ys[:, None, :]), axis=(1, 2))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Estimate(point, float(low), float(high), n)


def bootstrap_groups_ci(
    groups: list, statistic=np.mean, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Bootstrap over groups (the unit of replication, e.g. training seeds), each a 1-d array
    of observations (e.g. that seed's episodes): a resample draws whole groups with
    replacement and applies `statistic` to the pooled observations. n = number of groups."""
    groups = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    k = len(groups)
    pooled = np.concatenate(groups) if groups else np.zeros(0)
    point = float(statistic(pooled)) if pooled.size else float("nan")
    if k < MIN_UNITS:
        return _too_few(point, k)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(n_boot, k))
    stats = np.array([statistic(np.concatenate([groups[i] for i in row])) for row in draws])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Estimate(point, float(low), float(high), k)
