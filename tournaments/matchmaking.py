"""A ladder's choice of its next matches, by information (numpy only, no jax).

Ratings are Bradley–Terry (ratings.bradley_terry); their uncertainty is the Laplace
covariance, the inverse of the negative Hessian of the log posterior (the l2 prior included).
One more game between i and j adds Fisher information p(1 - p) along u = e_i - e_j, so by
Sherman–Morrison it shrinks the covariance trace by

    f |S u|^2 / (1 + f u'S u),     f = games * p_ij (1 - p_ij).

A ranking is asked of a ladder, not ratings, so by default (`objective="ranking"`) a pick
is scored by what it tells about the order of every two agents k, l: the information on
r_k - r_l, log(var before / var after) by the same update, weighted by exp(-d^2 / 2 var) for
the current gap d, so orders long settled count for nothing (`ranking_information`). On the
IPD bank of benchmarks/ladder_efficiency.py it reaches Kendall tau 0.95 on 96 episodes where
the trace needs 112 and random pairing 200 (40 seeds). `objective="trace"` scores by the
trace drop above.

The ladder plays the pairs that inform most: close, uncertain pairs, and never twice the
same information in one round (the covariance is updated after each pick). Newcomers are
boosted, recent repeats damped, and an idle agent is forced in every `floor` rounds so the
comparison graph stays connected.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from arena.tournaments.ratings import bradley_terry

Pair = tuple[int, int]
Allowed = Callable[[int, int], bool]

# Prior precision floor for the covariance: with l2 = 0 an unconnected agent's direction has no
# curvature at all, and pinv would call it certain; a tiny prior calls it (very) uncertain.
_MIN_PRIOR = 1e-6
OBJECTIVES = ("ranking", "trace")


@dataclasses.dataclass(frozen=True)
class MatchmakingConfig:
    pairs_per_round: int = 4
    # An agent with fewer rated games than this (in the win matrix) is a newcomer.
    newcomer_games: int = 2
    newcomer_boost: float = 2.0
    # Score multiplier per round, among the last `recent_window`, in which the pair already met.
    repeat_penalty: float = 0.5
    recent_window: int = 3
    # Gaussian prior on ratings, as in ratings.bradley_terry.
    l2: float = 0.01
    # Every agent plays at least once every `floor` rounds (0 turns the floor off).
    floor: int = 4
    # Games one chosen match adds: the weight of a pick's information (its score and the
    # update after it), e.g. the episodes a match plays.
    match_games: float = 1.0
    # What a pick should shrink: "trace", the summed variance of the ratings; or "ranking",
    # the uncertainty of the order of every two agents, weighted by how undecided it is.
    objective: str = "ranking"

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")


def win_probabilities(ratings: np.ndarray) -> np.ndarray:
    """(N, N) P(i beats j) = sigmoid(r_i - r_j)."""
    r = np.asarray(ratings, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(r[:, None] - r[None, :])))


def laplace_covariance(wins: np.ndarray, ratings: np.ndarray, l2: float) -> np.ndarray:
    """(N, N) covariance of the centred ratings (as bradley_terry reports them): the inverse
    of the negative log-posterior Hessian at `ratings`, prior included, less the shift.

    The likelihood ignores a common shift of all ratings; the prior (floored at a tiny value)
    pins that direction and any unconnected one, so the inverse exists, and centring removes
    the shift's variance 1/l2. Scores use contrasts e_i - e_j, orthogonal to the shift, so
    centring does not change them and the rank-1 updates keep the covariance centred.
    """
    w = np.asarray(wins, dtype=np.float64)
    n = len(w)
    games = w + w.T
    p = win_probabilities(ratings)
    curv = games * p * (1 - p)
    hess = np.diag(curv.sum(axis=1)) - curv + max(l2, _MIN_PRIOR) * np.eye(n)
    centre = np.eye(n) - 1.0 / n
    return centre @ np.linalg.pinv(hess, hermitian=True) @ centre


def trace_reduction(cov: np.ndarray, ratings: np.ndarray, i: int, j: int, games: float = 1.0) -> float:
    """Expected drop of trace(cov) from `games` more games between i and j (Sherman–Morrison)."""
    p = 1.0 / (1.0 + np.exp(-(ratings[i] - ratings[j])))
    f = games * p * (1 - p)
    su = cov[:, i] - cov[:, j]
    return float(f * (su @ su) / (1.0 + f * (su[i] - su[j])))


def ranking_information(cov: np.ndarray, ratings: np.ndarray, cands: Sequence[Pair], games: float = 1.0) -> np.ndarray:
    """(C,) what `games` more games of each candidate pair tell about the ranking: over every
    two agents k < l, the information gained on r_k - r_l (log of its variance before over
    after, by Sherman–Morrison), weighted by exp(-d^2 / 2 var), d the current gap: agents
    whose order is settled count for nothing, neighbours of equal rating count fully."""
    r = np.asarray(ratings, dtype=np.float64)
    i, j = np.array(cands).T
    p = 1.0 / (1.0 + np.exp(-(r[i] - r[j])))
    f = games * p * (1 - p)
    su = (cov[:, i] - cov[:, j]).T  # (C, N)
    coef = f / (1.0 + f * (su[np.arange(len(i)), i] - su[np.arange(len(i)), j]))
    var = np.diag(cov)[:, None] + np.diag(cov)[None, :] - 2 * cov  # (N, N): of r_k - r_l
    a, b = np.triu_indices(len(r), 1)  # every two agents
    v = var[a, b]
    weight = np.exp(-((r[a] - r[b]) ** 2) / (2 * v))
    after = v[None, :] - coef[:, None] * (su[:, a] - su[:, b]) ** 2
    return (weight[None, :] * np.log(v[None, :] / after)).sum(axis=1)


def _update(cov: np.ndarray, ratings: np.ndarray, i: int, j: int, games: float) -> np.ndarray:
    """cov after `games` games between i and j: the rank-1 Sherman–Morrison update."""
    p = 1.0 / (1.0 + np.exp(-(ratings[i] - ratings[j])))
    f = games * p * (1 - p)
    su = cov[:, i] - cov[:, j]
    return cov - np.outer(su, su) * (f / (1.0 + f * (su[i] - su[j])))


def _oriented(i: int, j: int, allowed: Allowed | None) -> Pair | None:
    """(i, j) or (j, i), whichever order `allowed` accepts (i first when both); None if neither."""
    if allowed is None or allowed(i, j):
        return (i, j)
    if allowed(j, i):
        return (j, i)
    return None


def candidate_pairs(n_agents: int, allowed: Allowed | None = None) -> list[Pair]:
    """Every unordered pair of distinct agents that may meet, in the order `allowed` accepts."""
    out = []
    for i in range(n_agents):
        for j in range(i + 1, n_agents):
            pair = _oriented(i, j, allowed)
            if pair is not None:
                out.append(pair)
    return out


def _idle_rounds(n_agents: int, recent: Sequence[Sequence[Pair]]) -> np.ndarray:
    """(N,) trailing rounds of `recent` in which each agent played no pair."""
    idle = np.full(n_agents, len(recent))
    for back, pairs in enumerate(reversed(recent)):
        for a in {x for pair in pairs for x in pair}:
            if 0 <= a < n_agents:
                idle[a] = min(idle[a], back)
    return idle


def _argmax(scores: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the best score; exact and near ties (relative 1e-9) broken by `rng`."""
    best = scores.max()
    ties = np.flatnonzero(scores >= best - 1e-9 * max(abs(best), 1e-300))
    return int(ties[0] if len(ties) == 1 else rng.choice(ties))


