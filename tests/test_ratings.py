"""Ratings and statistics against answers computed by hand (numpy only, no jax)."""
import math
import sys

import numpy as np
import pytest

from arena.stats import (
    bootstrap_groups_ci,
    iqm,
    iqm_ci,
    probability_of_improvement,
    probability_of_improvement_ci,
)
from arena.tournaments.ratings import ELO_SCALE, Games, bradley_terry, elo_ratings, openskill_ratings, to_elo


def test_bradley_terry_two_players_is_log_odds():
    # MLE of sigmoid(r0 - r1) = w / (w + l)  =>  r0 - r1 = log(w / l), Elo: 400/ln10 * log(w/l).
    wins = np.array([[0, 3], [1, 0]], float)
    r = bradley_terry(wins, l2=0.0)
    assert r[0] - r[1] == pytest.approx(math.log(3), abs=1e-9)
    elo = to_elo(r)
    assert elo[0] - elo[1] == pytest.approx(400 / math.log(10) * math.log(3), abs=1e-6)  # 190.85
    assert elo.mean() == pytest.approx(1500)


def test_bradley_terry_three_players_recovers_exact_strengths():
    # Counts equal to their expectations under r = (1, 0, -1) make r the exact MLE.
    true = np.array([1.0, 0.0, -1.0])
    n = 10.0
    p = 1 / (1 + np.exp(-(true[:, None] - true[None, :])))
    wins = n * p * (1 - np.eye(3))
    np.testing.assert_allclose(bradley_terry(wins, l2=0.0), true, atol=1e-8)
    # Relabelling the players relabels the ratings: no dependence on order.
    perm = [2, 0, 1]
    np.testing.assert_allclose(bradley_terry(wins[np.ix_(perm, perm)], l2=0.0), true[perm], atol=1e-8)


def test_bradley_terry_stays_finite_when_one_side_always_wins():
    r = bradley_terry(np.array([[0, 50], [0, 0]], float))
    assert np.all(np.isfinite(r)) and r[0] > r[1]


def test_games_count_draws_half():
    g = Games((0,), (1,), (np.array([1.0, 0.5, 0.0, 1.0]),))
    np.testing.assert_allclose(g.win_matrix(2), [[0, 2.5], [1.5, 0]])


def test_a_bootstrap_is_fitted_at_once_with_the_draws_of_one_at_a_time():
    # The leaderboard's bootstrap: every resample drawn as win_matrix draws it, all fitted in one stack.
    outcomes = np.random.default_rng(3).integers(0, 3, (5, 12)) / 2
    # The last pair has no episodes: it draws nothing.
    g = Games((0, 1, 2, 3, 0, 1), (1, 2, 3, 0, 2, 3), (*outcomes, np.zeros(0)))
    draws = np.random.default_rng(7)
    one_by_one = np.stack([g.win_matrix(4, draws) for _ in range(50)])
    at_once = g.resampled_win_matrices(4, np.random.default_rng(7), 50)
    np.testing.assert_allclose(at_once, one_by_one)
    fits = bradley_terry(at_once, l2=0.01)
    assert fits.shape == (50, 4)
    np.testing.assert_allclose(fits, [bradley_terry(w, l2=0.01) for w in at_once], atol=1e-9)
    np.testing.assert_allclose(bradley_terry(at_once[:1], l2=0.0)[0], bradley_terry(at_once[0], l2=0.0), atol=1e-9)


def test_elo_ratings_have_intervals_around_the_fit():
    g = Games((0, 1), (1, 0), (np.array([1.0, 1, 1, 0]), np.array([0.0, 0, 1, 0])))
    rows = elo_ratings(g, 2, l2=0.0, n_boot=100)
    # Player 0 won 3 of 4 as first and 3 of 4 as second: w = 6, l = 2.
    assert rows[0]["elo"] - rows[1]["elo"] == pytest.approx(ELO_SCALE * math.log(3), abs=1e-6)
    for row in rows:
        assert row["low"] <= row["elo"] <= row["high"]


def test_openskill_winner_rises_and_draws_are_symmetric():
    win = openskill_ratings(Games((0,), (1,), (np.ones(5),)), ["a", "b"])
    assert win[0]["mu"] > 25 > win[1]["mu"]
    assert win[0]["sigma"] < 25 / 3
    draw = openskill_ratings(Games((0,), (1,), (np.full(5, 0.5),)), ["a", "b"])
    assert draw[0]["mu"] == pytest.approx(draw[1]["mu"])


