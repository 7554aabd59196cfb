"""Human play: a person controls one seat from the keyboard, agents play the other sides.

The game runs in real time at a fixed tick rate and never waits: the key pressed last before
a tick is the human's action for it (no key = the env's stay/no-op action; in the matrix
games, which have none, the previous choice repeats). Every tick is one call of the runner's
own `play_step`, jitted with the human's action as `override` and compiled (with the scene
renderer) before the first tick, so no tick stalls on a compile. The episode is episode 0 of
a match with the game's seed (`arena.keys`), so the replay it writes re-simulates with
`arena replay verify`.

Every finished game (and an abandoned one, as far as it went) is written as a replay with
the human's reaction time per step, and one row is appended to `human_games.csv`
(`arena.human_results`). Who takes which side is `arena.lineup.human_lineup`'s answer.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np
import pygame

from arena.checkpoint import load_agent
from arena.errors import UserError
from arena.human_results import append_result
from arena.keys import reset_key, seed_episode_key, step_key
from arena.lineup import human_lineup
from arena.paths import data_dir
from arena.replay import ReplayWriter
from arena.runner import episode_start, human_match_agents, play_step, reduce_metrics
from arena.trace import SideInfo, side_infos
from arena.viewer.app import Viewer, ViewerConfig, headless
from arena.viewer.dialogs import show
from arena.viewer.keys import PLAYBACK_KEYS, key_map, legend, noop_action
from arena.viewer.live import GrowingTrace

# Env steps per second a human can follow, by env family.
TICK_HZ = {"overcooked": 6.0, "overcooked_v2": 6.0, "mpe_tag": 8.0, "ipd": 1.0, "coord_game": 1.0}


@dataclasses.dataclass(frozen=True)
class PlayConfig:
    """Settings of one human game."""

    seat: int = 0  # the seat the human plays
    seed: int = 0  # the game is episode 0 of a match with this seed
    tick_hz: float | None = None  # env steps per second; None = a human pace for the env
    countdown: float = 2.0  # seconds shown before the first tick
    size: tuple[int, int] = (1280, 760)
    fps: int = 60
    replay_path: Path | None = None  # None: data_dir()/human/<time>-<env>-seed<k>.replay
    close_at_end: bool = False  # leave the window when the episode ends (always when headless)
    # Blind play (human series): every agent is shown as this label, its internals hidden;
    # the replay and the CSV row still name it.
    partner_label: str | None = None

    def __post_init__(self):
        if self.tick_hz is not None and not 0.2 <= self.tick_hz <= 60:
            raise UserError("--tick-hz must be between 0.2 and 60")


class HumanGame:
    """One human game: agents loaded and compiled, the window loop, the replay and CSV row."""

    def __init__(self, refs: Sequence[str], *, env_id: str | None = None, env_kwargs: dict | None = None,
                 config: PlayConfig | None = None):
        self.config = config = config or PlayConfig()
        line = human_lineup([load_agent(r) for r in refs], config.seat, env_id=env_id, env_kwargs=env_kwargs)
        self.env = env = line.env
        spec = env.spec
        self.human_side, self.shared = line.side, line.shared
        self.lineup = lineup = list(line.agents)
        team = spec.team_of(spec.sides[line.side])
        self.labels = tuple(team.action_labels) or tuple(str(a) for a in range(team.num_actions))
        self.keys = key_map(self.labels)
        self.noop = noop_action(self.labels)
        agents, self.params = human_match_agents(line)  # a stand-in on the human's side
        self.ep_key = ep_key = seed_episode_key(config.seed, 0)
        self._start = jax.jit(lambda params, key: episode_start(env, agents, params, key))
        self._step = jax.jit(lambda params, carry, key, mask, acts: play_step(env, agents, params, carry, key, (mask, acts)))
        self._key = jax.jit(lambda t: step_key(ep_key, t))
        self.mask = np.zeros((spec.num_seats,), bool)
        self.mask[config.seat] = True
        self.carry = jax.block_until_ready(self._start(self.params, reset_key(ep_key)))
        self.sides_info = side_infos(env, lineup, config.seat)
        shown = self.sides_info
        if config.partner_label:
            shown = tuple(s if s.human else SideInfo(name=s.name, seats=s.seats, agent=config.partner_label,
                                                     human_seats=s.human_seats) for s in shown)
        self.trace = GrowingTrace.start(env, shown, jax.device_get(self.carry.env_state), seed=config.seed, human=True)
        self.last_action = self.noop if self.noop is not None else 0
        self.replay_path: Path | None = None
        self.results_path: Path | None = None
        self.warm_seconds = 0.0

    # ------------------------------------------------------------------ stepping

    def warm_up(self, viewer=None) -> float:
        """Compile the step (and the scene's renderer) now, so the first tick does not stall."""
        start = time.perf_counter()
        acts = np.zeros_like(self.mask, dtype=np.int32)
        jax.block_until_ready(self._step(self.params, self.carry, self._key(0), self.mask, acts))
        if viewer is not None:
            viewer.draw(pygame.Surface(self.config.size), self.trace, 0)
        self.warm_seconds = time.perf_counter() - start
        return self.warm_seconds

    def tick(self, action: int | None, reaction_ms: float = float("nan")) -> None:
        """Play one step with the human's action (None: the no-op, or the last choice)."""
        if self.trace.finished:
            return
        if action is None:
            action = self.noop if self.noop is not None else self.last_action
        self.last_action = int(action)
        acts = np.zeros_like(self.mask, dtype=np.int32)
        acts[self.config.seat] = action
        t = self.trace.length
        self.carry, rec = self._step(self.params, self.carry, self._key(t), self.mask, acts)
        rec = jax.device_get(rec)
        if not self.shared:  # the stand-in's extras describe nothing the human did
            rec = rec.replace(extras=tuple({} if i == self.human_side else ex for i, ex in enumerate(rec.extras)))
        ms = np.full((self.env.spec.num_seats,), np.nan, np.float32)
        ms[self.config.seat] = reaction_ms
        self.trace.append(rec, ms)

    # ------------------------------------------------------------------ the window

    def run(self, on_frame: Callable[[HumanGame], None] | None = None, max_frames: int | None = None) -> dict:
        """Play in a window until the episode ends (and, unless close_at_end, the window is
        closed); then save the replay and the CSV row. Returns the result row."""
        cfg = self.config
        self.viewer = viewer = Viewer([self.trace], ViewerConfig(size=cfg.size, fps=cfg.fps, autoplay=False, title="arena play"),
                                      live=True)
        viewer.players = frozenset({cfg.seat})  # the env's hidden truth is drawn only if this seat observes it
        if cfg.partner_label:
            viewer.hidden = frozenset(seat for s in self.trace.sides if not s.human for seat in s.seats)
        viewer.footer = f"you are seat {cfg.seat} ({self.env.spec.seats[cfg.seat]}): {legend(self.labels, self.keys)} · H help · S screenshot · Esc quit"
        screen = viewer.open_window()
        viewer.say("compiling the agents…", 60)
        viewer.draw(screen)
        pygame.display.flip()
        self.warm_up(viewer)
        hz = cfg.tick_hz or TICK_HZ.get(self.env.spec.id.split("/")[0], 5.0)
        period = 1.0 / hz
        viewer.status = f"{hz:g} steps/s"
        viewer.notes[cfg.seat] = ("your keys:", *legend(self.labels, self.keys).split(" · "))
        clock = pygame.time.Clock()
        start = time.perf_counter()
        next_tick = start + cfg.countdown
        shown_at = next_tick  # when the state the human reacts to was first on screen
        chosen: int | None = None
        pressed_at = 0.0
        self.frames = 0
        # For the latency benchmark: key handled -> its frame on screen; tick -> new state on screen.
        self.latency: dict[str, list[float]] = {"key_to_frame_ms": [], "tick_to_frame_ms": []}
        viewer.say(f"go! {hz:g} steps per second", cfg.countdown + 1.0)
        while viewer.running and (max_frames is None or self.frames < max_frames):
            key_seen = None
            if on_frame is not None:
                on_frame(self)  # scripts and tests post their key events here, before input
            for ev in pygame.event.get():
                if ev.type == pygame.KEYDOWN and ev.key in self.keys and not self.trace.finished:
                    chosen, pressed_at = self.keys[ev.key], time.perf_counter()
                    key_seen = pressed_at
                    viewer.pending[cfg.seat] = self.labels[chosen]
                elif ev.type == pygame.KEYDOWN and ev.key in PLAYBACK_KEYS:
                    pass  # playback keys mean nothing in a live game
                else:
                    viewer.handle_event(ev)
            now = time.perf_counter()
            ticked = False
            if now >= next_tick and not self.trace.finished:
                ticked = True
                reaction = (pressed_at - shown_at) * 1000.0 if chosen is not None else float("nan")
                self.tick(chosen, max(0.0, reaction) if chosen is not None else reaction)
                chosen = None
                viewer.pending.pop(cfg.seat, None)
                # Never spiral: a late tick pushes the next one, it does not queue a burst.
                next_tick = max(next_tick + period, now + 0.5 * period)
                if self.trace.finished:
                    row = self.finish()
                    viewer.say(f"game over: your return {row['human_return']:+.1f} · saved {self.replay_path.name}", 3600)
                    if cfg.close_at_end or headless():  # headless: nobody is there to close it
                        viewer.running = False
            viewer.cursor = float(self.trace.length)
            screen = pygame.display.get_surface() or screen
            viewer.draw(screen)
            pygame.display.flip()
            flipped = time.perf_counter()
            if ticked:
                shown_at = flipped  # reaction times count from here
                self.latency["tick_to_frame_ms"].append((flipped - now) * 1000.0)
            if key_seen is not None:
                self.latency["key_to_frame_ms"].append((flipped - key_seen) * 1000.0)
            self.frames += 1
            clock.tick(cfg.fps)
        self.loop_seconds = time.perf_counter() - start
        if self.replay_path is None and self.trace.length:
            return self.finish()
        return self._row if self.replay_path else {}

    # ------------------------------------------------------------------ results

    def finish(self) -> dict:
        """Write the replay and append the result row (once)."""
        if self.replay_path is not None:
            return self._row
        trace = dataclasses.replace(self.trace.frozen(), sides=self.sides_info)  # who really played
        spec = self.env.spec
        stamp = datetime.datetime.now(datetime.UTC)
        path = Path(self.config.replay_path or (
            data_dir() / "human" / f"{stamp:%Y%m%dT%H%M%S}-{spec.id.replace('/', '-')}-seed{self.config.seed}.replay"))
        path = path.absolute()  # the CSV row must find it from any working directory
        returns = trace.rewards.sum(axis=0)
        metrics = self._metrics(trace)
        meta = {"source": "arena play", "human_seat": self.config.seat, "complete": bool(self.trace.finished),
                "agents": [a.source if a is not None else "human" for a in self.lineup]}
        with ReplayWriter.for_trace(path, trace, episodes=1, meta=meta) as w:
            w.write_episode(trace, metrics=metrics)
        self.replay_path = path
        rt = trace.reaction_ms[:, self.config.seat] if trace.reaction_ms is not None else np.array([np.nan])
        row = {
            "finished_utc": stamp.isoformat(timespec="seconds"),
            "env": spec.id,
            "env_kwargs": json.dumps(trace.env_kwargs, sort_keys=True),
            "seed": self.config.seed,
            "human_seat": self.config.seat,
            "agents": json.dumps([a.name if a is not None else "human" for a in self.lineup]),
            "steps": trace.length,
            "complete": bool(self.trace.finished),
            "human_return": float(returns[self.config.seat]),
            "returns": json.dumps([float(r) for r in returns]),
            "metrics": json.dumps(metrics, sort_keys=True),
            "mean_reaction_ms": float(np.nanmean(rt)) if np.isfinite(rt).any() else "",
            "replay": str(self.replay_path),
        }
        self.results_path = append_result(row)
        self._row = row
        return row

    def _metrics(self, trace) -> dict:
        """This episode's metrics, reduced as the runner reduces them: the episode carry sums
        each metric while the episode runs."""
        return {k: float(v) for k, v in reduce_metrics(self.env, self.carry.metrics, trace.length).items()}


def play_game(refs: Sequence[str], *, env_id: str | None = None, env_kwargs: dict | None = None,
              config: PlayConfig | None = None, loading: str | None = None,
              on_frame: Callable[[HumanGame], None] | None = None) -> dict:
    """Load, compile and play one game in the window: its result row ({} if no step was
    played). `loading` is a title shown in the open window while the agents load."""
    if loading:
        show(loading, ["loading and compiling…"])
    return HumanGame(refs, env_id=env_id, env_kwargs=env_kwargs, config=config).run(on_frame=on_frame)
