"""Interval estimates for arena's numbers: numpy only, no jax.

Every reported score carries a confidence interval: a percentile bootstrap over the unit of
replication (episodes, or training seeds when agents come in seed groups).
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% (by default) confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"


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
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    point = float(statistic(x, axis=0)) if n else float("nan")
    if n < 2:
        return Estimate(point, point, point, n)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    stats = statistic(x[idx], axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Estimate(point, float(low), float(high), n)
