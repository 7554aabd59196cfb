"""Line-ups: which env a set of agents plays, whether each agent can play its side, and who
takes which side when a human sits at one seat. Pure Python over manifests and env specs.

A side of one seat is a human's alone (every seat in Overcooked, ipd and coord_game;
mpe_tag's prey). In a bigger side (one of mpe_tag's three predators) an agent drives the side
as usual and the human's key replaces its choice for the human's seat, so that side needs an
agent too.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from arena.checkpoint import LoadedAgent
from arena.env import Env, Side, make
from arena.errors import FieldError, IncompatibleAgents, UserError


def resolve_env(agents: Sequence[LoadedAgent], env_id: str | None = None, env_kwargs: dict | None = None) -> Env:
    """The env named on the command line, else the one the first manifest names."""
    if env_id is None:
        env_id = agents[0].manifest.env
        env_kwargs = {**agents[0].manifest.env_kwargs, **(env_kwargs or {})}
    return make(env_id, **(env_kwargs or {}))


def can_play(loaded: LoadedAgent, env: Env, side: Side) -> str | None:
    """Why `loaded` cannot play `side` of `env`, or None when it can."""
    team = env.spec.team_of(side)
    m = loaded.manifest
    if m.plays and side.name not in m.plays and team.name not in m.plays:
        return f"plays {', '.join(m.plays)}, not {side.name}"
    if tuple(m.obs_shape) != tuple(team.obs_shape):
        return f"observes shape {tuple(m.obs_shape)}, but {env.spec.id} side {side.name} gives {tuple(team.obs_shape)}"
    if m.obs_dtype != team.obs_dtype:
        return f"observes dtype {m.obs_dtype}, but {env.spec.id} side {side.name} gives {team.obs_dtype}"
    if m.num_actions != team.num_actions:
        return f"has {m.num_actions} actions, but {env.spec.id} side {side.name} has {team.num_actions}"
    return None


def check_lineup(lineup: Sequence[LoadedAgent], env: Env) -> None:
    """One agent per side of `env`, each able to play its side; else IncompatibleAgents."""
    sides = env.spec.sides
    if len(lineup) != len(sides):
        names = ", ".join(s.name for s in sides)
        raise IncompatibleAgents(f"{env.spec.id} needs {len(sides)} agents (sides: {names}), got {len(lineup)}")
    for loaded, side in zip(lineup, sides):
        problem = can_play(loaded, env, side)
        if problem:
            raise IncompatibleAgents(f"{loaded.source}: agent {loaded.name!r} cannot play {env.spec.id}: it {problem}")


def human_side(env: Env, seat: int, *, alone: bool = False) -> int:
    """The side of a human at `seat`. `alone`: it must be a side of one seat, which the
    human takes whole (a human series, where the agent under test plays every other side)."""
    spec = env.spec
    if not 0 <= seat < spec.num_seats:
        raise FieldError(f"`seat` {seat}: {spec.id} has seats 0..{spec.num_seats - 1} ({', '.join(spec.seats)})")
    side = next(i for i, s in enumerate(spec.sides) if seat in s.seats)
    if alone and len(spec.sides[side].seats) != 1:
        one = [str(s.seats[0]) for s in spec.sides if len(s.seats) == 1]
        raise FieldError(f"`seat` {seat} is in side {spec.sides[side].name!r} of {len(spec.sides[side].seats)} seats; in a "
                        f"human series the agent plays every other side, so take a side of one seat: "
                        f"`seat` {' or '.join(one) or '(none in this env)'}")
    return side


@dataclasses.dataclass(frozen=True)
class HumanLineup:
    """Who plays a game with a human at `seat`."""

    env: Env
    seat: int
    side: int  # the human's side
    agents: tuple[LoadedAgent | None, ...]  # per side; None: the human's side, theirs alone

    @property
    def shared(self) -> bool:
        """The human's side has other seats: its agent drives them, the human's key takes one."""
        return self.agents[self.side] is not None


def human_lineup(loaded: Sequence[LoadedAgent], seat: int, *, env_id: str | None = None,
                 env_kwargs: dict | None = None) -> HumanLineup:
    """The line-up of a human at `seat` with `loaded`: one agent per side that needs one, in
    side order, or a single agent that can fill them all."""
    if not loaded:
        raise UserError("give at least one agent to play with or against")
    env = resolve_env(loaded, env_id, env_kwargs)
    spec = env.spec
    sides = spec.sides
    mine = human_side(env, seat)
    shared = len(sides[mine].seats) > 1
    driven = [i for i in range(len(sides)) if shared or i != mine]
    if len(loaded) == 1 and all(can_play(loaded[0], env, sides[i]) is None for i in driven):
        loaded = list(loaded) * len(driven)  # one agent drives every side that needs one
    if len(loaded) != len(driven):
        raise UserError(f"{spec.id} with a human on seat {seat} needs {len(driven)} agent(s), one per side "
                        f"{', '.join(sides[i].name for i in driven)} in this order; got {len(loaded)}")
    agents: list[LoadedAgent | None] = [None] * len(sides)
    for i, a in zip(driven, loaded):
        problem = can_play(a, env, sides[i])
        if problem:
            raise IncompatibleAgents(f"{a.source}: agent {a.name!r} cannot play {spec.id} side {sides[i].name}: it {problem}")
        agents[i] = a
    return HumanLineup(env=env, seat=seat, side=mine, agents=tuple(agents))
