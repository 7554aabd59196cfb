"""The generalized SPRT against values computed by hand (numpy only, no jax)."""
import math

import numpy as np
import pytest

from arena.tournaments.ratings import ELO_SCALE
from arena.tournaments.sprt import (
    SprtConfig,
    expected_score,
    first_decision,
    mle_with_mean,
    sprt,
    sprt_trinomial,
)

CFG = SprtConfig(elo0=0.0, elo1=10.0, alpha=0.05, beta=0.05)


def trinomial_mle_by_hand(counts, s):
    """MLE of (L, D, W) probabilities with mean score s: p_i / (1 + x v_i), v = (0, 1/2, 1) - s,
    where x solves sum p_i v_i / (1 + x v_i) = 0. Cleared of denominators that is the
    quadratic a x^2 + b x + c = 0 below; the root wanted keeps every 1 + x v_i > 0."""
    p = np.asarray(counts, float) / sum(counts)
    v = np.array([0.0, 0.5, 1.0]) - s
    a = sum(p[i] * v[i] * v[j] * v[k] for i, j, k in [(0, 1, 2), (1, 0, 2), (2, 0, 1)])
    b = sum(p[i] * v[i] * (v[j] + v[k]) for i, j, k in [(0, 1, 2), (1, 0, 2), (2, 0, 1)])
    c = float(p @ v)
    if abs(a) < 1e-15:  # s = 1/2 zeroes v_D, and the equation is linear
        roots = [-c / b]
    else:
        roots = [(-b + sg * math.sqrt(b * b - 4 * a * c)) / (2 * a) for sg in (1, -1)]
    (x,) = [x for x in roots if np.all(1 + x * v > 0)]
    return p / (1 + x * v)


def test_llr_matches_a_hand_computed_trinomial_case():
    losses, draws, wins = 30, 40, 50
    s0, s1 = expected_score(0.0), expected_score(10.0)
    q0, q1 = trinomial_mle_by_hand([losses, draws, wins], s0), trinomial_mle_by_hand([losses, draws, wins], s1)
    assert q1 @ [0, 0.5, 1] == pytest.approx(s1, abs=1e-12)
    expected = np.dot([losses, draws, wins], np.log(q1 / q0))
    result = sprt_trinomial([0.0] * losses + [0.5] * draws + [1.0] * wins, CFG)
    assert result.llr == pytest.approx(expected, rel=1e-9)
    assert (result.games, result.pairs) == (120, 0)
    assert result.elo_estimate == pytest.approx(ELO_SCALE * math.log((70 / 120) / (50 / 120)))


def test_without_draws_it_is_the_classical_sprt():
    # Only wins and losses: the MLE with mean s is Bernoulli(s), so LLR = W log(s1/s0) +
    # L log((1-s1)/(1-s0)); the regularised zero-draw count moves it by ~1e-5 only.
    s0, s1 = expected_score(0.0), expected_score(10.0)
    w, ell = 60, 40
    classic = w * math.log(s1 / s0) + ell * math.log((1 - s1) / (1 - s0))
    assert sprt_trinomial([1.0] * w + [0.0] * ell, CFG).llr == pytest.approx(classic, abs=1e-3)


def test_mle_keeps_the_mean_and_is_the_empirical_when_it_already_has_it():
    values = np.array([0, 0.25, 0.5, 0.75, 1.0])
    probs = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    for s in (0.3, 0.5, 0.7):
        q = mle_with_mean(values, probs, s)
        assert q.sum() == pytest.approx(1) and q @ values == pytest.approx(s, abs=1e-12) and np.all(q > 0)
    np.testing.assert_allclose(mle_with_mean(values, probs, float(probs @ values)), probs, atol=1e-12)


def test_bounds_are_walds():
    assert CFG.lower == pytest.approx(math.log(0.05 / 0.95))
    assert CFG.upper == pytest.approx(math.log(0.95 / 0.05))


def test_clear_wins_accept_h1_within_bounded_pairs():
    rng = np.random.default_rng(0)
    # An agent that wins about 70% of games: pair totals mostly 1.5 and 2.
    stream = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0], size=2000, p=[0.02, 0.05, 0.23, 0.3, 0.4])
    result = first_decision(stream, CFG)
    assert result.decision == "H1" and result.llr >= result.upper
    assert result.pairs < 300 and result.games == 2 * result.pairs
    assert result.elo_estimate > 100
    # All wins: H1 after about log(19) / log(s1 / s0) ~ 104 pairs.
    all_wins = first_decision([2.0] * 1000, CFG)
    assert all_wins.decision == "H1" and 90 < all_wins.pairs < 120


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_losses_or_draws_accept_h0(value):
    result = first_decision([value] * 1000, CFG)
    assert result.decision == "H0" and result.llr <= result.lower and result.pairs < 150


def test_an_even_match_accepts_h0_and_undecided_streams_stay_undecided():
    rng = np.random.default_rng(1)
    even = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0], size=20000, p=[0.1, 0.2, 0.4, 0.2, 0.1])
    assert first_decision(even, CFG).decision == "H0"
    assert sprt([2.0, 0.0, 1.0], CFG).decision is None


@pytest.mark.parametrize("stream", [[1.0] * 50, [2.0] * 50, [0.0] * 50, [1.5] * 3, [], [0.5]])
def test_degenerate_streams_give_finite_numbers(stream):
    for result in (sprt(stream, CFG), sprt_trinomial([x / 2 for x in stream if x in (0.0, 1.0, 2.0)], CFG)):
        assert math.isfinite(result.llr) and math.isfinite(result.elo_estimate)
    assert sprt([], CFG).decision is None and sprt([], CFG).llr == 0.0


def test_scores_outside_the_outcomes_are_refused():
    with pytest.raises(ValueError):
        sprt([0.7], CFG)
    with pytest.raises(ValueError):
        sprt_trinomial([1.5], CFG)
