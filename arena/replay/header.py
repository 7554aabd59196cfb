"""The replay header: its format tag and schema version, and the map each side is stored as.

Schema 1 grows only by optional fields, so that every schema-1 file opens in every arena
that reads schema 1: a reader takes the fields it knows, and a field a file lacks gets its
default (`action_labels` in a side, added after the first release, is () when absent).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from arena.replay.framing import ReplayError
from arena.trace import SideInfo

FORMAT = "arena.replay"
SCHEMA = 1


def side_record(side: SideInfo) -> dict:
    """A SideInfo as the header's `sides` list holds it (plain msgpack data)."""
    d = dataclasses.asdict(side)
    d["seats"] = list(side.seats)
    d["human_seats"] = list(side.human_seats)
    d["action_labels"] = list(side.action_labels)
    d["extras"] = {k: {"shape": list(v.get("shape", [])), "labels": list(v.get("labels", []))} for k, v in side.extras.items()}
    return d


def side_from_record(s: dict) -> SideInfo:
    return SideInfo(
        name=s["name"], seats=tuple(s["seats"]), agent=s["agent"], arch=s.get("arch", ""),
        sha256=s.get("sha256", ""), extras=dict(s.get("extras") or {}), human=bool(s.get("human", False)),
        human_seats=tuple(s.get("human_seats") or ()), action_labels=tuple(s.get("action_labels") or ()),
    )


def check_header(path: Path, header: dict) -> None:
    """Refuse a first record that is not a header this arena reads. The env is not looked up:
    opening a replay reads the file, and only what re-simulates or draws it builds the env."""
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise ReplayError(path, f"is not an arena replay (its first record has no format tag {FORMAT!r})")
    schema = header.get("schema")
    if not isinstance(schema, int) or schema > SCHEMA or schema < 1:
        raise ReplayError(path, f"replay schema version {schema!r} is not one this arena reads (1 to {SCHEMA}); upgrade arena")
    for field, kind in (("env_id", str), ("seats", list), ("sides", list), ("seed", int)):
        if not isinstance(header.get(field), kind):
            raise ReplayError(path, f"replay header has no valid {field!r} field")
    if header.get("env_kwargs") is not None and not isinstance(header["env_kwargs"], dict):
        raise ReplayError(path, "replay header has no valid 'env_kwargs' field")
    for k, s in enumerate(header["sides"]):
        try:
            side_from_record(s)
        except (KeyError, TypeError, AttributeError):
            raise ReplayError(path, f"replay header's side {k} is malformed") from None
