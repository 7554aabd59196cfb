"""Per-seat panels and the timeline: what each agent emitted when it acted, and what happened.

A seat panel shows, for the decision taken in the displayed state: the action, action
probabilities (`probs`), value (`value`, with its curve over the episode), expert routing
(`routing`: bars with the manifest's labels plus a strip of routing over time), belief
(`belief`: bars plus its entropy over time; when the env declares a hidden truth the belief
estimates, the true class's bar is outlined and starred in the truth colour), an ensemble's
member votes (`votes`: how many members chose each action) and any other declared extra as
bars. Probabilities (`probs`, `routing`, `belief`, the env's truth extra) fill a 0-1 track;
any other extra (a planner's `scores`, returns like 0, 10, 20) is not one, so its bars share
one scale over the episode, from zero, with the scale in its title (`bar_scale`). Only what
the agent declares (what its trace carries) is drawn; sections shrink, then drop their
over-time plots, when the panel is small. The timeline shows each side's reward per step and
the scene's events (deliveries, captures). Drawing reads EpisodeTraces only.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pygame

from arena.numfmt import sig
from arena.viewer import style

KNOWN = ("probs", "votes", "value", "routing", "belief")
PROBABILITIES = ("probs", "routing", "belief")  # drawn on a 0-1 track


_CACHE = style.LRUCache()


def seat_location(trace, seat: int) -> tuple[int, int]:
    """(side index, member index) of a seat in the trace's sides."""
    for i, side in enumerate(trace.sides):
        if seat in side.seats:
            return i, list(side.seats).index(seat)
    raise ValueError(f"seat {seat} is in no side")


def decision_index(trace, t: int) -> int:
    """The step whose decision is shown in state t: the one taken in it, or the last one."""
    return min(t, trace.length - 1)


def entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def heat_strip(values: np.ndarray, capacity: int, color, size: tuple[int, int]) -> pygame.Surface:
    """(L, E) weights as a strip: time left to right over `capacity` columns, one row per
    entry. Brightness is stretched over the strip's own range: gate weights of an untrained
    or evenly mixing router sit near 1/E, and their changes would be invisible in [0, 1]."""
    L, E = values.shape
    if L:
        lo, hi = float(values.min()), float(values.max())
        values = (values - lo) / (hi - lo) if hi - lo > 1e-6 else np.full_like(values, 0.5)
    img = np.zeros((max(capacity, 1), E, 3), np.float32)
    img[:] = style.PANEL
    base = np.asarray(style.PANEL, np.float32)
    top = np.asarray(color, np.float32)
    w = (0.15 + 0.85 * np.clip(values, 0.0, 1.0))[..., None]
    img[:L] = base + (top - base) * w
    surf = pygame.surfarray.make_surface(img.astype(np.uint8))
    return pygame.transform.scale(surf, (max(1, size[0]), max(1, size[1])))


def sparkline(values: np.ndarray, capacity: int, size: tuple[int, int], color, lo=None, hi=None) -> pygame.Surface:
    w, h = size = (max(1, size[0]), max(1, size[1]))
    surf = pygame.Surface(size, pygame.SRCALPHA)
    if len(values) == 0:
        return surf
    v = np.asarray(values, np.float64)
    lo = float(np.nanmin(v)) if lo is None else lo
    hi = float(np.nanmax(v)) if hi is None else hi
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    xs = np.arange(len(v)) * (w - 1) / max(capacity - 1, 1)
    ys = (h - 2) - (v - lo) / (hi - lo) * (h - 4)
    pts = np.stack([xs, ys], axis=1)
    if len(pts) >= 2:
        # Fill under the curve faintly, then the line on top.
        poly = [(pts[0, 0], h - 1), *map(tuple, pts), (pts[-1, 0], h - 1)]
        pygame.draw.polygon(surf, (*color, 40), poly)
        pygame.draw.lines(surf, color, False, [tuple(p) for p in pts], 2)
    else:
        pygame.draw.circle(surf, color, (int(pts[0, 0]), int(pts[0, 1])), 2)
    return surf


