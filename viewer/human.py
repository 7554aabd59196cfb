"""Human play: a person controls one seat from the keyboard, agents play the other sides.

The game runs in real time at a fixed tick rate and never waits: the key pressed last before
a tick is the human's action for it (no key = the env's stay/no-op action; in the matrix
games, which have none, the previous choice repeats). Every tick is one call of the runner's
own `play_step`, jitted with the human's action as `override` and compiled (with the scene
renderer) before the first tick, so no tick stalls on a compile. The episode uses the match
runner's key scheme (episode key = fold_in(PRNGKey(seed), 0)), so the replay it writes
re-simulates with `arena replay verify`.

Every finished game (and an abandoned one, as far as it went) is written as a replay with
the human's reaction time per step, and one row is appended to `human_games.csv` in
`arena.paths.data_dir()`.

The human takes any seat. A side of one seat is the human's alone (every seat in Overcooked,
ipd and coord_game; mpe_tag's prey); in a bigger side (one of mpe_tag's three predators) an
agent drives the side as usual and the human's key replaces its choice for the human's seat,
so the agents are given for every side, the human's included.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pygame

from arena.errors import IncompatibleAgents, UserError

# Keys for actions, by the action's label in the env's TeamSpec (v1 and v2 Overcooked order
# their actions differently, so labels, not indices, carry the meaning).
LABEL_KEYS: dict[str, tuple[int, ...]] = {
    "up": (pygame.K_UP,),
    "down": (pygame.K_DOWN,),
    "left": (pygame.K_LEFT,),
    "right": (pygame.K_RIGHT,),
    "interact": (pygame.K_SPACE,),
    "cooperate": (pygame.K_c, pygame.K_1),
    "defect": (pygame.K_d, pygame.K_2),
}
KEY_NAMES = {pygame.K_UP: "↑", pygame.K_DOWN: "↓", pygame.K_LEFT: "←", pygame.K_RIGHT: "→", pygame.K_SPACE: "space"}
NOOP_LABELS = ("stay", "noop")
TICK_HZ = {"overcooked": 6.0, "overcooked_v2": 6.0, "mpe_tag": 8.0, "ipd": 1.0, "coord_game": 1.0}
RESULTS_FILE = "human_games.csv"
RESULTS_COLUMNS = ("finished_utc", "env", "env_kwargs", "seed", "human_seat", "agents", "steps", "complete",
                   "human_return", "returns", "metrics", "mean_reaction_ms", "replay")


@dataclasses.dataclass
class PlayConfig:
    """Settings of one human game."""

    seat: int = 0  # the seat the human plays (its side must have one seat)
    seed: int = 0  # the episode's key is fold_in(PRNGKey(seed), 0), as in a match
    tick_hz: float | None = None  # env steps per second; None = a human pace for the env
    countdown: float = 2.0  # seconds shown before the first tick
    size: tuple[int, int] = (1280, 760)
    fps: int = 60
    replay_path: Path | None = None  # None: data_dir()/human/<time>-<env>-seed<k>.replay
    close_at_end: bool = False  # leave the window when the episode ends (tests, scripts)
    # Blind play (human series): every agent is shown as this label, its internals hidden;
    # the replay and the CSV row still name it.
    partner_label: str | None = None

    def __post_init__(self):
        if self.tick_hz is not None and not 0.2 <= self.tick_hz <= 60:
            raise UserError("--tick-hz must be between 0.2 and 60")


def key_map(labels: Sequence[str]) -> dict[int, int]:
    """pygame key -> action index for a team's action labels; digits 1..9 pick by index."""
    out: dict[int, int] = {}
    for a, label in enumerate(labels):
        for key in LABEL_KEYS.get(label, ()):
            out.setdefault(key, a)
    for a in range(min(len(labels), 9)):
        out.setdefault(pygame.K_1 + a, a)
    return out


def legend(labels: Sequence[str], keys: dict[int, int]) -> str:
    parts = []
    for a, label in enumerate(labels):
        names = [KEY_NAMES.get(k, pygame.key.name(k).upper()) for k, v in keys.items() if v == a and not (pygame.K_1 <= k <= pygame.K_9)]
        if names:
            parts.append(f"{'/'.join(names)} {label}")
    noop = next((label for label in labels if label in NOOP_LABELS), None)
    parts.append(f"no key: {noop}" if noop else "no key: repeat last")
    return " · ".join(parts)


