"""Scene drawers, one per env family: the picture of an env state at step t of an EpisodeTrace.

Overcooked (v1 and v2) reuse JaxMARL's own renderers for the grid (v2's is jitted; v1's is
numpy with a tile cache) and add seat tags; mpe_tag is drawn here from the particle
positions (predators, prey, obstacles, fading trails), and mpe_tag_intent adds its four
corners with a star on the prey's hidden one (`Scene.truth`, which the belief panels mark
too); ipd and coord_game are a payoff table with the played cell lit and a running history. Each scene also names the events the
timeline marks (deliveries, captures) from the trace's rewards. Scenes read only the trace,
so replays, live matches and human play look alike; a trace holds states as {leaf path:
array}, and a scene rebuilds the env's pytree with `arena.states.state_tree` to draw it.

Registry: `SCENES` maps an env family (the env id before "/") to a Scene class.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pygame

from arena.envs import UnknownEnv, make
from arena.envs.jaxmarl_import import jaxmarl_module
from arena.envs.mpe_tag_intent import CORNER_LABELS, CORNERS
from arena.paths import enable_compilation_cache
from arena.states import state_tree
from arena.viewer import style

SCENES: dict[str, type[Scene]] = {}


def register_scene(*families: str):
    def wrap(cls):
        for fam in families:
            if fam in SCENES:
                raise ValueError(f"a scene for {fam!r} is already registered")
            SCENES[fam] = cls
        return cls

    return wrap


@dataclasses.dataclass(frozen=True)
class Event:
    """Something worth a marker on the timeline: reward at step t (0-based) was an event."""

    t: int
    label: str
    color: tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Truth:
    """An episode's hidden class: the extra that estimates it, its index and its label."""

    extra: str
    index: int
    label: str


def family(env_id: str) -> str:
    return env_id.split("/", 1)[0]


def scene_for(env_id: str, env_kwargs: dict | None = None, players: frozenset[int] = frozenset()) -> Scene:
    """The scene of an env; `players`: the seats the person at the window plays (see Scene)."""
    cls = SCENES.get(family(env_id), GenericScene)
    return cls(env_id, env_kwargs or {}, players)


class Scene:
    """Base: draws a state, lists events, says how fast 1x playback is."""

    steps_per_second = 8.0  # playback rate at 1x

    def __init__(self, env_id: str, env_kwargs: dict, players: frozenset[int] = frozenset()):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs)
        # The seats a person at the window plays (human play); empty for a replay, a live match
        # or a spectator, who play nothing and may see everything.
        self.players = frozenset(players)
        self._truths: dict[int, int] = {}  # id(trace) -> its true class

    def draw(self, surf: pygame.Surface, rect: pygame.Rect, trace, t: int) -> None:
        raise NotImplementedError

    def events(self, trace, upto: int) -> list[Event]:
        return []

    def caption(self, trace, t: int) -> str:
        return ""

    def seat_color(self, seat: int) -> tuple[int, int, int]:
        """The colour of a seat in this scene; panels and the timeline use the same."""
        return style.seat_color(seat)

    def truth(self, trace) -> Truth | None:
        """The episode's hidden class when its env declares one (`EnvSpec.truth`), read as the
        env reads it from the state after reset; None otherwise (or for an env this arena
        cannot build). A live trace holds that state from its first frame.

        None too when the person at the window plays only seats that do not observe it
        (`TruthSpec.observed_by`): a human predator must infer the prey's corner, as the
        predator agents do, not be shown it. Nobody plays in a replay or a spectated match, and
        the truth is what the beliefs there are judged against, so it is shown."""
        try:
            env = make(self.env_id, **self.env_kwargs)  # cached by the registry
        except UnknownEnv:
            return None
        spec = env.spec.truth
        if spec is None or not trace.states:
            return None
        if self.players and not any(env.spec.observes_truth(s) for s in self.players):
            return None
        key = id(trace)
        if key not in self._truths:
            self._truths[key] = int(np.asarray(env.truth(_state_at(env, trace, 0))))
        return Truth(spec.extra, self._truths[key], spec.labels[self._truths[key]])