@dataclasses.dataclass(frozen=True)
class BarScale:
    """The values at a bar track's two ends; bars grow from zero (which lies between them)."""

    lo: float
    hi: float
    title: str = ""  # shown beside the section's name: "" for a probability's fixed 0-1

    def frac(self, v: float) -> float:
        """Where v sits on the track, 0 (lo) to 1 (hi), clipped."""
        return min(1.0, max(0.0, (v - self.lo) / (self.hi - self.lo)))


UNIT = BarScale(0.0, 1.0)


def bar_scale(name: str, values: np.ndarray, probabilities: tuple[str, ...] = PROBABILITIES) -> BarScale:
    """How the bars of extra `name` are scaled, from its values over the episode (L, ...).

    A probability fills 0-1. Votes count members: 0 to the members that voted. Anything else
    (scores, returns) gets one scale for the whole episode, from zero to its largest magnitude
    each way, so a bar's length means the same at every step and against zero."""
    if name in probabilities:
        return UNIT
    v = np.asarray(values, np.float64)
    if name == "votes":
        return BarScale(0.0, max([1.0, *np.nansum(v.reshape(len(v), -1), axis=-1)]))
    v = v[np.isfinite(v)]
    lo = min(0.0, float(v.min())) if v.size else 0.0
    hi = max(0.0, float(v.max())) if v.size else 1.0
    if hi - lo < 1e-9:
        hi = lo + 1.0
    end = lambda x: sig(x) if x else "0"  # noqa: E731
    return BarScale(lo, hi, f"scale {end(lo)} to {end(hi)}")


