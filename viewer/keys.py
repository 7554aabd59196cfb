"""Keys of human play: which key plays which action (by the action's label), the legend that
says so, and the keys that answer the dialogs."""
from __future__ import annotations

from collections.abc import Sequence

import pygame

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
# Labels of the action a human plays by pressing nothing.
NOOP_LABELS = ("stay", "noop")
# Viewer playback keys, which mean nothing in a live game.
PLAYBACK_KEYS = (pygame.K_SPACE, pygame.K_LEFT, pygame.K_RIGHT, pygame.K_UP, pygame.K_DOWN, pygame.K_e)

# Dialog answers: a 1-5 rating (top row or keypad), and "go".
RATING_KEYS = {**{pygame.K_1 + k: k + 1 for k in range(5)}, **{pygame.K_KP1 + k: k + 1 for k in range(5)}}
GO_KEYS = {pygame.K_SPACE: True, pygame.K_RETURN: True, pygame.K_KP_ENTER: True}


def key_map(labels: Sequence[str]) -> dict[int, int]:
    """pygame key -> action index for a team's action labels; digits 1..9 pick by index."""
    out: dict[int, int] = {}
    for a, label in enumerate(labels):
        for key in LABEL_KEYS.get(label, ()):
            out.setdefault(key, a)
    for a in range(min(len(labels), 9)):
        out.setdefault(pygame.K_1 + a, a)
    return out


def noop_action(labels: Sequence[str]) -> int | None:
    """The action of pressing nothing, or None when the env has none (the matrix games)."""
    return next((a for a, label in enumerate(labels) if label in NOOP_LABELS), None)


def legend(labels: Sequence[str], keys: dict[int, int]) -> str:
    """One line naming each action's keys (the digits left out) and what no key does."""
    parts = []
    for a, label in enumerate(labels):
        names = [KEY_NAMES.get(k, pygame.key.name(k).upper()) for k, v in keys.items() if v == a and not (pygame.K_1 <= k <= pygame.K_9)]
        if names:
            parts.append(f"{'/'.join(names)} {label}")
    noop = noop_action(labels)
    parts.append(f"no key: {labels[noop]}" if noop is not None else "no key: repeat last")
    return " · ".join(parts)