def next_pairs(n_agents: int, wins: np.ndarray, recent: Sequence[Sequence[Pair]], config: MatchmakingConfig,
               rng: np.random.Generator, allowed: Allowed | None = None) -> list[Pair]:
    """The next round's pairs, at most `pairs_per_round` distinct ones.

    wins (N, N): wins[i, j] = games i beat j (draws 1/2 each). recent: the pairs of the last
    rounds, most recent last; it should hold max(recent_window, floor) rounds. A pair is
    returned in the order `allowed(i, j)` accepts (e.g. roles: first plays side 0).
    Deterministic given the state of `rng`.
    """
    cands = candidate_pairs(n_agents, allowed)
    if not cands or config.pairs_per_round < 1:
        return []
    wins = np.asarray(wins, dtype=np.float64)
    ratings = bradley_terry(wins, l2=config.l2)
    cov = laplace_covariance(wins, ratings, config.l2)
    games = (wins + wins.T).sum(axis=1)

    # Multipliers that do not change within the round: newcomers and recent repeats.
    window = [{frozenset(p) for p in rnd} for rnd in list(recent)[-config.recent_window:]] if config.recent_window > 0 else []
    weight = np.ones(len(cands))
    for k, (i, j) in enumerate(cands):
        if games[i] < config.newcomer_games or games[j] < config.newcomer_games:
            weight[k] *= config.newcomer_boost
        weight[k] *= config.repeat_penalty ** sum(frozenset((i, j)) in rnd for rnd in window)

    # Agents idle for floor - 1 rounds must play now; the longest idle first, ties by rng.
    forced = []
    if config.floor > 0:
        idle = _idle_rounds(n_agents, recent)
        due = [a for a in range(n_agents) if idle[a] >= config.floor - 1 and any(a in p for p in cands)]
        order = rng.permutation(len(due))
        forced = sorted((due[k] for k in order), key=lambda a: -idle[a])

    chosen: list[Pair] = []
    taken = np.zeros(len(cands), bool)
    k_total = min(config.pairs_per_round, len(cands))
    while len(chosen) < k_total:
        playing = {x for p in chosen for x in p}
        forced = [a for a in forced if a not in playing]
        mask = ~taken
        if forced:
            mask &= np.array([forced[0] in p for p in cands])
            if not mask.any():  # every pair of this agent is already taken
                forced.pop(0)
                continue
        if config.objective == "ranking":
            scores = ranking_information(cov, ratings, cands, config.match_games) * weight
        else:
            scores = np.array([trace_reduction(cov, ratings, i, j, config.match_games) for i, j in cands]) * weight
        scores = np.where(mask, scores, -np.inf)
        k = _argmax(scores, rng)
        taken[k] = True
        chosen.append(cands[k])
        cov = _update(cov, ratings, *cands[k], config.match_games)
    return chosen


