"""Traces that grow while an episode is played: the live match view and human play.

`GrowingTrace` is an EpisodeTrace whose arrays are allocated for the whole episode up front
and filled one step at a time; `length` counts the steps filled so far, so the viewer reads it
exactly as it reads a finished trace (everything up to `length`). `LiveMatch` runs
`arena.match.play_match` in a background thread with the runner's `observer` hook filling a
GrowingTrace with episode 0 as the compiled scan plays it. The traces are host-side numpy;
only LiveMatch and `initial_state` touch the env and the compiled match.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from arena import keys
from arena.checkpoint import load_agent
from arena.match import check_lineup, play_match, resolve_env
from arena.states import state_leaves
from arena.trace import EpisodeTrace, SideInfo, side_infos
from arena.trees import thaw
from arena.viewer.app import Viewer, ViewerConfig


@dataclasses.dataclass
class GrowingTrace(EpisodeTrace):
    """An EpisodeTrace being filled: arrays sized for `env.spec.max_steps`, `filled` steps valid."""

    filled: int = 0
    finished: bool = False  # no more steps will come (episode over, or the match ended)

    @property
    def length(self) -> int:
        return self.filled

    @property
    def capacity(self) -> int:
        return int(self.actions.shape[0])

    @classmethod
    def start(cls, env, sides: tuple[SideInfo, ...], initial_state: Any, *, seed: int, episode: int = 0,
              human: bool = False) -> GrowingTrace:
        T, S = env.spec.max_steps, env.spec.num_seats

        def alloc(x):
            x = np.asarray(x)
            buf = np.zeros((T + 1, *x.shape), x.dtype)
            buf[0] = x
            return buf

        return cls(
            env_id=env.spec.id,
            env_kwargs=thaw(dict(env.spec.kwargs)),
            seats=tuple(env.spec.seats),
            sides=sides,
            seed=seed,
            episode=episode,
            states={path: alloc(x) for path, x in state_leaves(initial_state).items()},
            actions=np.zeros((T, S), np.int32),
            rewards=np.zeros((T, S), np.float32),
            dones=np.zeros((T,), bool),
            extras=tuple({} for _ in sides),
            reaction_ms=np.full((T, S), np.nan, np.float32) if human else None,
        )

    def append(self, rec: Any, reaction_ms: np.ndarray | None = None) -> None:
        """Add one step (a StepRecord of one episode, device or numpy arrays)."""
        t = self.filled
        if t >= self.capacity or self.finished:
            return
        for path, x in state_leaves(rec.env_state).items():
            self.states[path][t + 1] = x
        self.actions[t] = np.asarray(rec.actions)
        self.rewards[t] = np.asarray(rec.rewards)
        self.dones[t] = bool(np.asarray(rec.done))
        for side_extras, rec_extras in zip(self.extras, rec.extras):
            for name, value in rec_extras.items():
                value = np.asarray(value, np.float32)
                if name not in side_extras:
                    side_extras[name] = np.zeros((self.capacity, *value.shape), np.float32)
                side_extras[name][t] = value
        if reaction_ms is not None and self.reaction_ms is not None:
            self.reaction_ms[t] = reaction_ms
        # Data first, then the count: a reader on another thread never sees a half-written step.
        self.filled = t + 1
        if self.dones[t]:
            self.finished = True

    def frozen(self) -> EpisodeTrace:
        """A plain EpisodeTrace of the steps filled so far (copies)."""
        L = self.filled
        return EpisodeTrace(
            env_id=self.env_id, env_kwargs=dict(self.env_kwargs), seats=self.seats, sides=self.sides,
            seed=self.seed, episode=self.episode,
            states={path: x[: L + 1].copy() for path, x in self.states.items()},
            actions=self.actions[:L].copy(), rewards=self.rewards[:L].copy(), dones=self.dones[:L].copy(),
            extras=tuple({k: v[:L].copy() for k, v in ex.items()} for ex in self.extras),
            reaction_ms=None if self.reaction_ms is None else self.reaction_ms[:L].copy(),
        )


def initial_state(env, seed: int, episode: int = 0) -> Any:
    """The state the runner resets episode `episode` of a match with seed `seed` to."""
    import jax

    state, _ = jax.jit(env.reset)(keys.reset_key(keys.seed_episode_key(seed, episode)))
    return jax.device_get(state)


class LiveMatch:
    """`play_match` on a background thread, episode 0 of the first seat order streamed into
    `self.trace` step by step; `report`/`error` are set when it ends."""

    def __init__(self, refs: Sequence[str], *, env_id=None, env_kwargs=None, episodes=256, seed=0, swap=None,
                 on_done=None, **match_kwargs):
        lineup = [load_agent(r) for r in refs]
        self.env = resolve_env(lineup, env_id, env_kwargs)
        check_lineup(lineup, self.env)  # fail here, on the main thread, with a clear message
        self.trace = GrowingTrace.start(self.env, side_infos(self.env, lineup), initial_state(self.env, seed), seed=seed)
        self.refs, self.env_id, self.env_kwargs = list(refs), env_id, env_kwargs
        self.episodes, self.seed, self.swap = episodes, seed, swap
        self.match_kwargs = match_kwargs
        self.on_done = on_done
        self.report: dict | None = None
        self.results: list | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="arena-live-match", daemon=True)

    def _observe(self, t, rec) -> None:
        self.trace.append(rec)

    def _run(self) -> None:
        try:
            self.report, self.results = play_match(
                self.refs, env_id=self.env_id, env_kwargs=self.env_kwargs, episodes=self.episodes,
                seed=self.seed, swap=self.swap, observer=self._observe, **self.match_kwargs,
            )
        except BaseException as err:  # reported on the main thread
            self.error = err
        finally:
            self.trace.finished = True
            if self.on_done is not None:
                self.on_done(self)

    def start(self) -> LiveMatch:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


def watch_match(refs: Sequence[str], *, size=(1280, 760), max_frames: int | None = None, on_done=None, **match_kwargs):
    """Play a match with episode 0 drawn live in the viewer; returns (report, results) once
    both the match and the window are done. `on_done(live_match)` runs as soon as the match
    ends (the CLI prints the statistics then, while the window stays open)."""
    live = LiveMatch(refs, on_done=on_done, **match_kwargs)
    viewer = Viewer([live.trace], ViewerConfig(size=size, title="arena match (live)"), live=True)
    live.start()
    viewer.say("compiling the match…", 2.0)
    viewer.run(max_frames=max_frames)
    live.join()
    return live.report, live.results
