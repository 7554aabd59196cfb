"""Calibration of beliefs against a known truth: how much probability an agent's posterior puts
on the hidden class, how often its argmax is right, how well its confidence matches its
accuracy, and its log loss. Numpy only.

Inputs are `beliefs` (E, T, ..., K): a posterior over K classes per episode, step and any
further item axes (the seats of a side, each with its own belief), `truths` (E,) int, the
episode's class, and `live` (E, T) bool, the steps an episode was still running. Every item of
a live step counts; items of one episode share its truth, so intervals come from a percentile
bootstrap over *episodes* (`arena.stats.bootstrap_ci`), never over items.

Metrics, per item, then averaged over the items of a range of steps:
- p(true): the probability on the true class;
- accuracy: argmax == truth (ties go to the lowest index, as numpy's argmax);
- NLL: -log p(true), p clipped at float32's machine epsilon (a point mass on a wrong class
  costs 15.9 nats, not infinity);
- ECE: items binned by confidence (the max probability) into BINS equal-width bins of [0, 1]
  (bin b holds [b/BINS, (b+1)/BINS), confidence 1 in the last); ECE = sum over bins of
  |sum of (confidence - correct) over the bin's items| / items, i.e. the bins' |confidence -
  accuracy| gaps weighted by their share of the items.

Each metric is a ratio of per-episode sums, so a bootstrap resample is a weighting of
episodes: resampled value = (counts @ numerators) / (counts @ denominators), the four metrics
computed from one set of resamples (`arena.stats.bootstrap_cis`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from arena.stats import Estimate, bootstrap_cis

BINS = 10  # equal-width confidence bins of the expected calibration error
EPS = float(np.finfo(np.float32).eps)  # floor of p(true) in the NLL
METRICS = ("p_true", "accuracy", "ece", "nll")


@dataclasses.dataclass(frozen=True)
class Items:
    """Per-item quantities of beliefs against truths, each (E, T, ...) like the beliefs
    without their class axis; `live` broadcast to the same shape."""

    p_true: np.ndarray
    correct: np.ndarray  # float 0/1
    confidence: np.ndarray
    live: np.ndarray  # bool

    @property
    def nll(self) -> np.ndarray:
        return -np.log(np.maximum(self.p_true, EPS))

    def bin(self, bins: int = BINS) -> np.ndarray:
        """Confidence bin index of each item: [b/bins, (b+1)/bins), 1.0 in the last bin."""
        return np.minimum((self.confidence * bins).astype(np.int64), bins - 1)


def items(beliefs: np.ndarray, truths: np.ndarray, live: np.ndarray) -> Items:
    """beliefs (E, T, ..., K), truths (E,) int, live (E, T) bool -> Items."""
    beliefs = np.asarray(beliefs, np.float64)
    truths = np.asarray(truths, np.int64)
    E, T = beliefs.shape[:2]
    if truths.shape != (E,) or np.shape(live) != (E, T):
        raise ValueError(f"beliefs {beliefs.shape} need truths ({E},) and live ({E}, {T}), "
                         f"got {truths.shape} and {np.shape(live)}")
    inner = beliefs.shape[2:-1]
    t = truths.reshape((E,) + (1,) * (1 + len(inner)))
    p_true = np.take_along_axis(beliefs, np.broadcast_to(t, beliefs.shape[:-1])[..., None], axis=-1)[..., 0]
    correct = (np.argmax(beliefs, axis=-1) == t).astype(np.float64)
    live = np.broadcast_to(np.asarray(live, bool).reshape((E, T) + (1,) * len(inner)), p_true.shape)
    return Items(p_true, correct, beliefs.max(axis=-1), live)


def _per_episode(x: np.ndarray, live: np.ndarray) -> np.ndarray:
    """(E,) sums of x over each episode's live items."""
    return np.where(live, x, 0.0).reshape(x.shape[0], -1).sum(axis=1)