def test_probability_of_improvement_by_hand():
    # Pairs: 1>0 (1), 1<2 (0), 2>0 (1), 2=2 (1/2) -> 2.5 / 4.
    assert probability_of_improvement([1, 2], [0, 2]) == pytest.approx(0.625)
    assert probability_of_improvement([5, 6], [1, 2]) == 1.0
    e = probability_of_improvement_ci(np.arange(10.0), np.arange(10.0) - 100)
    assert (e.mean, e.low, e.high) == (1.0, 1.0, 1.0)


def test_iqm_and_group_bootstrap():
    x = np.array([0.0, 1, 2, 3, 4, 5, 6, 100])
    assert iqm(x) == pytest.approx(np.mean([2, 3, 4, 5]))
    e = iqm_ci(x)
    assert e.low <= e.mean <= e.high and e.mean == pytest.approx(3.5)
    # Three seeds, constant within each: the pooled mean, n = number of seeds, CI spans them all.
    g = bootstrap_groups_ci([np.zeros(4), np.ones(4), np.full(4, 2.0)])
    assert (g.mean, g.n) == (1.0, 3) and g.low == 0.0 and g.high == 2.0
    # Two seeds: the pooled mean, but too few units for an interval (issue 10: never a bare ±0).
    g = bootstrap_groups_ci([np.zeros(4), np.ones(4)])
    assert (g.mean, g.n) == (0.5, 2) and g.low is None and g.high is None


def test_ratings_and_stats_do_not_import_jax():
    import subprocess

    code = "import sys, arena.tournaments.ratings, arena.stats, arena.tournaments.report; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_separation_is_detected_and_gives_no_interval():
    from arena.tournaments.ratings import separated

    # 0 beats 1 every time: no finite MLE.
    assert separated(np.array([[0, 5], [0, 0]], float))
    assert not separated(np.array([[0, 5], [1, 0]], float))
    # A cycle 0 > 1 > 2 > 0 is connected; add 3, who only ever lost: separated.
    cycle = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], float)
    assert not separated(cycle)
    cycle[0, 3] = 2
    assert separated(cycle)
    rows = elo_ratings(Games((0,), (1,), (np.ones(8),)), 2)
    assert all(r["prior_dominated"] and r["low"] is None and r["high"] is None for r in rows)
    assert rows[0]["elo"] > rows[1]["elo"]
    # Draws connect both ways; two games are too few for an interval.
    rows = elo_ratings(Games((0,), (1,), (np.array([1.0, 0.5]),)), 2)
    assert not rows[0]["prior_dominated"] and rows[0]["low"] is None


def test_role_games_compare_agents_of_one_role_on_the_same_opponent():
    from arena.tournaments.outcomes import role_games, roles

    info = {"sides": [{"name": "predators"}, {"name": "prey"}],
            "scores": [{"team": "predators", "metric": "captures", "higher_is_better": True, "doc": ""}]}
    lineups = [(0, 2), (0, 3), (1, 2)]  # predators 0, 1; prey 2, 3; 1 never met 3
    assert roles(lineups) == {0: 0, 1: 0, 2: 1, 3: 1}
    assert roles([(0, 1), (1, 0)]) is None  # agents that play both sides meet head to head
    values = {((0, 2), 0, "captures"): [3, 1, 2], ((1, 2), 0, "captures"): [1, 1, 5, 9], ((0, 3), 0, "captures"): [0],
              ((0, 2), 1, "return"): [-30, -10, -20], ((0, 3), 1, "return"): [-5, -50, -20], ((1, 2), 1, "return"): [0]}
    (pf, ps, po), (qf, qs, qo) = role_games(info, lineups, roles(lineups), lambda lu, s, m: np.array(values[lu, s, m]))
    # Predators 0 and 1 meet on prey 2 only, over the first 3 episodes: 3>1, 1=1, 2<5.
    assert (pf, ps) == ([0], [1]) and po[0].tolist() == [1.0, 0.5, 0.0]
    # Prey (undeclared: scored by return) 2 and 3 meet on predator 0: -30<-5, -10>-50, -20=-20.
    assert (qf, qs) == ([2], [3]) and qo[0].tolist() == [0.0, 1.0, 0.5]
