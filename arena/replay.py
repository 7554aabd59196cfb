"""Replay files: the codec (write incrementally, read back lazily). Numpy and msgpack only.

A replay is the magic `ARENARPL` (8 bytes), then a stream of framed msgpack records:

    frame  = u32 little-endian length N | N bytes: one msgpack map | u32 LE crc32 of those N bytes
    header = {"type": "header", "format": "arena.replay", "schema": 1, ...}
    episode= {"type": "episode", "episode": i, "length": T, "compression": "zlib"|"none",
              "columns": bin (msgpack map of arrays, zlib-compressed when compression is zlib)}
    footer = {"type": "footer", "summary": {...}, "sha256": hex of every byte before the footer}

Every array is {dtype, shape, enc, store, bytes}: `bytes` holds little-endian values of the
`store` dtype, byte-shuffled when it is wider than a byte, transformed by `enc` (raw, const,
delta, xor) so that states which barely change from step to step cost almost nothing. The
README's "Replay format" section is the full specification; `decode_array` is its reference.

The writer appends one record at a time, fsyncs it, and renames `<file>.partial` to `<file>`
when closed, so a crash leaves a readable prefix. The reader indexes records without decoding
their columns, decodes an episode when first asked for it, reports a torn tail (where and why)
and keeps every whole episode. Env states come back as the env's own pytree: the tree
structure is taken from the env's `reset` (jax is imported only then).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from arena.errors import UserError
from arena.trace import EpisodeTrace, SideInfo

MAGIC = b"ARENARPL"
FORMAT = "arena.replay"
SCHEMA = 1
_U32 = struct.Struct("<I")
_ZLIB_LEVEL = 9  # chunks are small (tens of kB): the best level costs about a millisecond

# Integer storage types, narrowest first: values are stored in the first that holds their range.
_INT_LADDER = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64))


class ReplayError(UserError):
    """A file that is not a replay this arena can read. The message starts with the file."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# ---------------------------------------------------------------- arrays


def _smallest_int(lo: int, hi: int) -> np.dtype:
    for dt in _INT_LADDER:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    return np.dtype(np.uint64)


def _shuffle(a: np.ndarray) -> bytes:
    """Little-endian bytes grouped by significance (all first bytes, then all second bytes...):
    the high bytes of small or slowly changing values are runs of equal bytes zlib removes."""
    a = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
    k = a.dtype.itemsize
    if k == 1:
        return a.tobytes()
    return np.ascontiguousarray(a.reshape(-1).view(np.uint8).reshape(-1, k).T).tobytes()


def _unshuffle(data: bytes, store: np.dtype, count: int) -> np.ndarray:
    raw = np.frombuffer(data, np.uint8)
    k = store.itemsize
    if raw.size != k * count:
        raise ValueError(f"array holds {raw.size} bytes, expected {k * count}")
    if k > 1:
        raw = np.ascontiguousarray(raw.reshape(k, count).T)
    return raw.view(store.newbyteorder("<")).astype(store)


def _record(dtype: np.dtype, shape, enc: str, payload: np.ndarray) -> dict:
    return {"dtype": dtype.name, "shape": list(shape), "enc": enc, "store": payload.dtype.name, "bytes": _shuffle(payload)}


def _rows_equal(x: np.ndarray) -> bool:
    if x.ndim == 0 or x.shape[0] == 0:
        return False
    bits = x.view(np.uint8) if x.dtype == np.bool_ else x.view(f"u{x.dtype.itemsize}")
    return bool((bits == bits[:1]).all())


