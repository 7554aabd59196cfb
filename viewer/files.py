"""Where the viewer's pictures go: names that replace no earlier file, PNGs written atomically."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pygame

from arena.fileio import atomic_write


def unused_name(path: Path) -> Path:
    """`path`, or the first of path-2, path-3... (before the suffix) that does not exist."""
    k = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
        k += 1
    return candidate


def save_png(surf: pygame.Surface, path: str | os.PathLike) -> Path:
    """`surf` as a PNG file, written atomically."""
    buf = io.BytesIO()
    pygame.image.save(surf, buf, "png")
    return atomic_write(path, buf.getvalue())
