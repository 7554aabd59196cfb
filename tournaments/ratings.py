"""Ratings from all of a tournament's results at once (numpy only, no jax).

- Bradley–Terry by maximum likelihood (Newton's method over every game, so the order games
  were played in does not matter), shown on the Elo scale: elo = 1500 + 400/ln(10) * r.
  A weak Gaussian prior (`l2`) keeps ratings finite when one agent wins every game.
- Weng–Lin (OpenSkill's Plackett–Luce model, a TrueSkill-like Bayesian rating with an
  uncertainty sigma) for teams, fed game by game in a fixed interleaved order.

A game is (i, j, outcome) with outcome 1 when i won, 0 when j won and 1/2 for a draw.

When the results separate the players perfectly (some group of them never lost a game to the
rest: a deterministic game, or a role that always wins) the maximum-likelihood ratings are
infinite and the finite numbers shown are set by the prior alone; `elo_ratings` says so
(`prior_dominated`) and gives no interval, since every bootstrap resample is separated too.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from arena.stats import MIN_UNITS

ELO_SCALE = 400.0 / math.log(10.0)
ELO_BASE = 1500.0


@dataclasses.dataclass(frozen=True)
class Games:
    """Pairwise results: for pair k, players (first[k], second[k]) and outcomes (E_k,) in
    {0, 1/2, 1} from the first player's point of view (one entry per episode)."""

    first: tuple[int, ...]
    second: tuple[int, ...]
    outcomes: tuple[np.ndarray, ...]

    def win_matrix(self, n: int, resample: np.random.Generator | None = None) -> np.ndarray:
        """(n, n) W[i, j] = games i won against j (draws count 1/2 to each); with `resample`,
        each pair's episodes are drawn with replacement first (for the bootstrap)."""
        w = np.zeros((n, n))
        for i, j, out in zip(self.first, self.second, self.outcomes):
            out = np.asarray(out, dtype=np.float64)
            if resample is not None and out.size:
                out = out[resample.integers(0, out.size, out.size)]
            w[i, j] += out.sum()
            w[j, i] += out.size - out.sum()
        return w

    def resampled_win_matrices(self, n: int, rng: np.random.Generator, count: int) -> np.ndarray:
        """(count, n, n): `count` bootstrap resamples, the very draws of `count` calls of
        win_matrix(n, rng), summed at once (the per-pair sums were most of a bootstrap's time)."""
        keep = [k for k, out in enumerate(self.outcomes) if np.size(out)]
        outs = [np.asarray(self.outcomes[k], dtype=np.float64) for k in keep]
        w = np.zeros((count, n, n))
        if not keep:
            return w
        sizes = np.array([out.size for out in outs])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        idx = np.array([np.concatenate([rng.integers(0, size, size) for size in sizes]) for _ in range(count)])
        won = np.add.reduceat(np.concatenate(outs)[idx + np.repeat(starts, sizes)], starts, axis=1)  # (count, K)
        for x, k in enumerate(keep):
            i, j = self.first[k], self.second[k]
            w[:, i, j] += won[:, x]
            w[:, j, i] += sizes[x] - won[:, x]
        return w