def encode_array(x: np.ndarray, *, lossy: bool = False) -> dict:
    """One array as {dtype, shape, enc, store, bytes}, choosing the encoding that compresses best.

    Integers and bools are lossless in the narrowest integer type holding their range (or
    their step-to-step differences). Floats are lossless (float16 only when that is exact,
    else xor of consecutive rows' bits) unless `lossy`, where they are stored as float16
    (relative error <= 2**-11) whenever every finite value stays finite.
    """
    x = np.asarray(x)
    # Native byte order and C order (ascontiguousarray would make a 0-d array 1-d).
    x = np.asarray(x, dtype=x.dtype.newbyteorder("="), order="C")
    dtype = x.dtype
    if dtype.kind not in "biuf":
        raise ValueError(f"cannot store dtype {dtype} in a replay (bool, ints and floats only)")
    candidates: list[dict] = []
    if _rows_equal(x):
        candidates += _payloads(x[0], dtype, x.shape, "const", lossy)
    else:
        candidates += _payloads(x, dtype, x.shape, "raw", lossy)
        if x.ndim and x.shape[0] > 1 and dtype.kind in "biu" and dtype != np.uint64:
            v = x.astype(np.int64)
            d = v.copy()
            d[1:] = v[1:] - v[:-1]
            candidates.append(_record(dtype, x.shape, "delta", d.astype(_smallest_int(int(d.min()), int(d.max())))))
        if x.ndim and x.shape[0] > 1 and dtype.kind == "f" and not candidates[0]["store"].startswith("float16"):
            bits = x.view(f"u{dtype.itemsize}")
            d = bits.copy()
            d[1:] = bits[1:] ^ bits[:-1]
            candidates.append(_record(dtype, x.shape, "xor", d))
    if len(candidates) == 1:
        return candidates[0]
    return min(candidates, key=lambda r: len(zlib.compress(r["bytes"], 1)))


def _payloads(v: np.ndarray, dtype: np.dtype, shape, enc: str, lossy: bool) -> list[dict]:
    """The stored form of values `v` (the whole array, or one row for const)."""
    if dtype.kind in "biu":
        if v.size == 0 or dtype == np.uint64:
            store = np.dtype(np.uint8) if v.size == 0 else dtype
        else:
            store = _smallest_int(int(v.min()), int(v.max()))
        return [_record(dtype, shape, enc, v.astype(store))]
    if dtype.itemsize > 2:
        with np.errstate(over="ignore"):
            half = v.astype(np.float16)
        if lossy and np.array_equal(np.isfinite(half), np.isfinite(v)):
            return [_record(dtype, shape, enc, half)]
        if np.array_equal(half.astype(dtype), v, equal_nan=True):
            return [_record(dtype, shape, enc, half)]
    return [_record(dtype, shape, enc, v)]


def decode_array(rec: dict) -> np.ndarray:
    """The reference decoder of the replay array encoding (see the README)."""
    dtype, store = np.dtype(rec["dtype"]), np.dtype(rec["store"])
    shape = tuple(rec["shape"])
    enc = rec["enc"]
    stored_shape = shape[1:] if enc == "const" else shape
    p = _unshuffle(rec["bytes"], store, int(np.prod(stored_shape, dtype=np.int64))).reshape(stored_shape)
    if enc == "const":
        p = np.broadcast_to(p, shape)
    elif enc == "delta":
        p = np.cumsum(p, axis=0, dtype=np.int64)
    elif enc == "xor":
        return np.bitwise_xor.accumulate(p, axis=0).view(dtype)
    elif enc != "raw":
        raise ValueError(f"unknown array encoding {enc!r}")
    return np.array(p, dtype=dtype)


# ---------------------------------------------------------------- framing


def frame(record: dict) -> bytes:
    """One record as it sits in the file: length, msgpack body, crc32 of the body."""
    body = msgpack.packb(record, use_bin_type=True)
    return _U32.pack(len(body)) + body + _U32.pack(zlib.crc32(body))


@dataclasses.dataclass(frozen=True)
class Torn:
    """Where a replay stops being readable: the byte offset of the first bad record and why."""

    offset: int
    size: int  # file size
    reason: str

    def describe(self) -> str:
        return f"torn at byte {self.offset} of {self.size}: {self.reason}"


