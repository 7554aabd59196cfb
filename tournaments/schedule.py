"""The scheduler: a mode and a population -> the cells a tournament plays.

A cell is one lineup (an agent index per side of the env) and one replicate seed. Its match
seed is derived from the tournament seed, the lineup's agents by content and the replicate, so
any cell reproduces alone: `arena match A B --seed MATCH_SEED` plays the same episodes. Both
seat orders of a pair share the seed (as `arena match --swap` does), so J(a,b) and J(b,a) are
paired episode by episode.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np

from arena.errors import IncompatibleAgents, UserError
from arena.lineup import can_play, human_side
from arena.tournaments.spec import HUMAN


@dataclasses.dataclass(frozen=True)
class Cell:
    index: int  # position in the schedule; the store's key with the tournament id
    lineup: tuple[int, ...]  # per side of the env, an index into the tournament's agent list
    replicate: int  # 0 .. spec.seeds - 1
    match_seed: int  # PRNGKey(match_seed) is the match key


def match_seed(tournament_seed: int, agent_ids: Sequence[str], replicate: int) -> int:
    """A 31-bit seed from the tournament seed, the (unordered) agents and the replicate."""
    text = f"{tournament_seed}:{','.join(sorted(agent_ids))}:{replicate}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def _require_playable(loaded, env, indices, side_numbers) -> None:
    sides = env.spec.sides
    for i in indices:
        for s in side_numbers:
            problem = can_play(loaded[i], env, sides[s])
            if problem:
                raise IncompatibleAgents(
                    f"{loaded[i].source}: agent {loaded[i].name!r} cannot play side {sides[s].name} of "
                    f"{env.spec.id}: it {problem}"
                )


def lineups(mode: str, loaded: Sequence, env, n_focal: int, reference: str = "provenance") -> list[tuple[int, ...]]:
    """The lineups of a mode; loaded = focal agents then (zeroshot) the pool. A zeroshot with a
    self-play reference also plays each partner with itself."""
    spec = env.spec
    sides = spec.sides
    n = len(loaded)
    if mode == "selfplay":
        _require_playable(loaded, env, range(n), range(len(sides)))
        return [(i,) * len(sides) for i in range(n)]
    if mode in ("crossplay", "zeroshot"):
        if not spec.cooperative or len(sides) != 2:
            raise UserError(
                f"{mode} needs a cooperative env with two sides (J_XP is defined for two-seat "
                f"cooperative games); {spec.id} has {len(sides)} side(s) and is "
                f"{'cooperative' if spec.cooperative else 'competitive'}; use --mode roundrobin"
            )
        _require_playable(loaded, env, range(n), (0, 1))
        if mode == "crossplay":
            return [(a, b) for a in range(n) for b in range(n)]
        pool = range(n_focal, n)
        own = [(p, p) for p in pool] if reference == "selfplay" else []
        return [pair for f in range(n_focal) for p in pool for pair in ((f, p), (p, f))] + own
    if mode == "roundrobin":
        if len(sides) != 2:
            raise UserError(f"roundrobin needs an env with two sides; {spec.id} has {len(sides)}")
        first = [i for i in range(n) if can_play(loaded[i], env, sides[0]) is None]
        second = [j for j in range(n) if can_play(loaded[j], env, sides[1]) is None]
        for i in range(n):
            if i not in first and i not in second:
                _require_playable(loaded, env, [i], [0])  # raises with the reason
        out = [(a, b) for a in first for b in second]
        if not any(a != b for a, b in out):
            raise IncompatibleAgents(
                f"roundrobin on {spec.id} needs at least one agent for side {sides[0].name} and "
                f"another for side {sides[1].name}"
            )
        return out
    raise UserError(f"unknown mode {mode!r}")


def schedule(mode: str, loaded: Sequence, agent_ids: Sequence[str], env, n_focal: int, seeds: int, seed: int,
             pairs: Sequence[tuple[int, int]] = (), reference: str = "provenance") -> list[Cell]:
    """Every cell of the tournament, in a fixed order (lineup-major, then replicate); with
    `pairs`, only the lineups of those pairs (in either seat order)."""
    chosen = lineups(mode, loaded, env, n_focal, reference)
    if pairs:
        wanted = {frozenset(p) for p in pairs}
        chosen = [lu for lu in chosen if frozenset(lu) in wanted and lu[0] != lu[1]]
        missing = wanted - {frozenset(lu) for lu in chosen}
        if missing:
            a, b = sorted(next(iter(missing)))
            raise IncompatibleAgents(f"pair ({a}, {b}): agents {loaded[a].name!r} and {loaded[b].name!r} cannot meet on {env.spec.id}")
    cells = []
    for lineup in chosen:
        for r in range(seeds):
            ms = match_seed(seed, [agent_ids[i] for i in lineup], r)
            cells.append(Cell(len(cells), lineup, r, ms))
    return cells


# ---------------------------------------------------------------- human series


def williams_rows(n: int) -> list[tuple[int, ...]]:
    """Orders of n items in which each item takes each position equally often and each item
    follows every other one equally often (a Williams design): n rows for even n, 2n for odd."""
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [tuple((x + r) % n for x in first) for r in range(n)]
    return rows + [row[::-1] for row in rows] if n % 2 else rows


def _player_hash(seed: int, player: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:human:{player}".encode()).digest()[:8], "little")


def blind_letters(n: int, seed: int, player: str) -> list[str]:
    """The letter each agent is shown as: a shuffle of A, B, C... drawn from the tournament
    seed and the player, so one player's A is not another's."""
    if n > 26:
        raise UserError(f"a human series shows agents as letters A..Z: at most 26 agents, got {n}")
    order = np.random.default_rng(_player_hash(seed, player)).permutation(n)
    return [chr(ord("A") + int(k)) for k in order]


def human_schedule(loaded: Sequence, agent_ids: Sequence[str], env, seat: int, games: int, seed: int,
                   player: str, row: int | None = None) -> list[Cell]:
    """The games of a human series in play order: `games` rounds, each agent once a round (on
    every side but the human's), rounds following successive rows of a Williams design that
    start at a row drawn from the player (or at `row`, as a server assigns them), so over
    players every agent is played first, second, ... equally often. A game's seed depends on the agent and round, not the player: every
    player meets an agent on the same episodes."""
    side = human_side(env, seat, alone=True)
    others = [s for s in range(len(env.spec.sides)) if s != side]
    _require_playable(loaded, env, range(len(loaded)), others)
    rows = williams_rows(len(loaded))
    start = (_player_hash(seed, player) if row is None else row) % len(rows)
    cells = []
    for r in range(games):
        for i in rows[(start + r) % len(rows)]:
            lineup = tuple(HUMAN if s == side else i for s in range(len(env.spec.sides)))
            cells.append(Cell(len(cells), lineup, r, match_seed(seed, [agent_ids[i], "human"], r)))
    return cells
