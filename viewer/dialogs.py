"""Message boxes in the pygame window: a question answered by a key, and the box it draws."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import pygame

from arena.viewer import style
from arena.viewer.app import open_window


def ask(title: str, lines: Sequence[str], answers: dict[int, object], *, background: pygame.Surface | None = None,
        size: tuple[int, int] = (1280, 760), fps: int = 30, on_frame: Callable[[], None] | None = None):
    """A message box in the window until a key of `answers` is pressed: that key's value;
    None when the window is closed or Esc is pressed."""
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


def show(title: str, lines: Sequence[str]) -> None:
    """Draw a message box in the open window now, without waiting (e.g. while loading)."""
    screen = pygame.display.get_surface()
    if screen is not None:
        draw_message(screen, title, lines)
        pygame.display.flip()


def last_frame() -> pygame.Surface | None:
    """A copy of what the window shows (a background for the next box), or None without one."""
    screen = pygame.display.get_surface()
    return screen.copy() if screen is not None else None


def draw_message(screen: pygame.Surface, title: str, lines: Sequence[str], background: pygame.Surface | None = None) -> None:
    """A centred box with a title and lines (the last one muted: the keys); `background`
    (the last game frame) dimmed behind it."""
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
