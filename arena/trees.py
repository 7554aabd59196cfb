"""Plain data <-> hashable data, the one place it is done.

Configs and env options arrive from TOML, JSON or msgpack as dicts and lists; the parts of
arena that key caches or jit by them need hashable values. `freeze` makes them hashable,
`thaw` is its inverse, `plain` turns anything arena stores into what msgpack, JSON and TOML
accept (numpy scalars and arrays included).
"""
from __future__ import annotations

from typing import Any

import numpy as np


def freeze(value: Any) -> Any:
    """Dicts become sorted tuples of (key, value) pairs and lists become tuples, recursively."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def freeze_kwargs(kwargs: dict) -> tuple[tuple[str, Any], ...]:
    """Options as a hashable sorted tuple of pairs, as EnvSpec.kwargs and caches hold them."""
    return freeze(dict(kwargs))


def thaw(value: Any) -> Any:
    """Inverse of `freeze`: tuples of (str, value) pairs back to dicts, other tuples to lists."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return {k: thaw(v) for k, v in value}
        return [thaw(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """Plain data for msgpack / JSON / TOML: str keys, lists for tuples, numpy made Python."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def same_kind(value: Any, like: Any) -> bool:
    """Whether a plain `value` may stand where `like` (a default) does: a bool for a bool, an
    int for an int, a number for a float; anything for other defaults (None, lists, text)."""
    if isinstance(like, bool):
        return isinstance(value, bool)
    if isinstance(like, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(like, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def kind_name(like: Any) -> str:
    """What `same_kind(value, like)` asks for, in words."""
    return {bool: "true or false", int: "an int", float: "a number"}.get(type(like), type(like).__name__)