class HumanGame:
    """One human game: agents loaded and compiled, the window loop, the replay and CSV row."""

    def __init__(self, refs: Sequence[str], *, env_id: str | None = None, env_kwargs: dict | None = None,
                 config: PlayConfig | None = None):
        import jax

        from arena.agents import build_agent
        from arena.checkpoint import load_agent
        from arena.match import can_play, human_side, resolve_env
        from arena.runner import episode_start, play_step
        from arena.trace import SideInfo, side_infos
        from arena.viewer.live import GrowingTrace

        self.config = config = config or PlayConfig()
        if not refs:
            raise UserError("give at least one agent to play with or against")
        loaded = [load_agent(r) for r in refs]
        self.env = env = resolve_env(loaded, env_id, env_kwargs)
        spec = env.spec
        sides = spec.sides
        self.human_side = human_side(env, config.seat)
        hs = sides[self.human_side]
        # A side of one seat is the human's alone. In a bigger side (one of mpe_tag's three
        # predators) an agent still drives the side, and the human's key replaces its choice
        # for the human's seat.
        self.shared = len(hs.seats) > 1
        driven = [i for i in range(len(sides)) if self.shared or i != self.human_side]
        if len(loaded) == 1 and all(can_play(loaded[0], env, sides[i]) is None for i in driven):
            loaded = loaded * len(driven)  # one agent drives every side that needs one
        if len(loaded) != len(driven):
            raise UserError(f"{spec.id} with a human on seat {config.seat} needs {len(driven)} agent(s), one per side "
                            f"{', '.join(sides[i].name for i in driven)} in this order; got {len(loaded)}")
        lineup: list = [None] * len(sides)
        for i, a in zip(driven, loaded):
            problem = can_play(a, env, sides[i])
            if problem:
                raise IncompatibleAgents(f"{a.source}: agent {a.name!r} cannot play {spec.id} side {sides[i].name}: it {problem}")
            lineup[i] = a
        self.lineup = lineup
        team = spec.team_of(hs)
        self.labels = tuple(team.action_labels) or tuple(str(a) for a in range(team.num_actions))
        self.keys = key_map(self.labels)
        noop = [a for a, label in enumerate(self.labels) if label in NOOP_LABELS]
        self.noop = noop[0] if noop else None
        # The human's side runs a random agent whose choice `override` replaces: the step
        # function stays the runner's, and that agent costs nothing.
        stand_in = build_agent("random", {}, team.obs_shape, team.obs_dtype, team.num_actions)
        agents = tuple(stand_in if a is None else a.agent for a in lineup)
        self.params = tuple(stand_in.init_params(jax.random.PRNGKey(0)) if a is None else a.params for a in lineup)
        self.ep_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0)
        self._start = jax.jit(lambda params, key: episode_start(env, agents, params, key))
        self._step = jax.jit(lambda params, carry, key, mask, acts: play_step(env, agents, params, carry, key, (mask, acts)))
        self._key = jax.jit(lambda t: jax.random.fold_in(self.ep_key, t + 1))
        self.mask = np.zeros((spec.num_seats,), bool)
        self.mask[config.seat] = True
        self.carry = jax.block_until_ready(self._start(self.params, jax.random.fold_in(self.ep_key, 0)))
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
        import jax

        start = time.perf_counter()
        acts = np.zeros_like(self.mask, dtype=np.int32)
        jax.block_until_ready(self._step(self.params, self.carry, self._key(0), self.mask, acts))
        if viewer is not None:
            viewer.draw(pygame.Surface(self.config.size), self.trace, 0)
        self.warm_seconds = time.perf_counter() - start
        return self.warm_seconds

    def tick(self, action: int | None, reaction_ms: float = float("nan")) -> None:
        """Play one step with the human's action (None: the no-op, or the last choice)."""
        import jax

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

    def run(self, on_frame: Callable[["HumanGame"], None] | None = None, max_frames: int | None = None) -> dict:
        """Play in a window until the episode ends (and, unless close_at_end, the window is
        closed); then save the replay and the CSV row. Returns the result row."""
        from arena.viewer.app import Viewer, ViewerConfig

        cfg = self.config
        self.viewer = viewer = Viewer([self.trace], ViewerConfig(size=cfg.size, fps=cfg.fps, autoplay=False, title="arena play"),
                                      live=True)
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
                elif ev.type == pygame.KEYDOWN and ev.key in (pygame.K_SPACE, pygame.K_LEFT, pygame.K_RIGHT,
                                                               pygame.K_UP, pygame.K_DOWN, pygame.K_e):
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
                    if cfg.close_at_end:
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
        from arena.paths import data_dir
        from arena.replay import ReplayWriter

        if self.replay_path is not None:
            return self._row
        trace = dataclasses.replace(self.trace.frozen(), sides=self.sides_info)  # who really played
        spec = self.env.spec
        stamp = datetime.datetime.now(datetime.timezone.utc)
        path = self.config.replay_path or (
            data_dir() / "human" / f"{stamp:%Y%m%dT%H%M%S}-{spec.id.replace('/', '-')}-seed{self.config.seed}.replay")
        returns = trace.rewards.sum(axis=0)
        metrics = self._metrics(trace)
        meta = {"source": "arena play", "human_seat": self.config.seat, "complete": bool(self.trace.finished),
                "agents": [a.source if a is not None else "human" for a in self.lineup]}
        with ReplayWriter.for_trace(path, trace, episodes=1, meta=meta) as w:
            w.write_episode(trace, metrics=metrics)
        self.replay_path = Path(path)
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
        length = max(trace.length, 1)
        return {m.name: float(self.carry.metrics[m.name]) / (length if m.reduce == "mean" else 1.0)
                for m in self.env.spec.metrics}


