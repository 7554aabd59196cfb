"""Sequential early stopping for a head-to-head: the generalized SPRT of fishtest (numpy only).

H0: elo = elo0 against H1: elo = elo1, Elo on arena's scale (400/ln 10 times the Bradley–Terry
logit, so the expected score of one game is s = 1 / (1 + 10^(-elo/400))). Results are counted
by outcome; under each hypothesis the outcome distribution is the multinomial maximum
likelihood among those whose expected score is s, which is p_i / (1 + x (a_i - s)) with x the
root of sum_i p_i (a_i - s) / (1 + x (a_i - s)) = 0 (one dimension, bisection). The LLR is
sum_i n_i log(q1_i / q0_i); stop at log(beta / (1 - alpha)) (H0) or log((1 - beta) / alpha) (H1).

Pentanomial (the default): seat-swapped game pairs, each pair's total score in {0, 1/2, 1,
3/2, 2}; the pairing absorbs the seat advantage and the correlation within a pair. Trinomial:
single games, 0, 1/2 or 1. Outcomes never seen count 1e-3 (fishtest's regularisation), so
all-draw or all-win streams give finite numbers.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from arena.tournaments.ratings import ELO_SCALE

PENTANOMIAL = (0.0, 0.5, 1.0, 1.5, 2.0)  # a pair's total score
TRINOMIAL = (0.0, 0.5, 1.0)  # one game's score
_EPSILON = 1e-3  # count given to an outcome never seen


@dataclasses.dataclass(frozen=True)
class SprtConfig:
    elo0: float = 0.0
    elo1: float = 10.0
    alpha: float = 0.05
    beta: float = 0.05

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1 - self.alpha))

    @property
    def upper(self) -> float:
        return math.log((1 - self.beta) / self.alpha)


@dataclasses.dataclass(frozen=True)
class SprtResult:
    llr: float
    lower: float
    upper: float
    decision: str | None  # "H0", "H1", or None: keep playing
    games: int
    pairs: int  # seat-swapped pairs (0 for the trinomial test)
    elo_estimate: float  # from the mean score per game (regularised, so finite)


def expected_score(elo: float) -> float:
    return 1.0 / (1.0 + 10.0 ** (-elo / 400.0))


def mle_with_mean(values: np.ndarray, probs: np.ndarray, s: float) -> np.ndarray:
    """The distribution on `values` closest in likelihood to `probs` (all > 0) with mean s,
    min(values) < s < max(values): probs / (1 + x (values - s)) at the secular root x."""
    v = np.asarray(values, dtype=np.float64) - s
    p = np.asarray(probs, dtype=np.float64)
    # 1 + x v > 0 for every outcome bounds x to (-1/max v, -1/min v); the secular function is
    # decreasing there, from +inf to -inf: Newton's method, kept inside the shrinking bracket
    # by bisection whenever a step would leave it.
    lo, hi = -1.0 / v.max(), -1.0 / v.min()
    x = 0.0
    for _ in range(200):
        d = 1.0 + x * v
        f = np.sum(p * v / d)
        if f > 0:
            lo = x
        else:
            hi = x
        step = f / np.sum(p * v * v / (d * d))
        new = x + step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - x) <= 1e-15 * max(1.0, abs(x)) or f == 0:
            break
        x = new
    q = p / (1.0 + x * v)
    return q / q.sum()


def llr_counts(values: Sequence[float], counts: Sequence[float], s0: float, s1: float) -> float:
    """Generalized log-likelihood ratio of mean-s1 against mean-s0 for outcome counts (already
    regularised: all > 0), values scaled to [0, 1]."""
    values, counts = np.asarray(values, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    probs = counts / counts.sum()
    q0, q1 = mle_with_mean(values, probs, s0), mle_with_mean(values, probs, s1)
    return float(np.sum(counts * np.log(q1 / q0)))


def _counts(scores: Sequence[float], outcomes: tuple[float, ...]) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64).ravel()
    idx = np.searchsorted(outcomes, x)
    idx = np.clip(idx, 0, len(outcomes) - 1)
    if x.size and not np.allclose(np.asarray(outcomes)[idx], x):
        raise ValueError(f"scores must be in {outcomes}, got {sorted(set(x.tolist()) - set(outcomes))}")
    return np.bincount(idx, minlength=len(outcomes)).astype(np.float64)


def _test(counts: np.ndarray, outcomes: tuple[float, ...], config: SprtConfig, games_per: int) -> SprtResult:
    n = int(counts.sum())
    values = np.asarray(outcomes) / games_per  # the mean score per game of each outcome
    reg = np.where(counts > 0, counts, _EPSILON)
    if n:
        llr = llr_counts(values, reg, expected_score(config.elo0), expected_score(config.elo1))
        s = float(values @ reg / reg.sum())
        elo = ELO_SCALE * math.log(s / (1 - s))
    else:
        llr, elo = 0.0, 0.0
    decision = "H1" if llr >= config.upper else "H0" if llr <= config.lower else None
    return SprtResult(llr, config.lower, config.upper, decision, games=n * games_per,
                      pairs=n if games_per == 2 else 0, elo_estimate=elo)


def sprt(pairs: Sequence[float], config: SprtConfig = SprtConfig()) -> SprtResult:
    """Pentanomial SPRT over seat-swapped pairs: each entry a pair's total score in
    {0, 0.5, 1, 1.5, 2} from the tested agent's side."""
    return _test(_counts(pairs, PENTANOMIAL), PENTANOMIAL, config, 2)


def sprt_trinomial(games: Sequence[float], config: SprtConfig = SprtConfig()) -> SprtResult:
    """Trinomial SPRT over single games: each entry 0 (loss), 0.5 (draw) or 1 (win)."""
    return _test(_counts(games, TRINOMIAL), TRINOMIAL, config, 1)


def first_decision(scores: Sequence[float], config: SprtConfig = SprtConfig(), *, pentanomial: bool = True) -> SprtResult:
    """The test as a stream: the result at the first prefix that decides (or on all of it)."""
    outcomes, games_per = (PENTANOMIAL, 2) if pentanomial else (TRINOMIAL, 1)
    counts = np.zeros(len(outcomes))
    result = _test(counts, outcomes, config, games_per)
    for x in scores:
        counts += _counts([x], outcomes)
        result = _test(counts, outcomes, config, games_per)
        if result.decision:
            break
    return result