def _read_records(data: bytes) -> tuple[list[tuple[int, dict]], Torn | None]:
    """Every whole record after the magic as (offset, map), and where the stream tears."""
    records, pos, size = [], len(MAGIC), len(data)
    while pos < size:
        if pos + 4 > size:
            return records, Torn(pos, size, "the file ends inside a record's length")
        (n,) = _U32.unpack_from(data, pos)
        if pos + 8 + n > size:
            return records, Torn(pos, size, f"the file ends inside a record ({n} byte body, {size - pos - 4} bytes left)")
        body = data[pos + 4 : pos + 4 + n]
        if zlib.crc32(body) != _U32.unpack_from(data, pos + 4 + n)[0]:
            return records, Torn(pos, size, "a record's crc32 does not match (corrupt bytes)")
        try:
            rec = msgpack.unpackb(body, raw=False, strict_map_key=False)
        except Exception:  # msgpack raises several types on bad bytes
            return records, Torn(pos, size, "a record is not valid msgpack")
        if not isinstance(rec, dict):
            return records, Torn(pos, size, "a record is not a msgpack map")
        records.append((pos, rec))
        pos += 8 + n
    return records, None


# ---------------------------------------------------------------- writing


def _side_dict(side: SideInfo) -> dict:
    d = dataclasses.asdict(side)
    d["seats"] = list(side.seats)
    d["human_seats"] = list(side.human_seats)
    d["extras"] = {k: {"shape": list(v.get("shape", [])), "labels": list(v.get("labels", []))} for k, v in side.extras.items()}
    return d


def _plain(value: Any) -> Any:
    """Env kwargs and summaries as msgpack-able plain data (numpy scalars become Python)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def state_leaves(states: Any) -> list[tuple[str, np.ndarray]]:
    """(path, leaf) of an env state pytree, paths as jax's keystr gives them (`.agents.pos.x`)."""
    import jax

    return [(jax.tree_util.keystr(p), np.asarray(leaf)) for p, leaf in jax.tree_util.tree_flatten_with_path(states)[0]]


