"""EpisodeTrace: one played episode as host-side numpy, whatever it came from.

The match runner's recording, a replay file and a live match all become EpisodeTraces, and
the viewer, `replay verify` and exports only ever read EpisodeTraces. Env states are held as
`{leaf path: array}` (arena.states); whoever needs the env's pytree rebuilds it with
`arena.states.state_tree`. Numpy only.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from arena.states import state_leaves


@dataclasses.dataclass
class SideInfo:
    """Who played one side, and the labels of what it emitted."""

    name: str  # side name (seat or team)
    seats: tuple[int, ...]
    agent: str  # agent name
    arch: str = ""
    sha256: str = ""  # params hash of the agent's checkpoint
    extras: dict = dataclasses.field(default_factory=dict)  # name -> {"shape": [...], "labels": [...]}
    human: bool = False  # a human played the whole side
    # Seats of this agent's side that a human played (their keys replaced the agent's choice).
    human_seats: tuple[int, ...] = ()
    # Names of the side's actions, index -> label (its team's), so that a replay is drawn
    # without building its env; () when unknown (replays written before they were recorded).
    action_labels: tuple[str, ...] = ()


@dataclasses.dataclass
class EpisodeTrace:
    """One episode, T steps. Arrays are numpy; `states` is the env state as {leaf path: array},
    each with a leading axis of T + 1 (the state after reset, then after each step)."""

    env_id: str
    env_kwargs: dict
    seats: tuple[str, ...]
    sides: tuple[SideInfo, ...]
    seed: int
    episode: int  # index in the match batch: its key is fold_in(PRNGKey(seed), episode)
    states: dict  # leaf path -> (T + 1, ...), in the state pytree's leaf order
    actions: np.ndarray  # (T, S) int32
    rewards: np.ndarray  # (T, S) float32
    dones: np.ndarray  # (T,) bool: the episode ended at this step
    extras: tuple  # per side: name -> (T, n_side_seats, *shape) float32
    reaction_ms: np.ndarray | None = None  # (T, S) float32 for human seats, NaN elsewhere

    @property
    def length(self) -> int:
        return int(self.actions.shape[0])

    def state_at(self, t: int) -> dict:
        """Env state leaves after t steps (t = 0 is the state after reset)."""
        return {path: leaf[t] for path, leaf in self.states.items()}


def side_infos(env, lineup: Sequence[Any], human_seat: int | None = None) -> tuple[SideInfo, ...]:
    """SideInfo per side of `env` from the LoadedAgents playing it: None is a side a human
    plays whole; `human_seat` in an agent's side is a seat the human took over from it."""
    out = []
    for side, loaded in zip(env.spec.sides, lineup):
        labels = tuple(env.spec.team_of(side).action_labels)
        if loaded is None:
            out.append(SideInfo(name=side.name, seats=tuple(side.seats), agent="human", arch="human", human=True,
                                action_labels=labels))
            continue
        m = loaded.manifest
        out.append(SideInfo(name=side.name, seats=tuple(side.seats), agent=m.name, arch=m.arch,
                            sha256=m.params.sha256, extras=dict(m.extras),
                            human_seats=(human_seat,) if human_seat is not None and human_seat in side.seats else (),
                            action_labels=labels))
    return tuple(out)


def traces_from_result(result, sides: tuple[SideInfo, ...], env_kwargs: dict, seats: tuple[str, ...]) -> list[EpisodeTrace]:
    """Split a recorded MatchResult (run_match with record=R) into R EpisodeTraces."""
    if result.steps is None:
        raise ValueError("the match was not recorded (run_match(..., record=R) with R >= 1)")
    steps = result.steps  # StepRecord, leaves (T, R, ...)
    R = steps.actions.shape[1]
    initial = state_leaves(result.initial_state)  # (R, ...)
    later = state_leaves(steps.env_state)  # (T, R, ...), the same paths
    traces = []
    for r in range(R):
        states = {p: np.concatenate([x[r][None], later[p][:, r].astype(x.dtype)], axis=0) for p, x in initial.items()}
        traces.append(
            EpisodeTrace(
                env_id=result.env_id,
                env_kwargs=dict(env_kwargs),
                seats=tuple(seats),
                sides=sides,
                seed=result.seed,
                episode=r,
                states=states,
                actions=np.asarray(steps.actions[:, r]),
                rewards=np.asarray(steps.rewards[:, r]),
                dones=np.asarray(steps.done[:, r]),
                extras=tuple({k: np.asarray(v[:, r]) for k, v in ex.items()} for ex in steps.extras),
            )
        )
    return traces


def trimmed(trace: EpisodeTrace) -> EpisodeTrace:
    """The trace cut after the step where its episode ended (the runner scans max_steps steps
    for every episode; what follows the end is filler that no one should have to store)."""
    ended = np.flatnonzero(np.asarray(trace.dones))
    if not ended.size or ended[0] + 1 == trace.length:
        return trace
    T = int(ended[0]) + 1
    cut = lambda x: None if x is None else x[:T]  # noqa: E731
    return dataclasses.replace(
        trace,
        states={p: x[: T + 1] for p, x in trace.states.items()},
        actions=trace.actions[:T],
        rewards=trace.rewards[:T],
        dones=trace.dones[:T],
        extras=tuple({k: v[:T] for k, v in ex.items()} for ex in trace.extras),
        reaction_ms=cut(trace.reaction_ms),
    )