def draw_bars(surf, rect: pygame.Rect, values, labels, color, highlight: int | None = None, row_h: int = 15,
              fmt: str = "{:.2f}", scale: BarScale = UNIT, truth: int | None = None) -> None:
    """Horizontal bars, one row per entry: label, bar (from zero on `scale`), number; row
    `truth` (the hidden class a belief estimates) gets a star before its bar and its track
    outlined in the truth colour."""
    values = np.asarray(values, np.float64).reshape(-1)
    n = len(values)
    label_w = min(96, rect.width // 3)
    num_w = 40
    bar_w = max(10, rect.width - label_w - num_w - 8)
    size = max(9, min(13, row_h - 3))
    for i in range(n):
        y = rect.y + i * row_h
        if y + row_h > rect.bottom + 1:
            break
        lab = labels[i] if i < len(labels) else str(i)
        lit = highlight == i
        style.blit_text(surf, lab, (rect.x, y + row_h // 2), size=size, color=style.TEXT if lit else style.MUTED,
                        bold=lit, anchor="midleft", max_width=label_w - 4)
        track = pygame.Rect(rect.x + label_w, y + 2, bar_w, max(3, row_h - 5))
        surf.fill(style.GRID, track)  # plain fills: rounded rects cost several times more
        x0 = track.x + int(round(track.width * scale.frac(0.0)))
        x1 = track.x + int(round(track.width * scale.frac(values[i])))
        if x1 != x0 or values[i] != 0:
            left, right = min(x0, x1), max(x0, x1)
            bar = pygame.Rect(left, track.y, max(2, right - left), track.height)
            surf.fill(style.mix(color, (255, 255, 255), 0.25) if lit else color, bar)
        if scale.lo < 0:  # negative values reach left of a zero mark
            pygame.draw.line(surf, style.MUTED, (x0, track.y - 1), (x0, track.bottom))
        if lit:
            pygame.draw.rect(surf, style.CURSOR, track, width=1)
        if truth == i:
            pygame.draw.rect(surf, style.TRUTH, track.inflate(2, 2), width=2)
            style.star(surf, (track.x - 7, track.centery), max(3, row_h // 2 - 1))
        style.blit_text(surf, fmt.format(values[i]), (rect.right, y + row_h // 2), size=size, color=style.TEXT,
                        anchor="midright")


class SeatPanel:
    """Draws one seat's panel; `pending` is a human's chosen-but-not-yet-played action."""

    def __init__(self, seat: int, action_labels: tuple[str, ...], color=None):
        self.seat = seat
        self.action_labels = tuple(action_labels)
        self.color = color or style.seat_color(seat)

    def sections(self, trace) -> list[str]:
        i, _ = seat_location(trace, self.seat)
        declared = set(trace.extras[i]) | set(trace.sides[i].extras)
        names = [k for k in KNOWN if k in declared]
        names += sorted(k for k in declared if k not in KNOWN)
        return names

    def draw(self, surf: pygame.Surface, rect: pygame.Rect, trace, t: int, pending: str | None = None,
             chrome: bool = True, notes: tuple[str, ...] = (), internals: bool = True, truth=None) -> None:
        """`chrome=False`: the panel's box is already on `surf` (the viewer caches it).
        `internals=False` draws the seat's actions only, not what its agent emitted (blind play).
        `truth` (a scenes.Truth, or None): the episode's hidden class, marked on the bars of the
        extra that estimates it."""
        if chrome:
            style.panel(surf, rect)
        i, j = seat_location(trace, self.seat)
        side = trace.sides[i]
        color = self.color
        inner = rect.inflate(-20, -14)
        # Header: seat, agent, return so far.
        pygame.draw.circle(surf, color, (inner.x + 7, inner.y + 9), 7)
        seat_name = trace.seats[self.seat]
        head = f"{seat_name}" + (f"  ·  {side.name}" if side.name != seat_name else "")
        style.blit_text(surf, head, (inner.x + 20, inner.y), size=15, bold=True, max_width=inner.width // 2)
        ret = float(trace.rewards[:t, self.seat].sum()) if t else 0.0
        style.blit_text(surf, f"return {ret:+.1f}", (inner.right, inner.y + 1), size=13, color=style.TEXT, anchor="topright")
        human = side.human or self.seat in side.human_seats
        who = "HUMAN" if human else f"{side.agent}  ({side.arch})" if side.arch else side.agent
        style.blit_text(surf, who, (inner.x + 20, inner.y + 19), size=12, color=style.ACCENT if human else style.MUTED,
                        bold=human, max_width=inner.width - 24)
        y = inner.y + 40
        L = trace.length
        if L == 0:
            style.blit_text(surf, "waiting for the first step…", (inner.x, y), size=12, color=style.MUTED)
            if pending:
                style.blit_text(surf, f"next: {pending}", (inner.x, y + 18), size=14, color=style.ACCENT, bold=True)
            for k, note in enumerate(notes):
                style.blit_text(surf, note, (inner.x, y + 44 + 16 * k), size=13, color=style.MUTED, max_width=inner.width)
            return
        d = decision_index(trace, t)
        act = int(trace.actions[d, self.seat])
        label = self.action_labels[act] if act < len(self.action_labels) else str(act)
        when = f"step {d}" if d == t else "last"
        line = f"action ({when}): {label}"
        if trace.reaction_ms is not None and human:
            ms = trace.reaction_ms[d, self.seat]
            line += "   reaction " + ("—" if np.isnan(ms) else f"{ms:.0f} ms")
        style.blit_text(surf, line, (inner.x, y), size=13, color=style.TEXT, max_width=inner.width)
        y += 20
        if pending is not None:
            style.blit_text(surf, f"next: {pending}", (inner.x, y), size=14, color=style.ACCENT, bold=True)
            y += 20
        for note in notes:  # e.g. a human's keys
            y += 4
            style.blit_text(surf, note, (inner.x, y), size=13, color=style.MUTED, max_width=inner.width)
            y += 16
        if internals and not human:  # a human seat in an agent's side: the agent's choice was not played
            self._draw_sections(surf, pygame.Rect(inner.x, y, inner.width, inner.bottom - y), trace, i, j, d, color, truth)

    def _draw_sections(self, surf, body, trace, i, j, d, color, truth=None):
        names = self.sections(trace)
        ex = trace.extras[i]
        names = [n for n in names if n in ex]
        if not names:
            return
        labels_of = {n: tuple(trace.sides[i].extras.get(n, {}).get("labels", ()) or ()) for n in names}
        # Preferred heights: bar rows 15 px, plots 34 px; shrink rows, then drop plots.
        nrows = {n: int(np.prod(ex[n].shape[2:])) if ex[n].shape[2:] else 0 for n in names}
        rows = nrows.__getitem__

        plot_names = [n for n in names if n in ("value", "routing", "belief")]
        title_h = 16
        need = lambda rh, ph: sum(title_h + rows(n) * rh + (ph + 4 if n in plot_names else 0) + 6 for n in names)  # noqa: E731
        # Smaller rows and plots first, then no plots, then tight rows: readable beats complete.
        for row_h, plot_h in ((15, 34), (13, 30), (12, 22), (15, 0), (12, 0), (9, 0)):
            if need(row_h, plot_h) <= body.height:
                break
        y = body.y
        cap = trace.actions.shape[0]
        L = trace.length
        # The truth's extra is a belief, a probability, whatever the agent named it.
        probabilities = PROBABILITIES + ((truth.extra,) if truth is not None else ())
        scales = {n: bar_scale(n, ex[n][:L, j], probabilities) for n in names}
        for n in names:
            values = ex[n][:L, j]  # (L, *shape)
            now = values[d]
            labels = labels_of[n]
            if y + title_h > body.bottom:
                break
            if n == "value":
                style.blit_text(surf, "value", (body.x, y), size=12, color=style.MUTED)
                style.blit_text(surf, f"{float(now):+.3f}", (body.right, y), size=13, bold=True, anchor="topright")
                y += title_h
            elif n == "belief":
                H = entropy(values.reshape(L, -1))
                style.blit_text(surf, "belief", (body.x, y), size=12, color=style.MUTED)
                if truth is not None and truth.extra == n:
                    style.blit_text(surf, f"truth: {truth.label}", (body.x + 48, y), size=12, color=style.TRUTH, bold=True)
                style.blit_text(surf, f"entropy {H[d]:.2f} nats", (body.right, y), size=12, anchor="topright")
                y += title_h
            else:
                title = {"probs": "action probabilities", "routing": "expert routing",
                         "votes": f"member votes (of {float(np.sum(now)):.0f})"}.get(n, n)
                style.blit_text(surf, title, (body.x, y), size=12, color=style.MUTED)
                if scales[n].title:
                    style.blit_text(surf, scales[n].title, (body.right, y), size=12, anchor="topright")
                y += title_h
            k = rows(n)
            if k:
                if n in ("probs", "votes") and not labels:
                    labels = self.action_labels
                if not labels:
                    labels = tuple(f"{n}[{q}]" for q in range(k))
                highlight = int(trace.actions[d, self.seat]) if n in ("probs", "votes") else int(np.argmax(now)) if n in ("routing", "belief") else None
                h = min(k * row_h, body.bottom - y)
                draw_bars(surf, pygame.Rect(body.x, y, body.width, h), np.reshape(now, -1), labels, color,
                          highlight=highlight, row_h=row_h, scale=scales[n], fmt="{:.0f}" if n == "votes" else "{:.2f}",
                          truth=truth.index if truth is not None and truth.extra == n else None)
                y += k * row_h
            if plot_h and n in plot_names and y + plot_h <= body.bottom:
                prect = pygame.Rect(body.x, y + 2, body.width, plot_h)
                pygame.draw.rect(surf, style.BG, prect, border_radius=4)
                key = (id(trace), self.seat, n, L, prect.size)
                if n == "routing":
                    plot = _CACHE.get(key, lambda: heat_strip(values.reshape(L, -1), cap, color, prect.size))  # noqa: B023  (called at once or not at all)
                elif n == "belief":
                    Hs = entropy(values.reshape(L, -1))
                    kk = values.reshape(L, -1).shape[1]
                    plot = _CACHE.get(key, lambda: sparkline(Hs, cap, prect.size, color, 0.0, math.log(max(kk, 2))))  # noqa: B023
                else:
                    plot = _CACHE.get(key, lambda: sparkline(values.reshape(L), cap, prect.size, color))  # noqa: B023
                surf.blit(plot, prect)
                x = prect.x + int(d * (prect.width - 1) / max(cap - 1, 1))
                pygame.draw.line(surf, style.CURSOR, (x, prect.y), (x, prect.bottom - 1))
                y += plot_h + 4
            y += 6


def panel_grid(rect: pygame.Rect, n: int, gap: int = 8) -> list[pygame.Rect]:
    """Rects for n panels: one column for one seat, two for up to four, three beyond."""
    cols = 1 if n <= 1 else 2 if n <= 4 else 3
    rows = math.ceil(n / cols)
    w = (rect.width - gap * (cols - 1)) // cols
    h = (rect.height - gap * (rows - 1)) // max(rows, 1)
    return [pygame.Rect(rect.x + (k % cols) * (w + gap), rect.y + (k // cols) * (h + gap), w, h) for k in range(n)]


class Timeline:
    """Reward per step for each side, event markers, the cursor and the episode's end."""

    def draw(self, surf, rect: pygame.Rect, trace, t: int, events, chrome: bool = True, colors=None) -> None:
        """`colors[seat]`: the scene's seat colours (default palette otherwise)."""
        self.colors = colors
        if chrome:
            style.panel(surf, rect)
        inner = rect.inflate(-20, -14)
        cap = trace.actions.shape[0]
        L = trace.length
        label_w = 86
        track = pygame.Rect(inner.x + label_w, inner.y + 16, inner.width - label_w, inner.height - 16)
        n = len(trace.sides)
        row = track.height / max(n, 1)
        sx = lambda k: track.x + k * track.width / max(cap, 1)  # noqa: E731
        key = (id(trace), "timeline", L, track.size, tuple(colors or ()))
        plot = _CACHE.get(key, lambda: self._plot(trace, track.size, row, cap))
        surf.blit(plot, track)
        for i, side in enumerate(trace.sides):
            y = int(track.y + (i + 0.5) * row)
            style.blit_text(surf, side.name, (inner.x, y), size=12, color=self._color(side.seats[0]),
                            anchor="midleft", max_width=label_w - 6)
        # Events above the track.
        for ev in events:
            x = int(sx(ev.t + 0.5))
            pygame.draw.polygon(surf, ev.color, [(x - 4, inner.y + 4), (x + 4, inner.y + 4), (x, inner.y + 11)])
        if cap > L and getattr(trace, "finished", True):
            x = int(sx(L))
            pygame.draw.line(surf, style.MUTED, (x, track.y), (x, track.bottom))
        x = int(sx(t))
        pygame.draw.line(surf, style.CURSOR, (x, inner.y + 12), (x, track.bottom), 2)
        style.blit_text(surf, f"step {t}/{L}" + ("" if getattr(trace, "finished", True) else "  live"), (inner.x, inner.y - 2),
                        size=11, color=style.MUTED, anchor="topleft")

    def _color(self, seat: int):
        return self.colors[seat] if self.colors else style.seat_color(seat)

    def _plot(self, trace, size, row, cap) -> pygame.Surface:
        size = (max(1, size[0]), max(1, size[1]))
        surf = pygame.Surface(size, pygame.SRCALPHA)
        L = trace.length
        w = size[0] / max(cap, 1)
        for i, side in enumerate(trace.sides):
            r = trace.rewards[:L][:, list(side.seats)].mean(axis=1)
            mid = (i + 0.5) * row
            pygame.draw.line(surf, style.GRID, (0, mid), (size[0], mid))
            m = max(float(np.abs(trace.rewards[:L]).max()) if L else 1.0, 1e-6)
            col = self._color(side.seats[0])
            for k in np.nonzero(r)[0]:
                h = max(2.0, abs(r[k]) / m * (row / 2 - 2))
                y = mid - h if r[k] > 0 else mid
                pygame.draw.rect(surf, col if r[k] > 0 else style.BAD, pygame.Rect(int(k * w), int(y), max(2, int(w)), int(h)))
        return surf
