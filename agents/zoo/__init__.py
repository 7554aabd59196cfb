"""Trained agents shipped with arena, loaded as `zoo:NAME` (the file NAME.ckpt in this folder)."""
from __future__ import annotations

from pathlib import Path

from arena.errors import UserError

ZOO_DIR = Path(__file__).parent


def zoo_names() -> list[str]:
    return sorted(p.stem for p in ZOO_DIR.glob("*.ckpt"))


def zoo_path(name: str) -> Path:
    path = ZOO_DIR / f"{name}.ckpt"
    if not path.is_file():
        known = ", ".join(zoo_names()) or "none yet"
        raise UserError(f"zoo:{name}: no such zoo agent; known: {known}")
    return path