RATING_KEYS = {**{pygame.K_1 + k: k + 1 for k in range(5)}, **{pygame.K_KP1 + k: k + 1 for k in range(5)}}
GO_KEYS = {pygame.K_SPACE: True, pygame.K_RETURN: True, pygame.K_KP_ENTER: True}


def ask(title: str, lines: Sequence[str], answers: dict[int, object], *, background: pygame.Surface | None = None,
        size: tuple[int, int] = (1280, 760), fps: int = 30, on_frame: Callable[[], None] | None = None):
    """A message box in the window until a key of `answers` is pressed: that key's value;
    None when the window is closed or Esc is pressed."""
    from arena.viewer.app import open_window

    screen = pygame.display.get_surface() or open_window(size, "arena")
    pygame.event.clear()  # keys pressed during the game must not answer the question
    clock = pygame.time.Clock()
    while True:
        if on_frame is not None:
            on_frame()
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT or (ev.type == pygame.KEYDOWN and ev.key == pygame.K_ESCAPE):
                return None
            if ev.type == pygame.KEYDOWN and ev.key in answers:
                return answers[ev.key]
        screen = pygame.display.get_surface() or screen
        draw_message(screen, title, lines, background)
        pygame.display.flip()
        clock.tick(fps)


def draw_message(screen: pygame.Surface, title: str, lines: Sequence[str], background: pygame.Surface | None = None) -> None:
    """A centred box with a title and lines (the last one muted: the keys); `background`
    (the last game frame) dimmed behind it."""
    from arena.viewer import style

    W, H = screen.get_size()
    screen.fill(style.BG)
    if background is not None:
        screen.blit(pygame.transform.smoothscale(background, (W, H)), (0, 0))
        shade = pygame.Surface((W, H), pygame.SRCALPHA)
        shade.fill((0, 0, 0, 175))
        screen.blit(shade, (0, 0))
    box = pygame.Rect(0, 0, min(W - 40, 640), 84 + 26 * len(lines))
    box.center = (W // 2, H // 2)
    style.panel(screen, box, radius=12)
    style.blit_text(screen, title, (box.centerx, box.y + 22), size=22, bold=True, color=style.ACCENT, anchor="midtop")
    for k, line in enumerate(lines):
        style.blit_text(screen, line, (box.centerx, box.y + 64 + 26 * k), size=16, anchor="midtop",
                        color=style.MUTED if k == len(lines) - 1 else style.TEXT, max_width=box.width - 32)


def append_result(row: dict) -> Path:
    """Append one row to data_dir()/human_games.csv (header on first write). Append-only: a
    whole line per write, fsync'd, so a crash can at worst lose the row being written."""
    from arena.paths import data_dir

    path = data_dir() / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RESULTS_COLUMNS, lineterminator="\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size == 0:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in RESULTS_COLUMNS})
        os.write(fd, buf.getvalue().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_results() -> list[dict]:
    from arena.paths import data_dir

    path = data_dir() / RESULTS_FILE
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
