"""The ladder's match-making against answers computed another way (numpy only, no jax)."""
import numpy as np
import pytest

from arena.tournaments.matchmaking import (
    MatchmakingConfig,
    crossplay_cells,
    describe,
    laplace_covariance,
    next_pairs,
    random_pairs,
    ranking_information,
    trace_reduction,
)
from arena.tournaments.ratings import bradley_terry


def played(n: int, strengths, games: float = 10.0, rng=None) -> np.ndarray:
    """A win matrix with every pair among the first len(strengths) agents played."""
    s = np.asarray(strengths, float)
    k = len(s)
    w = np.zeros((n, n))
    p = 1 / (1 + np.exp(-(s[:, None] - s[None, :])))
    w[:k, :k] = games * p * (1 - np.eye(k))
    return w


def test_sherman_morrison_score_is_the_trace_drop_by_explicit_inversion():
    wins = played(5, [1.0, 0.5, 0.0, -0.3, -1.0], games=6)
    wins[0, 4] = wins[4, 0] = 0  # one pair never met
    l2 = 0.05
    r = bradley_terry(wins, l2=l2)
    cov = laplace_covariance(wins, r, l2)
    games = wins + wins.T
    p = 1 / (1 + np.exp(-(r[:, None] - r[None, :])))
    curv = games * p * (1 - p)
    hess = np.diag(curv.sum(1)) - curv + l2 * np.eye(5)
    centre = np.eye(5) - 1 / 5
    np.testing.assert_allclose(cov, centre @ np.linalg.inv(hess) @ centre, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov.sum(axis=0), 0, atol=1e-9)  # ratings are centred: no shift variance
    for i, j, m in [(0, 4, 1), (1, 2, 1), (3, 0, 8), (2, 4, 3)]:
        u = np.zeros(5)
        u[i], u[j] = 1, -1
        f = m * p[i, j] * (1 - p[i, j])
        explicit = np.trace(np.linalg.inv(hess)) - np.trace(np.linalg.inv(hess + f * np.outer(u, u)))
        assert trace_reduction(cov, r, i, j, games=m) == pytest.approx(explicit, rel=1e-8)
    # The unplayed pair (0, 4) is worth more than a pair that met six times at similar odds.
    assert trace_reduction(cov, r, 0, 4) > trace_reduction(cov, r, 1, 2)


def test_the_ranking_objective_is_information_on_undecided_orders_by_explicit_inversion():
    wins = played(4, [0.0, 0.05, 3.0, -3.0], games=4)  # 0 and 1 neck and neck; 2 far above, 3 far below
    l2, games = 0.01, 8.0
    r = bradley_terry(wins, l2=l2)
    cov = laplace_covariance(wins, r, l2)
    cands = [(0, 1), (0, 3), (1, 2), (2, 3)]
    got = ranking_information(cov, r, cands, games)
    for (i, j), value in zip(cands, got):
        u = np.zeros(4)
        u[i], u[j] = 1, -1
        f = games * (p := 1 / (1 + np.exp(-(r[i] - r[j])))) * (1 - p)
        after = np.linalg.pinv(np.linalg.pinv(cov, hermitian=True) + f * np.outer(u, u), hermitian=True)
        explicit = 0.0
        for k in range(4):
            for m in range(k + 1, 4):
                e = np.zeros(4)
                e[k], e[m] = 1, -1
                before_var, after_var = e @ cov @ e, e @ after @ e
                explicit += np.exp(-(r[k] - r[m]) ** 2 / (2 * before_var)) * np.log(before_var / after_var)
        assert value == pytest.approx(explicit, rel=1e-6)
    # The trace is shrunk most by a pair whose order is long settled (0 far above 3, but few
    # games); the ranking objective plays the two whose order is still a coin toss.
    cfg = MatchmakingConfig(pairs_per_round=1, floor=0, newcomer_boost=1.0, l2=l2, match_games=games)
    assert next_pairs(4, wins, [], cfg, np.random.default_rng(0)) == [(0, 1)]
    (by_trace,) = next_pairs(4, wins, [], MatchmakingConfig(**{**cfg.__dict__, "objective": "trace"}), np.random.default_rng(0))
    assert set(by_trace) != {0, 1}


def test_an_unconnected_newcomer_is_chosen_first():
    wins = played(6, [1.0, 0.5, 0.0, -0.5, -1.0])  # agent 5 has never played
    cfg = MatchmakingConfig(pairs_per_round=1, newcomer_boost=1.0, floor=0)
    for seed in range(5):
        (pair,) = next_pairs(6, wins, [], cfg, np.random.default_rng(seed))
        assert 5 in pair
    # Also with l2 = 0, where pinv alone would call the unconnected direction certain.
    (pair,) = next_pairs(6, wins, [], MatchmakingConfig(pairs_per_round=1, l2=0.0, floor=0), np.random.default_rng(0))
    assert 5 in pair


