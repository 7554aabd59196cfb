"""The viewer window: scene, per-seat panels, timeline, controls, help, screenshot and export.

`Viewer` holds the playback state (episode, cursor, speed) over a list of EpisodeTraces and
draws one frame with `draw(surface)`; `run()` is the window loop. Drawing never needs a
window (exports render onto a plain Surface) and reads traces only, so a replay, a live
match (a GrowingTrace filled by the runner's observer) and human play are drawn alike.

Keys: space play/pause, left/right step, up/down speed (0.25x..8x), [ ] previous/next episode,
home/end, S screenshot, E export GIF, H help, Esc/Q quit. The window is resizable.
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pygame

from arena.envs import make
from arena.viewer import style
from arena.viewer.export import frame_size, video_paths, write_videos
from arena.viewer.files import save_png, unused_name
from arena.viewer.panels import SeatPanel, Timeline, panel_grid
from arena.viewer.scenes import Scene, scene_for

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

HELP = (
    ("space", "play / pause"),
    ("← / →", "step back / forward"),
    ("↑ / ↓", "faster / slower (0.25x to 8x)"),
    ("[ / ]", "previous / next episode"),
    ("home / end", "first / last step"),
    ("S", "save a screenshot (PNG)"),
    ("E", "export this episode (GIF)"),
    ("H", "this help"),
    ("Esc / Q", "quit"),
)


@dataclasses.dataclass
class ViewerConfig:
    """Window and playback settings."""

    size: tuple[int, int] = (1280, 760)  # initial window size; the window is resizable
    fps: int = 60  # frames drawn per second
    out_dir: Path = Path(".")  # where screenshots and exports go
    autoplay: bool = True  # start playing on open
    title: str = "arena"


@dataclasses.dataclass
class Layout:
    header: pygame.Rect
    scene: pygame.Rect
    panels: list[pygame.Rect]
    timeline: pygame.Rect
    footer: pygame.Rect


def seat_action_labels(trace) -> dict[int, tuple[str, ...]]:
    """seat -> its action labels, as the trace's sides recorded them; replays written before
    sides carried labels fall back to the env's team spec."""
    if all(side.action_labels for side in trace.sides):
        return {seat: tuple(side.action_labels) for side in trace.sides for seat in side.seats}
    spec = make(trace.env_id, **trace.env_kwargs).spec
    return {s: t.action_labels for t in spec.teams for s in t.seats}


def make_layout(size: tuple[int, int], n_seats: int, n_sides: int) -> Layout:
    """Scene left, seat panels right (one or two columns), timeline and key hints below."""
    W, H = size
    m = 10
    header = pygame.Rect(m, m, W - 2 * m, 30)
    footer = pygame.Rect(m, H - 24, W - 2 * m, 20)
    tl_h = 44 + 22 * n_sides
    timeline = pygame.Rect(m, footer.y - tl_h - 6, W - 2 * m, tl_h)
    body = pygame.Rect(m, header.bottom + 8, W - 2 * m, timeline.y - header.bottom - 16)
    panel_w = int(body.width * (0.52 if n_seats > 1 else 0.34))
    scene = pygame.Rect(body.x, body.y, body.width - panel_w - m, body.height)
    panels = panel_grid(pygame.Rect(scene.right + m, body.y, panel_w, body.height), n_seats)
    return Layout(header, scene, panels, timeline, footer)


