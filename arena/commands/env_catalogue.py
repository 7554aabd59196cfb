"""What `arena envs` lists: every env id's spec, built once and cached per installed JaxMARL.

Building all the envs (tracing each reset for its shapes) takes seconds; the listing only
changes when JaxMARL, arena or arena's env adapters change. So it is built once, stored as
JSON in the cache dir under a key of all three (the adapters by a digest of their source
files, found without importing them), written atomically, and read back without importing
jax. A cache file that does not parse is rebuilt.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

from arena import __version__
from arena.fileio import atomic_write
from arena.paths import cache_dir


def catalogue_key() -> str:
    """A digest of JaxMARL's version, arena's version, arena's env adapter sources and this
    file (which says what a row holds)."""
    h = hashlib.sha256(f"jaxmarl {importlib.metadata.version('jaxmarl')}\narena {__version__}\n".encode())
    h.update(Path(__file__).read_bytes())
    # find_spec imports only the parent package `arena`, never arena.envs (which imports jax).
    for folder in importlib.util.find_spec("arena.envs").submodule_search_locations:
        for file in sorted(Path(folder).glob("*.py")):
            h.update(file.name.encode() + b"\0" + file.read_bytes())
    return h.hexdigest()[:16]


def catalogue_path() -> Path:
    return cache_dir() / "envs" / f"catalogue-{catalogue_key()}.json"


def spec_row(spec) -> dict:
    """One env's listing: what `arena envs --json` prints for it."""
    return {
        "id": spec.id,
        "seats": list(spec.seats),
        "cooperative": spec.cooperative,
        "max_steps": spec.max_steps,
        "sides": [s.name for s in spec.sides],
        "teams": [
            {"name": t.name, "seats": [spec.seats[i] for i in t.seats], "obs_shape": list(t.obs_shape),
             "obs_dtype": t.obs_dtype, "num_actions": t.num_actions, "action_labels": list(t.action_labels)}
            for t in spec.teams
        ],
        "metrics": [m.name for m in spec.metrics],
    }


def build_catalogue() -> list[dict]:
    """Every registered env built for real with its default options, and the options it takes
    (name -> default as --env-kw takes it)."""
    from arena.env import env_options
    from arena.envs import make, registered_ids

    return [{**spec_row(make(env_id).spec), "options": env_options(env_id)} for env_id in registered_ids()]


def env_catalogue() -> list[dict]:
    """The listing of every env id: from the cache, or built and cached."""
    path = catalogue_path()
    try:
        rows = json.loads(path.read_text())
        if isinstance(rows, list) and all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):
            return rows
    except (OSError, ValueError):  # missing, unreadable or not JSON: build it again
        pass
    rows = build_catalogue()
    with contextlib.suppress(OSError):  # a read-only cache dir costs the next listing time, nothing else
        atomic_write(path, json.dumps(rows, indent=1))
    return rows
