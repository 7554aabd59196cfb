"""The viewer's look and its pygame setup: palette, fonts, cached text, small drawing helpers.

Everything that touches pygame's global state lives here, so the rule "display and fonts
only, never audio" is kept in one place: `init_display()` never calls `pygame.init()`.
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict

# Before pygame is imported anywhere: no banner on stdout (arena's --json output goes there)
# and no audio device, ever (headless machines and CI have none).
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame  # noqa: E402

BG = (18, 20, 26)
PANEL = (28, 31, 40)
PANEL_EDGE = (48, 52, 66)
GRID = (44, 48, 60)
TEXT = (226, 230, 238)
MUTED = (140, 146, 162)
ACCENT = (255, 196, 64)
GOOD = (88, 214, 141)
BAD = (240, 98, 98)
CURSOR = (255, 255, 255)
# The hidden truth an env exposes (the prey's corner): its star on the scene and the outline of
# its bar in a belief panel. No seat, event or bar uses this colour, so it is found by value.
TRUTH = (255, 230, 0)

# Seat colours: the first two match JaxMARL's Overcooked agents (red, blue).
SEAT_COLORS = (
    (236, 86, 86),
    (82, 136, 240),
    (96, 206, 120),
    (186, 110, 232),
    (244, 180, 60),
    (72, 206, 214),
)


def seat_color(seat: int) -> tuple[int, int, int]:
    return SEAT_COLORS[seat % len(SEAT_COLORS)]


def init_display() -> None:
    """Initialise the display and font modules only (never `pygame.init`, never audio)."""
    if not pygame.display.get_init():
        pygame.display.init()
    if not pygame.font.get_init():
        pygame.font.init()


def mix(a, b, f: float) -> tuple[int, int, int]:
    """Colour a blended toward b by f in [0, 1]."""
    f = max(0.0, min(1.0, float(f)))
    return tuple(int(round(x + (y - x) * f)) for x, y in zip(a, b))


_FONT_FILE: str | None | bool = False  # False: not looked up yet
_FONTS: dict[tuple[int, bool], pygame.font.Font] = {}
_TEXT: dict[tuple, pygame.Surface] = {}
_TEXT_LIMIT = 4096
_FITTED: dict[tuple, pygame.Surface] = {}  # truncated labels, by what was asked


def font(size: int, bold: bool = False) -> pygame.font.Font:
    global _FONT_FILE
    if not pygame.font.get_init():
        pygame.font.init()  # fonts need no display: exports run without a window
    if _FONT_FILE is False:
        # A clean sans when the system has one; pygame's bundled font otherwise.
        _FONT_FILE = pygame.font.match_font("dejavusans,liberationsans,arial,helvetica") or None
    key = (size, bold)
    if key not in _FONTS:
        f = pygame.font.Font(_FONT_FILE, size)
        f.set_bold(bold)
        _FONTS[key] = f
    return _FONTS[key]


def text(s: str, size: int = 13, color=TEXT, bold: bool = False) -> pygame.Surface:
    """Rendered text, cached: rendering glyphs every frame would cost most of a frame."""
    key = (s, size, color, bold)
    surf = _TEXT.get(key)
    if surf is None:
        if len(_TEXT) > _TEXT_LIMIT:
            _TEXT.clear()
        surf = _TEXT[key] = font(size, bold).render(s, True, color)
    return surf


def blit_text(target: pygame.Surface, s: str, pos, size: int = 13, color=TEXT, bold: bool = False,
              anchor: str = "topleft", max_width: int | None = None) -> pygame.Rect:
    surf = text(s, size, color, bold)
    if max_width is not None and surf.get_width() > max_width and len(s) > 2:
        key = (s, size, color, bold, max_width)
        if key not in _FITTED:
            # Trim from the end until it fits; keeps labels inside their panel.
            while len(s) > 2 and text(s + "…", size, color, bold).get_width() > max_width:
                s = s[:-1]
            _FITTED[key] = text(s + "…", size, color, bold)
        surf = _FITTED[key]
    rect = surf.get_rect(**{anchor: pos})
    target.blit(surf, rect)
    return rect


def panel(target: pygame.Surface, rect: pygame.Rect, fill=PANEL, edge=PANEL_EDGE, radius: int = 8) -> None:
    pygame.draw.rect(target, fill, rect, border_radius=radius)
    pygame.draw.rect(target, edge, rect, width=1, border_radius=radius)


def star(target: pygame.Surface, center, radius: float, color=TRUTH) -> pygame.Rect:
    """A filled five-pointed star (points up), the mark of a hidden truth."""
    cx, cy = center
    pts = [(cx + (radius if k % 2 == 0 else radius * 0.45) * math.sin(k * math.pi / 5),
            cy - (radius if k % 2 == 0 else radius * 0.45) * math.cos(k * math.pi / 5)) for k in range(10)]
    return pygame.draw.polygon(target, color, pts)


class LRUCache:
    """Drawn surfaces by key, least recently used dropped first: a thing is drawn once however
    often it is shown (scene frames by (trace, t), plots until the trace grows or is resized)."""

    def __init__(self, limit: int = 256):
        self.limit = limit
        self.data: OrderedDict = OrderedDict()

    def get(self, key, make):
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        value = self.data[key] = make()
        if len(self.data) > self.limit:
            self.data.popitem(last=False)
        return value