def encode_episode(trace: EpisodeTrace, *, lossy_extras: bool = True) -> dict:
    """The columns of one episode, every array encoded (the msgpack map inside `columns`)."""
    return {
        "actions": encode_array(np.asarray(trace.actions)),
        "rewards": encode_array(np.asarray(trace.rewards)),
        "dones": encode_array(np.asarray(trace.dones)),
        "extras": [{k: encode_array(np.asarray(v), lossy=lossy_extras) for k, v in ex.items()} for ex in trace.extras],
        "states": [{"path": path, **encode_array(leaf)} for path, leaf in state_leaves(trace.states)],
        "reaction_ms": None if trace.reaction_ms is None else encode_array(np.asarray(trace.reaction_ms)),
    }


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
        from arena import __version__

        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.seats = tuple(seats)
        self.sides = tuple(sides)
        self.env_id = env_id
        self.compress = compress
        self.lossy_extras = lossy_extras
        self._sha = hashlib.sha256()
        self._summary: dict[str, list] = {"episodes": [], "lengths": [], "returns": [], "metrics": {}}
        check_writable(self.path)
        self._file = open(self.partial, "wb")  # noqa: SIM115  (closed by finish/abort, across calls)
        self._append(MAGIC)
        self.header = {
            "type": "header",
            "format": FORMAT,
            "schema": SCHEMA,
            "arena_version": __version__,
            "env_id": env_id,
            "env_kwargs": _plain(dict(env_kwargs)),
            "seats": list(self.seats),
            "sides": [_side_dict(s) for s in self.sides],
            "seed": int(seed),
            "episodes": episodes,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "float_extras": "float16" if lossy_extras else "exact",
            "meta": _plain(meta or {}),
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
        columns = msgpack.packb(encode_episode(trace, lossy_extras=self.lossy_extras), use_bin_type=True)
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        returns = np.asarray(trace.rewards, np.float64).sum(axis=0)
        self._write({
            "type": "episode",
            "episode": int(trace.episode),
            "length": trace.length,
            "compression": "zlib" if self.compress else "none",
            "columns": zlib.compress(columns, _ZLIB_LEVEL) if self.compress else columns,
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
        summary = {**self._summary, "mean_return": returns.mean(axis=0).tolist() if len(returns) else [], **_plain(extra or {})}
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


# ---------------------------------------------------------------- reading


@dataclasses.dataclass(frozen=True)
class EpisodeIndex:
    """Where one episode's record is, and what it says without decoding its columns."""

    episode: int
    length: int
    offset: int
    size: int  # bytes of the framed record
    returns: tuple[float, ...]
    metrics: dict


_TREEDEFS: dict[tuple, tuple[Any, list[str]]] = {}


def env_state_structure(env_id: str, env_kwargs: dict) -> tuple[Any, list[str]]:
    """(treedef, leaf paths) of an env's state, from its reset traced abstractly (cached)."""
    import jax

    from arena.env import freeze_kwargs
    from arena.envs import make

    key = (env_id, freeze_kwargs(env_kwargs))
    if key not in _TREEDEFS:
        env = make(env_id, **env_kwargs)
        shapes = jax.eval_shape(lambda k: env.reset(k)[0], jax.random.PRNGKey(0))
        flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
        _TREEDEFS[key] = (treedef, [jax.tree_util.keystr(p) for p, _ in flat])
    return _TREEDEFS[key]


class Episodes(Sequence):
    """The episodes of a replay, decoded on first access and kept (a replay holds a few)."""

    def __init__(self, replay: Replay):
        self._replay = replay
        self._cache: dict[int, EpisodeTrace] = {}

    def __len__(self) -> int:
        return len(self._replay.index)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = range(len(self))[k]
        if k not in self._cache:
            self._cache[k] = self._replay._decode(k)
        return self._cache[k]


class Replay:
    """An opened replay: `header`, `index` (per episode, cheap), `episodes` (EpisodeTraces,
    decoded lazily), `footer` (None when missing), `torn` (None when whole), `checksum_ok`
    (None without a footer)."""

    def __init__(self, path: Path, data: bytes, header: dict, records: list[tuple[int, dict]], footer: dict | None,
                 torn: Torn | None, checksum_ok: bool | None, footer_offset: int | None):
        self.path = path
        self.size = len(data)
        self.header = header
        self.footer = footer
        self.torn = torn
        self.checksum_ok = checksum_ok
        self.footer_offset = footer_offset
        self._records = records
        self.index = [
            EpisodeIndex(int(r["episode"]), int(r["length"]), off, 8 + _U32.unpack_from(data, off)[0],
                         tuple(r.get("returns") or ()), dict(r.get("metrics") or {}))
            for off, r in records
        ]
        self.episodes = Episodes(self)

    @property
    def env_id(self) -> str:
        return self.header["env_id"]

    @property
    def env_kwargs(self) -> dict:
        return dict(self.header.get("env_kwargs") or {})

    @property
    def seats(self) -> tuple[str, ...]:
        return tuple(self.header["seats"])

    @property
    def sides(self) -> tuple[SideInfo, ...]:
        return tuple(
            SideInfo(name=s["name"], seats=tuple(s["seats"]), agent=s["agent"], arch=s.get("arch", ""),
                     sha256=s.get("sha256", ""), extras=dict(s.get("extras") or {}), human=bool(s.get("human", False)),
                     human_seats=tuple(s.get("human_seats") or ()))
            for s in self.header["sides"]
        )

    def columns(self, k: int) -> dict:
        """The raw column map of the k-th episode record (arrays still encoded)."""
        rec = self._records[k][1]
        body = rec["columns"]
        try:
            if rec.get("compression", "none") == "zlib":
                body = zlib.decompress(body)
            elif rec.get("compression", "none") != "none":
                raise ValueError(f"unknown compression {rec['compression']!r}")
            return msgpack.unpackb(body, raw=False, strict_map_key=False)
        except Exception as err:  # zlib/msgpack raise several types on bad bytes
            raise ReplayError(self.path, f"episode record {k} has undecodable columns ({str(err)[:60]})") from None

    def _decode(self, k: int) -> EpisodeTrace:
        import jax

        from arena.envs import UnknownEnv

        cols = self.columns(k)
        try:
            treedef, paths = env_state_structure(self.env_id, self.env_kwargs)
        except UnknownEnv as err:
            raise ReplayError(self.path, f"the replay's env cannot be built: {err}") from None
        recorded = [s["path"] for s in cols["states"]]
        if recorded != paths:
            first = next((f"recorded {a!r}, env has {b!r}" for a, b in zip(recorded, paths) if a != b),
                         f"{len(recorded)} leaves recorded, env has {len(paths)}")
            raise ReplayError(self.path, f"env state leaves of {self.env_id} do not match the replay ({first}); "
                                         "the env changed since it was recorded")
        try:
            states = jax.tree_util.tree_unflatten(treedef, [decode_array(s) for s in cols["states"]])
            reaction = cols.get("reaction_ms")
            return EpisodeTrace(
                env_id=self.env_id,
                env_kwargs=self.env_kwargs,
                seats=self.seats,
                sides=self.sides,
                seed=int(self.header["seed"]),
                episode=self.index[k].episode,
                states=states,
                actions=decode_array(cols["actions"]),
                rewards=decode_array(cols["rewards"]),
                dones=decode_array(cols["dones"]),
                extras=tuple({name: decode_array(a) for name, a in ex.items()} for ex in cols["extras"]),
                reaction_ms=None if reaction is None else decode_array(reaction),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ReplayError(self.path, f"episode record {k} is malformed ({str(err)[:80]})") from None


def _check_header(path: Path, header: dict) -> None:
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise ReplayError(path, f"is not an arena replay (its first record has no format tag {FORMAT!r})")
    schema = header.get("schema")
    if not isinstance(schema, int) or schema > SCHEMA or schema < 1:
        raise ReplayError(path, f"replay schema version {schema!r} is not one this arena reads (1 to {SCHEMA}); upgrade arena")
    for field, kind in (("env_id", str), ("seats", list), ("sides", list), ("seed", int)):
        if not isinstance(header.get(field), kind):
            raise ReplayError(path, f"replay header has no valid {field!r} field")
    from arena.envs import UnknownEnv, make, registered_ids

    if header["env_id"] not in registered_ids():
        raise ReplayError(path, f"replay is of env {header['env_id']!r}, which this arena does not know; "
                                "`arena envs` lists the known ids")
    try:
        make(header["env_id"], **dict(header.get("env_kwargs") or {}))
    except UnknownEnv as err:
        raise ReplayError(path, f"the replay's env cannot be built: {err}") from None


def open_replay(path: str | os.PathLike) -> Replay:
    """Open a replay: check its header, index its episodes, find its footer or where it tears."""
    path = Path(path)
    if not path.exists():
        raise ReplayError(path, "no such file")
    if path.is_dir():
        raise ReplayError(path, "is a folder, not a replay file")
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        if data and MAGIC.startswith(data):
            raise ReplayError(path, "replay is torn inside its first bytes: nothing to read")
        raise ReplayError(path, f"is not an arena replay (it does not start with {MAGIC.decode()})")
    records, torn = _read_records(data)
    if not records:
        raise ReplayError(path, f"replay is torn before its header is complete ({torn.reason if torn else 'empty'}): nothing to read")
    header = records[0][1]
    _check_header(path, header)
    episodes, footer, footer_offset = [], None, None
    for offset, rec in records[1:]:
        kind = rec.get("type")
        if footer is not None:
            torn = Torn(offset, len(data), "records after the footer")
            break
        if kind == "episode":
            episodes.append((offset, rec))
        elif kind == "footer":
            footer, footer_offset = rec, offset
        else:
            torn = Torn(offset, len(data), f"unknown record type {kind!r}")
            break
    checksum_ok = None
    if footer is not None:
        checksum_ok = hashlib.sha256(data[:footer_offset]).hexdigest() == footer.get("sha256")
    elif torn is None:
        torn = Torn(len(data), len(data), "the file ends without a footer (the writer did not finish)")
    return Replay(path, data, header, episodes, footer, torn, checksum_ok, footer_offset)