def bradley_terry(wins: np.ndarray, *, l2: float = 0.01, iters: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Maximum-likelihood Bradley–Terry strengths r (N,), centred at mean 0, natural units:
    P(i beats j) = sigmoid(r_i - r_j). wins (N, N): W[i, j] = times i beat j; or a stack
    (B, N, N) of win matrices (a bootstrap's resamples), fitted at once: r (B, N).

    Maximises sum_ij W_ij log sigmoid(r_i - r_j) - l2/2 |r|^2 by Newton's method; with l2 = 0
    the answer is the exact MLE (e.g. two players, w wins and l losses: r_0 - r_1 = log(w/l)).
    """
    w = np.asarray(wins, dtype=np.float64)
    stack = w.reshape(-1, *w.shape[-2:])  # (B, N, N)
    n = stack.shape[-1]
    games = stack + np.swapaxes(stack, 1, 2)
    eye = np.eye(n)
    r = np.zeros(stack.shape[:2])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(r[:, :, None] - r[:, None, :])))
        grad = (stack - games * p).sum(axis=2) - l2 * r
        curv = games * p * (1 - p)
        hess = curv - curv.sum(axis=2)[:, :, None] * eye - l2 * eye
        # The likelihood is invariant to a shift of all ratings: the min-norm step ignores it.
        # One matrix takes lstsq's step (every rating reported so far is that fit, to the last
        # bit); a stack takes pinv's, the same min-norm step for every resample at once.
        step = (np.linalg.lstsq(hess[0], grad[0], rcond=None)[0][None] if len(stack) == 1
                else (np.linalg.pinv(hess, hermitian=True) @ grad[:, :, None])[:, :, 0])
        r = r - step
        r -= r.mean(axis=1, keepdims=True)
        if np.max(np.abs(step)) < tol:
            break
    return r.reshape(w.shape[:-1])


def to_elo(r: np.ndarray) -> np.ndarray:
    return ELO_BASE + ELO_SCALE * np.asarray(r)


def separated(wins: np.ndarray) -> bool:
    """Whether the players who played split into a group that never lost to the rest: the
    "beat at least once" graph is not strongly connected, and the Bradley–Terry MLE is not
    finite (Zermelo's condition). Draws count as a half win both ways."""
    w = np.asarray(wins, dtype=np.float64)
    played = np.flatnonzero((w + w.T).sum(axis=1) > 0)
    if played.size < 2:
        return False
    reach = w[np.ix_(played, played)] > 0
    reach |= np.eye(played.size, dtype=bool)
    for _ in range(int(np.ceil(np.log2(played.size))) + 1):
        reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
    return not bool(reach.all())


def elo_ratings(games: Games, n: int, *, l2: float = 0.01, n_boot: int = 200, seed: int = 0,
                confidence: float = 0.95) -> list[dict]:
    """Per player: Elo (Bradley–Terry fit) with a bootstrap interval over episodes. A player
    with fewer than MIN_UNITS games, or every player of a separated fit (`prior_dominated`),
    gets no interval (low = high = None)."""
    wins = games.win_matrix(n)
    elo = to_elo(bradley_terry(wins, l2=l2))
    rng = np.random.default_rng(seed)
    boots = to_elo(bradley_terry(games.resampled_win_matrices(n, rng, n_boot), l2=l2))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha], axis=0)
    prior = separated(wins)
    n_games = (wins + wins.T).sum(axis=1)
    bare = [prior or n_games[i] < MIN_UNITS for i in range(n)]
    return [{"elo": float(elo[i]), "low": None if bare[i] else float(low[i]),
             "high": None if bare[i] else float(high[i]), "prior_dominated": prior} for i in range(n)]


def openskill_ratings(games: Games, names: Sequence[str], teams: Sequence[Sequence[int]] | None = None) -> list[dict]:
    """Weng–Lin (OpenSkill Plackett–Luce) ratings: per player mu, sigma and the conservative
    ordinal mu - 3 sigma. `teams[p]` lists the members rated for player p (default: p alone),
    so a side fielded by several rated members shares each game's update.

    Episodes are interleaved across pairs (episode 0 of every pair, then episode 1, ...) so
    no pairing is seen all at once; the result is still order-dependent, as online ratings are.
    """
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    ratings = [model.rating(name=str(nm)) for nm in names]
    teams = [list(t) for t in teams] if teams else [[p] for p in range(len(names))]
    longest = max((len(o) for o in games.outcomes), default=0)
    for e in range(longest):
        for i, j, out in zip(games.first, games.second, games.outcomes):
            if e >= len(out) or i == j:
                continue
            # ranks: lower is better; equal ranks are a draw.
            ranks = [0, 0] if out[e] == 0.5 else ([0, 1] if out[e] > 0.5 else [1, 0])
            a, b = [ratings[m] for m in teams[i]], [ratings[m] for m in teams[j]]
            new_a, new_b = model.rate([a, b], ranks=ranks)
            for m, rt in zip(teams[i] + teams[j], new_a + new_b):
                ratings[m] = rt
    return [{"mu": float(r.mu), "sigma": float(r.sigma), "ordinal": float(r.ordinal())} for r in ratings]