class Viewer:
    """Playback state and drawing over EpisodeTraces (a list that may hold growing traces)."""

    def __init__(self, traces: Sequence, config: ViewerConfig | None = None, *, live: bool = False):
        if not traces:
            raise ValueError("nothing to show: no episodes")
        self.traces = traces
        self.config = config or ViewerConfig()
        self.live = live
        self.episode = 0
        self.cursor = 0.0
        self.playing = self.config.autoplay
        self.speed_idx = SPEEDS.index(1.0)
        self.show_help = False
        self.running = True
        self.toast: tuple[str, float] | None = None
        self.pending: dict[int, str] = {}  # seat -> pending human action label
        self.legend: list[str] = []  # extra lines shown over the scene
        self.notes: dict[int, tuple[str, ...]] = {}  # seat -> lines in its panel (a human's keys)
        self.status: str | None = None  # replaces the playback state in the header (human play)
        self.hidden: frozenset[int] = frozenset()  # seats whose agent internals are not drawn (blind play)
        # Seats the person at the window plays (human play): what they may not observe (the
        # env's hidden truth) is not drawn. Empty: a spectator, who may see everything.
        self.players: frozenset[int] = frozenset()
        self.footer = "space play/pause · ←/→ step · ↑/↓ speed · [ ] episode · home/end · S screenshot · E export · H help"
        self._scenes: dict[tuple, Scene] = {}
        self._panels: dict[tuple, list[SeatPanel]] = {}
        self.timeline = Timeline()
        self._chrome_cache: tuple | None = None
        self.frames = 0  # loop iterations
        self.drawn = 0  # frames actually redrawn

    # ------------------------------------------------------------------ state

    @property
    def trace(self):
        return self.traces[self.episode]

    @property
    def t(self) -> int:
        return int(min(self.cursor, self.trace.length))

    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_idx]

    def scene(self, trace=None) -> Scene:
        trace = trace or self.trace
        key = (trace.env_id, tuple(sorted(trace.env_kwargs.items())), self.players)
        if key not in self._scenes:
            self._scenes[key] = scene_for(trace.env_id, trace.env_kwargs, self.players)
        return self._scenes[key]

    def panels(self, trace) -> list[SeatPanel]:
        key = (trace.env_id, tuple(sorted(trace.env_kwargs.items())))
        if key not in self._panels:
            labels = seat_action_labels(trace)
            scene = self.scene(trace)
            self._panels[key] = [SeatPanel(s, labels.get(s, ()), scene.seat_color(s)) for s in range(len(trace.seats))]
        return self._panels[key]

    def say(self, msg: str, seconds: float = 3.0) -> None:
        self.toast = (msg, time.monotonic() + seconds)

    def goto_episode(self, k: int) -> None:
        self.episode = max(0, min(len(self.traces) - 1, k))
        self.cursor = 0.0

    def update(self, dt: float) -> None:
        """Advance the cursor while playing; a live trace is followed as it grows."""
        if not self.playing:
            return
        L = self.trace.length
        self.cursor = min(L, self.cursor + dt * self.scene().steps_per_second * self.speed)
        if self.cursor >= L and getattr(self.trace, "finished", True) and not self.live:
            self.playing = False

    # ------------------------------------------------------------------ input

    def handle_key(self, key: int) -> None:
        L = self.trace.length
        if key == pygame.K_SPACE:
            if not self.playing and self.t >= L and not self.live:
                self.cursor = 0.0  # play again from the start
            self.playing = not self.playing
        elif key == pygame.K_RIGHT:
            self.playing = False
            self.cursor = min(L, self.t + 1)
        elif key == pygame.K_LEFT:
            self.playing = False
            self.cursor = max(0, self.t - 1)
        elif key == pygame.K_UP:
            self.speed_idx = min(len(SPEEDS) - 1, self.speed_idx + 1)
            self.say(f"speed {self.speed:g}x", 1.0)
        elif key == pygame.K_DOWN:
            self.speed_idx = max(0, self.speed_idx - 1)
            self.say(f"speed {self.speed:g}x", 1.0)
        elif key == pygame.K_RIGHTBRACKET:
            self.goto_episode(self.episode + 1)
        elif key == pygame.K_LEFTBRACKET:
            self.goto_episode(self.episode - 1)
        elif key == pygame.K_HOME:
            self.cursor = 0.0
        elif key == pygame.K_END:
            self.cursor = float(L)
        elif key == pygame.K_s:
            self.screenshot()
        elif key == pygame.K_e:
            self.export()
        elif key == pygame.K_h:
            self.show_help = not self.show_help
        elif key in (pygame.K_ESCAPE, pygame.K_q):
            self.running = False

    def handle_event(self, ev) -> None:
        if ev.type == pygame.QUIT:
            self.running = False
        elif ev.type == pygame.KEYDOWN:
            self.handle_key(ev.key)

    # ------------------------------------------------------------------ output

    def _stem(self) -> str:
        tr = self.trace
        return f"arena-{tr.env_id.replace('/', '-')}-seed{tr.seed}-ep{tr.episode}"

    def screenshot(self, path: str | os.PathLike | None = None) -> Path:
        """Save the current frame, without the window's chrome, as PNG; by default under a
        name no earlier screenshot has (a second one of the same step gets -2, -3...)."""
        path = Path(path) if path else unused_name(Path(self.config.out_dir) / f"{self._stem()}-t{self.t}.png")
        surf = pygame.Surface(self.surface_size())
        self.draw(surf, clean=True)
        save_png(surf, path)
        self.say(f"saved {path}")
        return path

    def export(self, path: str | os.PathLike | None = None) -> Path:
        """Export the current episode (as far as it has been played) to a GIF or MP4."""
        path = Path(path) if path else unused_name(Path(self.config.out_dir) / f"{self._stem()}.gif")
        self.say(f"exporting {path}…")
        self._flip_now()
        export_episode(self.trace, path, viewer=self)
        self.say(f"exported {path}")
        return path

    def surface_size(self) -> tuple[int, int]:
        surf = pygame.display.get_surface() if pygame.display.get_init() else None
        return surf.get_size() if surf is not None else self.config.size

    def _flip_now(self) -> None:
        surf = pygame.display.get_surface() if pygame.display.get_init() else None
        if surf is not None:
            self.draw(surf)
            pygame.display.flip()

    def draw(self, surf: pygame.Surface, trace=None, t: int | None = None, *, clean: bool = False) -> None:
        """Draw one whole frame of `trace` (default: the current episode) at step t.

        `clean` (screenshots, exports) leaves out what belongs to the window rather than to the
        episode: the playback state, key hints (footer, a human's keys), toast and help."""
        trace = trace if trace is not None else self.trace
        t = self.t if t is None else t
        lay = make_layout(surf.get_size(), len(trace.seats), len(trace.sides))
        surf.blit(self._chrome(surf.get_size(), lay), (0, 0))
        scene = self.scene(trace)
        # Header: what is shown and where the cursor is.
        kw = ", ".join(f"{k}={v}" for k, v in sorted(trace.env_kwargs.items()))
        style.blit_text(surf, "arena", (lay.header.x, lay.header.centery), size=18, color=style.ACCENT, bold=True, anchor="midleft")
        title = f"{trace.env_id}" + (f" ({kw})" if kw else "")
        style.blit_text(surf, title, (lay.header.x + 70, lay.header.centery), size=16, bold=True, anchor="midleft",
                        max_width=lay.header.width // 2 - 70)
        state = "▶" if self.playing else "❚❚"
        live = "  ● live" if self.live and not getattr(trace, "finished", True) else ""
        info = (f"episode {self.episode + 1}/{len(self.traces)} (#{trace.episode}, seed {trace.seed})   "
                f"step {t}/{trace.length}")
        if not clean:
            info += "   " + (self.status or f"{state} {self.speed:g}x") + live
        style.blit_text(surf, info, (lay.header.right, lay.header.centery), size=14, color=style.TEXT, anchor="midright")
        # Scene and its caption.
        scene_rect = lay.scene.inflate(-24, -48).move(0, -8)
        scene.draw(surf, scene_rect, trace, t)
        cap = scene.caption(trace, t)
        if cap:
            style.blit_text(surf, cap, (lay.scene.centerx, lay.scene.bottom - 10), size=14, color=style.TEXT, anchor="midbottom")
        for k, line in enumerate(self.legend):
            style.blit_text(surf, line, (lay.scene.x + 12, lay.scene.y + 10 + 18 * k), size=13, color=style.ACCENT)
        truth = scene.truth(trace)
        for panel, rect in zip(self.panels(trace), lay.panels):
            panel.draw(surf, rect, trace, t, pending=self.pending.get(panel.seat), chrome=False,
                       notes=() if clean else self.notes.get(panel.seat, ()), internals=panel.seat not in self.hidden,
                       truth=truth)
        self.timeline.draw(surf, lay.timeline, trace, t, scene.events(trace, trace.length), chrome=False,
                           colors=[p.color for p in self.panels(trace)])
        if clean:
            return
        style.blit_text(surf, self.footer, (lay.footer.centerx, lay.footer.centery), size=12, color=style.MUTED, anchor="center",
                        max_width=lay.footer.width)
        if self.toast and time.monotonic() < self.toast[1]:
            msg = style.text(self.toast[0], 14, style.BG, True)
            box = msg.get_rect(midtop=(surf.get_width() // 2, lay.header.bottom + 14)).inflate(24, 12)
            pygame.draw.rect(surf, style.ACCENT, box, border_radius=8)
            surf.blit(msg, msg.get_rect(center=box.center))
        if self.show_help:
            self._draw_help(surf)

    def _chrome(self, size, lay: Layout) -> pygame.Surface:
        """Background and panel boxes, drawn once per window size (rounded boxes are slow)."""
        key = (tuple(size), len(lay.panels))
        if self._chrome_cache is None or self._chrome_cache[0] != key:
            bg = pygame.Surface(size)
            bg.fill(style.BG)
            style.panel(bg, lay.scene, fill=(22, 25, 32))
            for rect in (*lay.panels, lay.timeline):
                style.panel(bg, rect)
            self._chrome_cache = (key, bg)
        return self._chrome_cache[1]

    def _draw_help(self, surf) -> None:
        W, H = surf.get_size()
        shade = pygame.Surface((W, H), pygame.SRCALPHA)
        shade.fill((0, 0, 0, 170))
        surf.blit(shade, (0, 0))
        rows = HELP if not self.legend else HELP[-4:]
        box = pygame.Rect(0, 0, 460, 60 + 26 * len(rows))
        box.center = (W // 2, H // 2)
        style.panel(surf, box, radius=12)
        style.blit_text(surf, "keys", (box.x + 24, box.y + 16), size=18, bold=True, color=style.ACCENT)
        for k, (key, what) in enumerate(rows):
            y = box.y + 52 + 26 * k
            style.blit_text(surf, key, (box.x + 24, y), size=15, bold=True)
            style.blit_text(surf, what, (box.x + 170, y), size=15, color=style.MUTED)

    def signature(self, size) -> tuple:
        """Everything a frame shows; equal signatures draw equal frames."""
        toast = self.toast[0] if self.toast and time.monotonic() < self.toast[1] else None
        tr = self.trace
        return (id(tr), tr.length, getattr(tr, "finished", True), self.t, tuple(size), self.playing, self.speed_idx,
                self.show_help, toast, tuple(sorted(self.pending.items())), tuple(self.legend), self.status)

    # ------------------------------------------------------------------ loop

    def open_window(self) -> pygame.Surface:
        return open_window(self.config.size, self.config.title)

    def at_end(self) -> bool:
        """Nothing more will be shown without a key: paused, or at the end of a finished episode."""
        return not self.playing or (self.t >= self.trace.length and getattr(self.trace, "finished", True))

    def run(self, max_frames: int | None = None, on_frame: Callable[[Viewer], None] | None = None) -> None:
        """The window loop: events, playback, draw, flip, at `config.fps`. `max_frames` bounds it
        (tests, benchmarks); `on_frame` is called once per frame before drawing.

        Headless (see `headless()`) with no `on_frame` to script input, nobody can press a key:
        playback advances one step per frame and the loop ends once `at_end()`, after drawing
        that frame."""
        screen = self.open_window()
        unattended = headless() and on_frame is None
        clock = pygame.time.Clock()
        last = time.perf_counter()
        last_sig = None
        while self.running and (max_frames is None or self.frames < max_frames):
            for ev in pygame.event.get():
                self.handle_event(ev)
            now = time.perf_counter()
            if not unattended:
                self.update(now - last)
            last = now
            if on_frame is not None:
                on_frame(self)
            screen = pygame.display.get_surface() or screen
            # Redraw only when something visible changed: at 1x most frames would repeat the last.
            sig = self.signature(screen.get_size())
            if sig != last_sig:
                self.draw(screen)
                pygame.display.flip()
                last_sig = sig
                self.drawn += 1
            self.frames += 1
            if unattended:
                if self.at_end():
                    break
                self.cursor = float(min(self.trace.length, self.t + 1))  # a live trace may not have it yet
            clock.tick(self.config.fps)


def headless() -> bool:
    """True when pygame draws to no screen (SDL_VIDEODRIVER=dummy or offscreen, which
    `open_window` accepts only when asked for): windows must then end by themselves."""
    return os.environ.get("SDL_VIDEODRIVER", "") in ("offscreen", "dummy")


def open_window(size: tuple[int, int], title: str = "arena") -> pygame.Surface:
    """The window's surface (created, or the open one resized), titled `title`."""
    style.init_display()
    driver = pygame.display.get_driver()
    if driver in ("offscreen", "dummy") and os.environ.get("SDL_VIDEODRIVER", "") not in ("offscreen", "dummy"):
        # SDL falls back to an invisible window when there is no display: the loop would
        # run forever with nothing on screen. Headless runs ask for it explicitly.
        raise pygame.error("no display found")
    pygame.display.set_caption(title)
    return pygame.display.set_mode(size, pygame.RESIZABLE)


def view_traces(traces: Sequence, config: ViewerConfig | None = None, *, live: bool = False,
                max_frames: int | None = None) -> Viewer:
    viewer = Viewer(traces, config, live=live)
    viewer.run(max_frames=max_frames)
    return viewer


# ---------------------------------------------------------------------- off-screen export
# Frames drawn without the window's chrome (no playback state, key hints, toast or help), each
# once onto one Surface; `arena.viewer.export` streams them to ffmpeg.


def ghost_viewer(trace, size: tuple[int, int], viewer: Viewer | None = None) -> Viewer:
    """A Viewer that draws `trace` off screen; `viewer` lends its warm scene caches."""
    ghost = Viewer([trace], ViewerConfig(size=size, autoplay=False))
    if viewer is not None:
        ghost._scenes, ghost._panels = viewer._scenes, viewer._panels
        ghost.hidden, ghost.players = viewer.hidden, viewer.players  # what the window hides, a file hides
    return ghost


def export_videos(trace, paths: Sequence[str | os.PathLike], *, size: tuple[int, int] = (960, 576),
                  fps: float | None = None, viewer: Viewer | None = None, progress: bool = False) -> list[Path]:
    """Write every step of `trace` (as far as it goes) to each of `paths` (.gif or .mp4) in one
    drawing pass; returns the paths. `fps` defaults to the scene's 1x playback rate."""
    outs = video_paths(paths)
    size = frame_size(size)
    ghost = ghost_viewer(trace, size, viewer)
    surf = pygame.Surface(size)

    def frames() -> Iterator[bytes]:
        steps: Iterable[int] = range(trace.length + 1)
        if progress:
            from rich.progress import track

            steps = track(steps, description=f"exporting {', '.join(p.name for p in outs)}", transient=True)
        for t in steps:
            ghost.draw(surf, trace, t, clean=True)
            yield pygame.image.tobytes(surf, "RGB")

    return write_videos(outs, frames(), size, float(fps or ghost.scene(trace).steps_per_second))


def export_episode(trace, path: str | os.PathLike, *, size: tuple[int, int] = (960, 576), fps: float | None = None,
                   viewer: Viewer | None = None, progress: bool = False) -> Path:
    """Write every step of `trace` to `path` (.gif or .mp4); returns the path."""
    return export_videos(trace, [path], size=size, fps=fps, viewer=viewer, progress=progress)[0]


def export_png(trace, path: str | os.PathLike, step: int, *, size: tuple[int, int] = (960, 576),
               viewer: Viewer | None = None) -> Path:
    """Write the frame of `trace` at `step` (scene, panels, timeline) to `path` as PNG."""
    if not 0 <= step <= trace.length:
        raise ValueError(f"step {step}: the episode has steps 0..{trace.length}")
    surf = pygame.Surface((int(size[0]), int(size[1])))
    ghost_viewer(trace, surf.get_size(), viewer).draw(surf, trace, step, clean=True)
    return save_png(surf, path)
