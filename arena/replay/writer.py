"""Writing replays: the header now, an episode record per `write_episode`, the footer on close.

Each record is fsync'd into `<file>.partial` as it is written, and the file is renamed to
`<file>` when closed, so a crash leaves a readable prefix (the reader reports its torn tail).

    header = {"type": "header", "format": "arena.replay", "schema": 1, ...}
    episode= {"type": "episode", "episode": i, "length": T, "compression": "zlib"|"none",
              "columns": bin (the codec's column map), "returns": [...], "metrics": {...}}
    footer = {"type": "footer", "summary": {...}, "sha256": hex of every byte before the footer}
"""
from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena import __version__
from arena.replay.codec import encode_columns, pack_columns
from arena.replay.framing import MAGIC, ReplayError, frame
from arena.replay.header import FORMAT, SCHEMA, side_record
from arena.trace import EpisodeTrace, SideInfo
from arena.trees import plain
from arena.versions import library_versions


def encode_episode(trace: EpisodeTrace, *, lossy_extras: bool = True) -> dict:
    """The columns of one episode, every array encoded (the msgpack map inside `columns`)."""
    if not isinstance(trace.states, Mapping):
        raise TypeError("EpisodeTrace.states must be {leaf path: array} (arena.states.state_leaves of the pytree)")
    return encode_columns(trace.actions, trace.rewards, trace.dones, trace.extras, trace.states, trace.reaction_ms,
                          lossy_extras=lossy_extras)


def check_writable(path: str | os.PathLike) -> None:
    """Refuse an output path that cannot take a replay, before any work is done for it."""
    path = Path(path)
    if path.is_dir():
        raise ReplayError(path, "is a folder; give a file name for the replay, e.g. out.replay")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReplayError(path, f"cannot create its folder: {err.strerror}") from None
    if not os.access(path.parent, os.W_OK):
        raise ReplayError(path, "its folder is not writable")


class ReplayWriter:
    """Writes a replay one record at a time: header now, an episode per `write_episode`, the
    footer on `close`. Each record is fsync'd into `<path>.partial`, renamed to `path` on close.

        with ReplayWriter(path, env_id=..., env_kwargs=..., seats=..., sides=..., seed=...) as w:
            for trace in traces:
                w.write_episode(trace, metrics={"soups": 2.0})

    Leaving the `with` block by an exception keeps the `.partial` file: a readable prefix.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        env_id: str,
        env_kwargs: dict,
        seats: Sequence[str],
        sides: Sequence[SideInfo],
        seed: int,
        episodes: int | None = None,
        meta: dict | None = None,
        compress: bool = True,
        lossy_extras: bool = True,
    ):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.seats = tuple(seats)
        self.sides = tuple(sides)
        self.env_id = env_id
        self.compress = compress
        self.lossy_extras = lossy_extras
        self._sha = hashlib.sha256()
        # The footer's summary, grown per episode: lists per episode, and metric name -> list.
        self._summary: dict[str, Any] = {"episodes": [], "lengths": [], "returns": [], "metrics": {}}
        check_writable(self.path)
        self._file = open(self.partial, "wb")  # noqa: SIM115  (kept open across calls; closed by close/abort)
        self._append(MAGIC)
        self.header = {
            "type": "header",
            "format": FORMAT,
            "schema": SCHEMA,
            "arena_version": __version__,
            **library_versions(),
            "env_id": env_id,
            "env_kwargs": plain(dict(env_kwargs)),
            "seats": list(self.seats),
            "sides": [side_record(s) for s in self.sides],
            "seed": int(seed),
            "episodes": episodes,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "float_extras": "float16" if lossy_extras else "exact",
            "meta": plain(meta or {}),
        }
        self._write(self.header)

    @classmethod
    def for_trace(cls, path, trace: EpisodeTrace, **kw) -> ReplayWriter:
        """A writer whose header describes the match `trace` comes from."""
        return cls(path, env_id=trace.env_id, env_kwargs=trace.env_kwargs, seats=trace.seats,
                   sides=trace.sides, seed=trace.seed, **kw)

    def _append(self, data: bytes) -> None:
        self._file.write(data)
        self._sha.update(data)

    def _write(self, record: dict) -> None:
        self._append(frame(record))
        self._file.flush()
        os.fsync(self._file.fileno())

    def write_episode(self, trace: EpisodeTrace, metrics: dict | None = None) -> None:
        """Append one episode (one fsync'd record). `metrics`: name -> this episode's value."""
        if self._file.closed:
            raise ValueError("the replay writer is closed")
        if trace.env_id != self.env_id or tuple(trace.seats) != self.seats or len(trace.extras) != len(self.sides):
            raise ValueError(f"episode of {trace.env_id} {trace.seats} does not belong in a replay of {self.env_id} {self.seats}")
        compression, columns = pack_columns(encode_episode(trace, lossy_extras=self.lossy_extras), self.compress)
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        returns = np.asarray(trace.rewards, np.float64).sum(axis=0)
        self._write({
            "type": "episode",
            "episode": int(trace.episode),
            "length": trace.length,
            "compression": compression,
            "columns": columns,
            "returns": returns.tolist(),
            "metrics": metrics,
        })
        s = self._summary
        s["episodes"].append(int(trace.episode))
        s["lengths"].append(trace.length)
        s["returns"].append(returns.tolist())
        for k, v in metrics.items():
            s["metrics"].setdefault(k, []).append(v)

    def close(self, extra: dict | None = None) -> Path:
        """Write the footer (summary + sha256 of everything before it), fsync, rename."""
        if self._file.closed:
            return self.path
        returns = np.asarray(self._summary["returns"], np.float64).reshape(-1, len(self.seats))
        summary = {**self._summary, "mean_return": returns.mean(axis=0).tolist() if len(returns) else [], **plain(extra or {})}
        self._write({"type": "footer", "episodes": len(self._summary["episodes"]), "summary": summary,
                     "sha256": self._sha.hexdigest()})
        self._file.close()
        os.replace(self.partial, self.path)
        try:  # make the rename itself durable
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:  # some filesystems refuse fsync on a directory; the data is already synced
            pass
        return self.path

    def __enter__(self) -> ReplayWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()  # keep the .partial prefix for inspection


def write_replay(path, traces: Sequence[EpisodeTrace], *, metrics: Sequence[dict] | None = None,
                 episodes: int | None = None, meta: dict | None = None, **kw) -> Path:
    """Write whole traces (of one match) as one replay file."""
    if not traces:
        raise ValueError("no episodes to write")
    with ReplayWriter.for_trace(path, traces[0], episodes=episodes or len(traces), meta=meta, **kw) as w:
        for i, trace in enumerate(traces):
            w.write_episode(trace, metrics=metrics[i] if metrics else None)
    return Path(path)