def fit_rect(inner: tuple[int, int], outer: pygame.Rect) -> pygame.Rect:
    """The largest rect of inner's aspect ratio centred in outer."""
    w, h = inner
    scale = min(outer.width / max(w, 1), outer.height / max(h, 1))
    r = pygame.Rect(0, 0, max(1, int(w * scale)), max(1, int(h * scale)))
    r.center = outer.center
    return r


def _state_at(env, trace, t: int) -> Any:
    """The env's state pytree after t steps of the trace."""
    return state_tree(env, trace.state_at(t))


# ------------------------------------------------------------------ overcooked


_V2_VIZ = []


def _v2_visualizer():
    """One shared JaxMARL v2 visualizer: its renderer is jitted with the instance as a static
    argument, so a new instance would compile again (seconds). The persistent compilation
    cache is turned on first: a later process (the next export) loads the compiled renderer
    instead of compiling it again, which saves seconds and the compiler's memory."""
    if not _V2_VIZ:
        enable_compilation_cache()
        _V2_VIZ.append(jaxmarl_module("jaxmarl.viz.overcooked_v2_visualizer").OvercookedV2Visualizer())
    return _V2_VIZ[0]


@register_scene("overcooked", "overcooked_v2")
class OvercookedScene(Scene):
    steps_per_second = 8.0

    def __init__(self, env_id, env_kwargs, players=frozenset()):
        super().__init__(env_id, env_kwargs, players)
        self.v2 = family(env_id) == "overcooked_v2"
        self.arena_env = make(env_id, **env_kwargs)
        self.env = self.arena_env.env  # JaxMARL's, for its renderer's settings
        if self.v2:
            self.viz = _v2_visualizer()
        self.frames = style.LRUCache(1024)
        self.scaled: tuple | None = None

    def render_rgb(self, state) -> np.ndarray:
        """(H, W, 3) uint8 of one state, by JaxMARL's renderer."""
        if self.v2:
            return np.asarray(self.viz._render_state(state, None))
        viz = jaxmarl_module("jaxmarl.viz.overcooked_visualizer")

        # The same crop JaxMARL's own `animate` uses: the layout plus one ring of wall.
        pad = self.env.agent_view_size - 2
        grid = np.asarray(state.maze_map)[pad:-pad, pad:-pad, :]
        return viz.OvercookedVisualizer._render_grid(
            grid, tile_size=viz.TILE_PIXELS, highlight_mask=None,
            agent_dir_idx=np.asarray(state.agent_dir_idx), agent_inv=np.asarray(state.agent_inv),
        )

    def agent_cells(self, state) -> list[tuple[int, int]]:
        """(col, row) of each seat's cook in the rendered grid."""
        if self.v2:
            return list(zip(np.asarray(state.agents.pos.x).tolist(), np.asarray(state.agents.pos.y).tolist()))
        return [(int(x) + 1, int(y) + 1) for x, y in np.asarray(state.agent_pos)]

    def surface(self, trace, t: int) -> pygame.Surface:
        def render():
            img = self.render_rgb(_state_at(self.arena_env, trace, t))
            return pygame.surfarray.make_surface(np.ascontiguousarray(img.swapaxes(0, 1)))

        return self.frames.get((id(trace), t), render)

    def draw(self, surf, rect, trace, t):
        img = self.surface(trace, t)
        target = fit_rect(img.get_size(), rect)
        key = (id(trace), t, target.size)
        if self.scaled is None or self.scaled[0] != key:
            self.scaled = (key, pygame.transform.smoothscale(img, target.size))
        surf.blit(self.scaled[1], target)
        # Seat tags over the cooks, so a panel's colour finds its cook.
        tile = target.width / img.get_width() * 32
        state = _state_at(self.arena_env, trace, t)
        for seat, (cx, cy) in enumerate(self.agent_cells(state)):
            x = target.x + (cx + 0.5) * tile
            y = target.y + cy * tile + 2
            style.blit_text(surf, str(seat), (int(x), int(y)), size=max(10, int(tile * 0.28)),
                            color=(255, 255, 255), bold=True, anchor="midtop")

    def events(self, trace, upto):
        # Deliveries are the only positive sparse reward in both versions (v2 may also give
        # negative rewards for wrong dishes, marked as misses).
        team = trace.rewards[:upto].sum(axis=1)
        out = [Event(int(t), "soup", style.GOOD) for t in np.nonzero(team > 0)[0]]
        out += [Event(int(t), "wrong dish", style.BAD) for t in np.nonzero(team < 0)[0]]
        return out

    def caption(self, trace, t):
        soups = int((trace.rewards[:t].sum(axis=1) > 0).sum())
        return f"soups delivered: {soups}"