def random_pairs(n_agents: int, k: int, rng: np.random.Generator, allowed: Allowed | None = None) -> list[Pair]:
    """The uniform baseline: k distinct allowed pairs drawn at random."""
    cands = candidate_pairs(n_agents, allowed)
    pick = rng.choice(len(cands), size=min(k, len(cands)), replace=False) if cands else []
    return [cands[int(x)] for x in pick]


def crossplay_cells(counts: np.ndarray, ci_width: np.ndarray, k: int) -> list[Pair]:
    """The next k cells (row, col) of a cooperative cross-play matrix: never-played cells
    first, then the widest confidence interval (unknown width counts as widest), then the
    fewest episodes; remaining ties in row-major order."""
    counts = np.asarray(counts)
    width = np.where(np.isnan(ci_width), np.inf, np.asarray(ci_width, dtype=np.float64))
    rows, cols = np.indices(counts.shape)
    # np.lexsort sorts by the last key first.
    order = np.lexsort((cols.ravel(), rows.ravel(), counts.ravel(), -width.ravel(), counts.ravel() > 0))
    return [(int(rows.flat[x]), int(cols.flat[x])) for x in order[:k]]


def describe(config: MatchmakingConfig) -> str:
    """The policy in words, for the leaderboard."""
    what = ("the uncertainty of the ranking (the variance of every two agents' Bradley–Terry difference, "
            "weighted by how undecided their order is" if config.objective == "ranking"
            else "Bradley–Terry rating uncertainty (trace of the Laplace covariance")
    parts = [f"{config.pairs_per_round} pairs a round, chosen by expected reduction of {what}, l2 prior {config.l2:g})"]
    if config.newcomer_boost != 1:
        parts.append(f"agents with fewer than {config.newcomer_games} rated games x{config.newcomer_boost:g}")
    if config.repeat_penalty != 1 and config.recent_window > 0:
        parts.append(f"a pair already met within the last {config.recent_window} rounds x{config.repeat_penalty:g} per meeting")
    text = "; ".join(parts) + "."
    if config.floor > 0:
        text += " Every agent plays every round." if config.floor == 1 else f" Every agent plays at least every {config.floor} rounds."
    return text