def _weights(sample: np.ndarray, axis: int, n: int) -> np.ndarray:
    """How many times each of n episodes is drawn in each resample: `sample` holds episode
    indices (as floats) along `axis` -> (..., n) counts."""
    idx = np.moveaxis(np.asarray(sample), axis, -1).astype(np.int64)
    lead = idx.shape[:-1]
    rows = idx.reshape(-1, idx.shape[-1])
    offsets = np.arange(rows.shape[0])[:, None] * n
    counts = np.bincount((rows + offsets).ravel(), minlength=rows.shape[0] * n)
    return counts.reshape(*lead, n).astype(np.float64)


def _statistics(num: np.ndarray, signed: np.ndarray, den: np.ndarray):
    """A bootstrap statistic over episode indices: the drawn episodes' (p_true, accuracy, nll)
    as ratios of their summed numerators `num` (E, 3) to their summed items `den` (E,), and
    their ECE from each episode's per-bin sums of (confidence - correct) `signed` (E, bins)."""
    n = len(den)

    def stat(sample, axis):
        w = _weights(sample, axis, n)
        items = (w @ den)[..., None]
        return np.concatenate([w @ num / items, np.abs(w @ signed).sum(axis=-1, keepdims=True) / items], axis=-1)

    return stat


def estimates(it: Items, steps: slice = slice(None), *, bins: int = BINS, seed: int = 0,
              n_boot: int = 2000) -> dict[str, Estimate]:
    """{metric: Estimate} over the live items of `steps` (a slice of the T axis), bootstrapped
    over the episodes with at least one such item (n = how many); the four metrics share
    their resamples."""
    cut = lambda x: x[:, steps]  # noqa: E731
    live = cut(it.live)
    den = _per_episode(np.ones(live.shape), live)
    keep = den > 0
    if not keep.any():
        return {m: Estimate(float("nan"), None, None, 0) for m in METRICS}
    num = np.stack([_per_episode(cut(x), live) for x in (it.p_true, it.correct, it.nll)], axis=1)[keep]
    gap = np.where(live, cut(it.confidence) - cut(it.correct), 0.0).reshape(len(live), -1)
    which = cut(it.bin(bins)).reshape(len(live), -1)
    signed = np.stack([(gap * (which == b)).sum(axis=1) for b in range(bins)], axis=1)[keep]
    units = np.arange(int(keep.sum()), dtype=np.float64)
    found = bootstrap_cis(units, _statistics(num, signed, den[keep]), n_boot=n_boot, seed=seed)
    by_name = dict(zip(("p_true", "accuracy", "nll", "ece"), found))
    return {m: by_name[m] for m in METRICS}


def step_ranges(T: int, rows: int | None = None) -> list[tuple[int, int]]:
    """[t0, t1) ranges covering steps 0..T-1: one step each, or at most `rows` equal runs of
    consecutive steps (the last may be shorter)."""
    width = 1 if rows is None or rows >= T else -(-T // rows)
    return [(t, min(t + width, T)) for t in range(0, T, width)]


def per_step(it: Items, *, rows: int | None = None, bins: int = BINS, seed: int = 0,
             n_boot: int = 2000) -> list[dict]:
    """One row per range of steps (`step_ranges`): {"steps": [t0, t1), "episodes": n, and
    each metric as an Estimate dict}."""
    out = []
    for t0, t1 in step_ranges(it.live.shape[1], rows):
        est = estimates(it, slice(t0, t1), bins=bins, seed=seed, n_boot=n_boot)
        out.append({"steps": [t0, t1], "episodes": next(iter(est.values())).n,
                    **{m: e.to_dict() for m, e in est.items()}})
    return out


def reliability(it: Items, *, bins: int = BINS) -> list[dict]:
    """The reliability diagram over every live item: per confidence bin, its edges, items,
    mean confidence and accuracy (None in an empty bin)."""
    live = it.live
    which = it.bin(bins)[live]
    conf, correct = it.confidence[live], it.correct[live]
    out = []
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        out.append({"low": b / bins, "high": (b + 1) / bins, "items": n,
                    "confidence": float(conf[m].mean()) if n else None,
                    "accuracy": float(correct[m].mean()) if n else None})
    return out