# ------------------------------------------------------------------ mpe_tag


@register_scene("mpe_tag")
class MPETagScene(Scene):
    steps_per_second = 6.0
    trail = 12  # steps of fading trail behind each particle
    view = 1.6  # half-width of the world window shown

    def __init__(self, env_id, env_kwargs, players=frozenset()):
        super().__init__(env_id, env_kwargs, players)
        self.arena_env = env = make(env_id, **env_kwargs)
        self.jm = env.env
        self.num_agents = int(self.jm.num_agents)
        self.num_adv = int(self.jm.num_adversaries)
        self.rad = np.asarray(self.jm.rad, dtype=float)
        self.glow: pygame.Surface | None = None

    # Predators in shades of red, prey in greens: the picture keeps who hunts whom readable.
    PREDATOR_COLORS = ((236, 86, 86), (246, 146, 92), (222, 96, 160))
    PREY_COLORS = ((96, 206, 120), (72, 206, 214))

    def seat_color(self, seat: int) -> tuple[int, int, int]:
        if seat < self.num_adv:
            return self.PREDATOR_COLORS[seat % len(self.PREDATOR_COLORS)]
        return self.PREY_COLORS[(seat - self.num_adv) % len(self.PREY_COLORS)]

    def _to_px(self, rect: pygame.Rect, p) -> tuple[int, int]:
        s = min(rect.width, rect.height) / (2 * self.view)
        return int(rect.centerx + p[0] * s), int(rect.centery - p[1] * s)  # world +y is up

    def draw(self, surf, rect, trace, t):
        arena = fit_rect((1, 1), rect)
        pygame.draw.rect(surf, (24, 28, 36), arena, border_radius=10)
        scale = arena.width / (2 * self.view)
        for g in np.arange(-1.5, 1.51, 0.5):
            a, b = self._to_px(arena, (g, -self.view)), self._to_px(arena, (g, self.view))
            pygame.draw.line(surf, (34, 39, 50), a, b)
            a, b = self._to_px(arena, (-self.view, g)), self._to_px(arena, (self.view, g))
            pygame.draw.line(surf, (34, 39, 50), a, b)
        pygame.draw.rect(surf, style.PANEL_EDGE, arena, width=1, border_radius=10)
        pos = np.asarray(state_tree(self.arena_env, trace.states).p_pos)
        # Obstacles (landmarks) behind everything.
        for k in range(self.num_agents, pos.shape[1]):
            c = self._to_px(arena, pos[t, k])
            pygame.draw.circle(surf, (78, 82, 96), c, max(2, int(self.rad[k] * scale)))
            pygame.draw.circle(surf, (104, 110, 128), c, max(2, int(self.rad[k] * scale)), 2)
        self.backdrop(surf, arena, trace, t)
        # Fading trails: older positions fainter and thinner (colours blended toward the
        # floor by hand: an alpha layer per frame would cost more than the whole panel column).
        floor = (24, 28, 36)
        for k in range(self.num_agents):
            col = self.seat_color(k)
            start = max(0, t - self.trail)
            for i in range(start, t):
                f = (i - start + 1) / (t - start + 1)
                r = max(1, int(self.rad[k] * scale * (0.35 + 0.5 * f)))
                pygame.draw.circle(surf, style.mix(floor, col, 0.6 * f), self._to_px(arena, pos[i, k]), r)
        caught = t > 0 and trace.rewards[t - 1, : self.num_adv].max() > 0
        for k in range(self.num_agents):
            c = self._to_px(arena, pos[t, k])
            r = max(3, int(self.rad[k] * scale))
            col = self.seat_color(k)
            pygame.draw.circle(surf, col, c, r)
            pygame.draw.circle(surf, style.mix(col, (0, 0, 0), 0.45), c, r, 2)
            if k >= self.num_adv and caught:
                pygame.draw.circle(surf, style.ACCENT, c, r + 6, 3)
            style.blit_text(surf, str(k), c, size=max(10, int(r * 0.9)), color=(20, 20, 24), bold=True, anchor="center")

    def backdrop(self, surf, arena: pygame.Rect, trace, t: int) -> None:
        """Drawn over the floor and obstacles, under the particles: nothing in plain mpe_tag."""

    def events(self, trace, upto):
        # Each predator earns 10 per contact: its reward counts the captures of the step.
        pred = trace.rewards[:upto, 0]
        return [Event(int(t), f"capture x{int(round(pred[t] / 10))}" if pred[t] > 10 else "capture", style.ACCENT)
                for t in np.nonzero(pred > 0)[0]]

    def caption(self, trace, t):
        caps = int(np.round(np.clip(trace.rewards[:t, 0], 0, None) / 10).sum())
        return f"captures: {caps}"


