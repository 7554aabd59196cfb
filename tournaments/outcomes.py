"""Which episodes a rating compares, and who won each (numpy only).

Two ways, chosen by who plays what:

- Agents that play both sides (ipd's row and col) meet head to head: each episode is a game
  the side with the higher mean return wins; equal returns are a draw.
- When no agent plays both sides, the sides are roles (mpe_tag's predators and prey) whose
  returns are not on one scale: every capture pays the predators and costs the prey, so the
  prey would lose every head-to-head episode whatever they did. Agents are then rated within
  their role, each role a ladder of its own: two predators are compared on the same prey,
  episode k of one against episode k of the other, by the score the env declares for the
  role (`EnvSpec.scores`: mpe_tag scores predators by captures and prey by their return).

A tournament's stored `env_info["scores"]` holds the declaration, so `show` needs no env.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

HEAD_TO_HEAD = "head to head: the side with the higher mean return wins the episode; equal is a draw"


def roles(lineups: Sequence[tuple[int, int]]) -> dict[int, int] | None:
    """Agent -> the side it plays (0 or 1) when no agent plays both sides; None otherwise."""
    first = {a for a, b in lineups if a != b}
    second = {b for a, b in lineups if a != b}
    if first & second:
        return None
    return {**{a: 0 for a in first}, **{b: 1 for b in second}}


def side_score(env_info: dict, side: int) -> dict:
    """The declared score of a side's role: {team, metric, higher_is_better, doc}; a side the
    env declares nothing for is scored by its own mean return."""
    name = env_info["sides"][side]["name"]
    declared = {s["team"]: s for s in env_info.get("scores") or []}
    return declared.get(name, {"team": name, "metric": "return", "higher_is_better": True, "doc": ""})


def describe(env_info: dict, per_role: bool) -> str:
    """The rule in words, as reports print it."""
    if not per_role:
        return HEAD_TO_HEAD
    parts = []
    for side in (0, 1):
        s = side_score(env_info, side)
        other = env_info["sides"][1 - side]["name"]
        what = "return" if s["metric"] == "return" else s["metric"]
        parts.append(f"{s['team']} vs {s['team']} on the same {other} ({'higher' if s['higher_is_better'] else 'lower'} "
                     f"{what} wins)")
    return "per role, episode by episode: " + ", ".join(parts) + "; equal is a draw"


def head_to_head(side_returns: Sequence[np.ndarray]) -> np.ndarray:
    """(E,) outcomes from side 0's point of view: 1 won, 0 lost, 1/2 draw."""
    r0, r1 = (np.asarray(r, dtype=np.float64) for r in side_returns)
    return np.where(r0 > r1, 1.0, np.where(r0 == r1, 0.5, 0.0))


def role_games(env_info: dict, lineups: Sequence[tuple[int, int]], role_of: dict[int, int],
               score: Callable[[tuple[int, int], int, str], np.ndarray]):
    """Per role (0, 1): (first, second, outcomes) of the within-role games. Agents i and j of a
    role meet through every opponent both faced: outcome k compares i's episode k with j's
    (the first min(E_i, E_j) episodes) by the role's declared score.

    score(lineup, side, metric) -> (E,) that side's episode values ("return" or a metric)."""
    out = []
    for side in (0, 1):
        rule = side_score(env_info, side)
        sign = 1.0 if rule["higher_is_better"] else -1.0
        members = sorted(a for a, k in role_of.items() if k == side)
        by_opponent: dict[int, dict[int, np.ndarray]] = {}
        for lu in lineups:
            if lu[0] != lu[1]:
                by_opponent.setdefault(lu[1 - side], {})[lu[side]] = sign * np.asarray(
                    score(lu, side, rule["metric"]), dtype=np.float64)
        first, second, outcomes = [], [], []
        for x, i in enumerate(members):
            for j in members[x + 1:]:
                for values in by_opponent.values():
                    if i in values and j in values:
                        e = min(len(values[i]), len(values[j]))
                        first.append(i)
                        second.append(j)
                        outcomes.append(head_to_head([values[i][:e], values[j][:e]]))
        out.append((first, second, outcomes))
    return out
