"""Where arena keeps things on the user's machine; ARENA_CACHE_DIR / ARENA_DATA_DIR override."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    return Path(os.environ.get("ARENA_CACHE_DIR") or platformdirs.user_cache_dir("arena"))


def data_dir() -> Path:
    return Path(os.environ.get("ARENA_DATA_DIR") or platformdirs.user_data_dir("arena"))


def enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache, so a second run skips most compiling."""
    import jax

    path = cache_dir() / "jax"
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