@register_scene("mpe_tag_intent")
class MPETagIntentScene(MPETagScene):
    """mpe_tag with the prey's hidden corner: the four corners marked faintly, the true one
    with a star (the truth the predators' beliefs are scored against)."""

    def backdrop(self, surf, arena, trace, t):
        truth = self.truth(trace)
        r = max(6, arena.width // 40)
        for k, (corner, label) in enumerate(zip(CORNERS, CORNER_LABELS)):
            c = self._to_px(arena, corner)
            if truth is not None and k == truth.index:
                continue
            pygame.draw.circle(surf, (60, 66, 82), c, r, 1)
            style.blit_text(surf, label, (c[0], c[1] + r + 2), size=11, color=(90, 96, 112), anchor="midtop")
        if truth is not None:
            c = self._to_px(arena, CORNERS[truth.index])
            style.star(surf, c, 1.6 * r)
            style.blit_text(surf, truth.label, (c[0], c[1] + 1.6 * r + 2), size=12, color=style.TRUTH, bold=True,
                            anchor="midtop")

    def caption(self, trace, t):
        truth = self.truth(trace)
        corner = f"  ·  prey's corner (star): {truth.label}" if truth is not None else ""
        return super().caption(trace, t) + corner


# ------------------------------------------------------------------ ipd, coord_game


@register_scene("ipd", "coord_game")
class MatrixScene(Scene):
    steps_per_second = 2.0

    def __init__(self, env_id, env_kwargs, players=frozenset()):
        super().__init__(env_id, env_kwargs, players)
        env = make(env_id, **env_kwargs)
        self.payoffs = np.asarray(env.game.payoffs, dtype=float)  # [a_row][a_col] -> (r_row, r_col)
        self.labels = env.game.action_labels
        self.ipd = env_id == "ipd"
        self.rounds = env.spec.max_steps

    def _cell_color(self, a_row: int, a_col: int):
        if self.ipd:
            return {(0, 0): style.GOOD, (1, 1): style.BAD}.get((a_row, a_col), style.ACCENT)
        return style.GOOD if a_row == a_col else style.BAD

    def draw(self, surf, rect, trace, t):
        last = tuple(int(a) for a in trace.actions[t - 1]) if t > 0 else None
        hist_h = max(60, rect.height // 4)
        table = pygame.Rect(rect.x, rect.y, rect.width, rect.height - hist_h - 10)
        cell = int(min(table.width / 2.6, table.height / 2.6))
        left = table.centerx - cell + int(cell * 0.15)
        top = table.centery - cell + int(cell * 0.15)
        lab = max(12, cell // 9)
        # Seat names: "col" over the column labels, "row" over the row labels' column.
        style.blit_text(surf, "col", (left + cell, top - lab * 2 - 10), size=lab, color=style.seat_color(1), bold=True, anchor="midbottom")
        style.blit_text(surf, "row", (left - 8, top - 6), size=lab, color=style.seat_color(0), bold=True, anchor="bottomright")
        for j in range(2):
            style.blit_text(surf, self.labels[j], (left + cell * j + cell // 2, top - 6), size=lab, color=style.MUTED, anchor="midbottom")
        for i in range(2):
            style.blit_text(surf, self.labels[i], (left - 8, top + cell * i + cell // 2), size=lab, color=style.MUTED, anchor="midright")
        counts = np.zeros((2, 2), int)
        for a in trace.actions[:t]:
            counts[int(a[0]), int(a[1])] += 1
        for i in range(2):
            for j in range(2):
                r = pygame.Rect(left + cell * j, top + cell * i, cell - 4, cell - 4)
                lit = last == (i, j)
                fill = style.mix(style.PANEL, self._cell_color(i, j), 0.75 if lit else 0.08 + 0.25 * counts[i, j] / max(t, 1))
                pygame.draw.rect(surf, fill, r, border_radius=10)
                pygame.draw.rect(surf, style.CURSOR if lit else style.PANEL_EDGE, r, width=3 if lit else 1, border_radius=10)
                pr, pc = self.payoffs[i, j]
                size = max(14, cell // 6)
                style.blit_text(surf, f"{pr:g}", (r.centerx - cell // 8, r.centery), size=size, color=style.seat_color(0), bold=True, anchor="midright")
                style.blit_text(surf, ",", (r.centerx, r.centery), size=size, color=style.TEXT, anchor="center")
                style.blit_text(surf, f"{pc:g}", (r.centerx + cell // 8, r.centery), size=size, color=style.seat_color(1), bold=True, anchor="midleft")
                style.blit_text(surf, f"{counts[i, j]}x", (r.right - 8, r.bottom - 6), size=max(10, cell // 11),
                                color=style.BG if lit else style.MUTED, anchor="bottomright")
        # Running history: one chip per round played, coloured like its cell.
        hist = pygame.Rect(rect.x + 10, rect.bottom - hist_h, rect.width - 20, hist_h)
        style.blit_text(surf, "history", (hist.x, hist.y), size=12, color=style.MUTED)
        n = max(self.rounds, t, 1)
        chip = max(3.0, min(18.0, (hist.width - 4) / n))
        y = hist.y + 18
        for k in range(t):
            a = trace.actions[k]
            x = hist.x + k * chip
            if x + chip > hist.right:
                break
            r = pygame.Rect(int(x), y, max(2, int(chip) - 1), hist_h - 26)
            pygame.draw.rect(surf, self._cell_color(int(a[0]), int(a[1])), r, border_radius=2)

    def events(self, trace, upto):
        a = trace.actions[:upto]
        if self.ipd:
            return [Event(int(t), "defection", style.BAD) for t in np.nonzero(a.max(axis=1) == 1)[0]]
        return [Event(int(t), "miscoordination", style.BAD) for t in np.nonzero(a[:, 0] != a[:, 1])[0]]

    def caption(self, trace, t):
        if t == 0:
            return "round 0"
        a = trace.actions[t - 1]
        return f"round {t}: row {self.labels[int(a[0])]}, col {self.labels[int(a[1])]}"


class GenericScene(Scene):
    """Any other env: no picture, but the panels and timeline still work."""

    def draw(self, surf, rect, trace, t):
        style.blit_text(surf, f"{self.env_id}: no scene drawer", rect.center, size=16, color=style.MUTED, anchor="center")