def test_newcomer_boost_and_repeat_penalty_change_the_choice():
    # Agent 3 has a single rated game: a newcomer for newcomer_games = 2, and the least known.
    wins = played(4, [0.5, 0.0, -0.5], games=40)
    wins[3, 0] = 1.0
    base = MatchmakingConfig(pairs_per_round=1, newcomer_boost=1.0, repeat_penalty=1.0, floor=0)
    (plain,) = next_pairs(4, wins, [], base, np.random.default_rng(0))
    assert 3 in plain
    # A multiplier below 1 (a newcomer brake) must move the pick off agent 3.
    braked = MatchmakingConfig(pairs_per_round=1, newcomer_boost=1e-8, repeat_penalty=1.0, floor=0)
    (pair,) = next_pairs(4, wins, [], braked, np.random.default_rng(0))
    assert 3 not in pair
    # Three recent meetings x1e-3 each: the same pair is not chosen again.
    damped = MatchmakingConfig(pairs_per_round=1, newcomer_boost=1.0, repeat_penalty=1e-3, floor=0)
    (other,) = next_pairs(4, wins, [[plain]] * 3, damped, np.random.default_rng(0))
    assert set(other) != set(plain)
    # Meetings outside the window do not count.
    (same,) = next_pairs(4, wins, [[plain]] * 3 + [[(1, 2)]] * 3, damped, np.random.default_rng(0))
    assert set(same) == set(plain)


def test_each_pick_sees_the_information_of_the_picks_before_it():
    # The second pick maximises the trace drop of the covariance after the first pick's games,
    # computed here by explicit inversion; in some of these cases that differs from the
    # second-best pair before the update (the update is what spreads a round's picks).
    l2, games, changed = 0.01, 30.0, 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        wins = rng.integers(0, 4, (6, 6)) * (1 - np.eye(6))
        cfg = MatchmakingConfig(pairs_per_round=2, floor=0, newcomer_boost=1.0, l2=l2, match_games=games, objective="trace")
        first, second = next_pairs(6, wins, [], cfg, np.random.default_rng(0))
        r = bradley_terry(wins, l2=l2)
        cov = laplace_covariance(wins, r, l2)
        u = np.zeros(6)
        u[first[0]], u[first[1]] = 1, -1
        p = 1 / (1 + np.exp(-(r[first[0]] - r[first[1]])))
        # The shift direction is left out of cov (centred): invert on the contrasts only.
        after = np.linalg.pinv(np.linalg.pinv(cov, hermitian=True) + games * p * (1 - p) * np.outer(u, u), hermitian=True)
        others = [(i, j) for i in range(6) for j in range(i + 1, 6) if {i, j} != set(first)]
        best_after = max(others, key=lambda q: trace_reduction(after, r, *q, games=games))
        best_before = max(others, key=lambda q: trace_reduction(cov, r, *q, games=games))
        assert set(second) == set(best_after)
        changed += set(best_after) != set(best_before)
    assert changed > 0


def test_the_floor_forces_an_idle_agent_in():
    # Agent 0's rating is the best known of all (many games): no score would pick it.
    wins = played(5, [0.0, 0.5, 0.0, -0.5, 0.3], games=2)
    wins[0, 1:] += 200
    wins[1:, 0] += 200
    cfg = MatchmakingConfig(pairs_per_round=1, floor=3, newcomer_boost=1.0)
    busy = [[(1, 2)], [(3, 4)]]
    (pair,) = next_pairs(5, wins, busy[-1:], cfg, np.random.default_rng(0))
    assert 0 not in pair  # idle one round only: not yet due
    (pair,) = next_pairs(5, wins, busy, cfg, np.random.default_rng(0))
    assert 0 in pair  # idle floor - 1 = 2 rounds: must play now


def test_allowed_is_respected_and_orients_the_pair():
    # Roles: agents 0-2 play side 0 only, agents 3-5 side 1 only.
    def allowed(i, j):
        return i < 3 <= j

    rng = np.random.default_rng(0)
    wins = played(6, [0.0] * 6, games=1)
    for cfg in (MatchmakingConfig(pairs_per_round=4), MatchmakingConfig(pairs_per_round=20, floor=1)):
        for pair in next_pairs(6, wins, [[(3, 4)]] * 4, cfg, rng, allowed):
            assert allowed(*pair)
    for pair in random_pairs(6, 20, rng, lambda i, j: allowed(j, i)):  # given in reverse order
        assert pair[0] >= 3 > pair[1]
    assert len(random_pairs(6, 20, rng, allowed)) == 9


def test_same_seed_same_pairs():
    wins = played(8, np.zeros(8), games=3)  # every pair equal: ties everywhere
    cfg = MatchmakingConfig(pairs_per_round=4)
    runs = [next_pairs(8, wins, [], cfg, np.random.default_rng(7)) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    others = {tuple(next_pairs(8, wins, [], cfg, np.random.default_rng(s))) for s in range(10)}
    assert len(others) > 1  # the rng does break the ties
    assert random_pairs(8, 4, np.random.default_rng(3)) == random_pairs(8, 4, np.random.default_rng(3))


def test_crossplay_cells_order():
    counts = np.array([[4, 0, 8], [4, 4, 2], [0, 6, 4]])
    width = np.array([[0.1, np.nan, 0.5], [0.3, np.nan, 0.5], [0.0, 0.9, 0.1]])
    # Never played (0, 1), (2, 0) (whatever width is given); then unknown width (1, 1); widest 0.9; 0.5 tie -> fewer
    # episodes first (1, 2) before (0, 2); then 0.3; then 0.1 tie -> row-major.
    assert crossplay_cells(counts, width, 9) == [(0, 1), (2, 0), (1, 1), (2, 1), (1, 2), (0, 2), (1, 0), (0, 0), (2, 2)]
    assert crossplay_cells(counts, width, 2) == [(0, 1), (2, 0)]


def test_describe_says_the_policy():
    text = describe(MatchmakingConfig(pairs_per_round=4, newcomer_games=16, newcomer_boost=2, repeat_penalty=0.5,
                                      recent_window=3, floor=4))
    for part in ("uncertainty", "4 pairs", "fewer than 16", "x2", "3 rounds", "x0.5", "every 4 rounds"):
        assert part in text
