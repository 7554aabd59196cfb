"""The replay's array and column encoding: numpy and msgpack only, no jax, no arena.

This module is the reference a reader in another language follows (the README's "Replay
format" section states the same in prose). Every array is a map {dtype, shape, enc, store,
bytes}: `bytes` holds little-endian values of the `store` dtype, byte-shuffled when it is wider
than a byte, transformed by `enc` (raw, const, delta, xor), so that states which barely change
from step to step cost almost nothing. An episode's columns are one msgpack map of such arrays,
zlib-compressed or not:

    {"actions": array (T, S), "rewards": array (T, S), "dones": array (T,),
     "extras": [per side: {name: array (T, n_side_seats, *shape)}],
     "states": [{"path": ".agents.pos.x", **array (T + 1, ...)}, ...  in the state's leaf order],
     "reaction_ms": array (T, S) or nil}
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

import msgpack
import numpy as np

ZLIB_LEVEL = 9  # chunks are small (tens of kB): the best level costs about a millisecond

# Integer storage types, narrowest first: values are stored in the first that holds their range.
_INT_LADDER: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64"))


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


# What a decoder accepts: every dtype the encoder writes, nothing else (no object, string,
# void or datetime dtypes, whose values numpy would build from the file's bytes), and no array
# of more than MAX_VALUES values (256 MiB as int64, which delta decoding passes through; a
# replay holds a few episodes of small states).
DTYPES = frozenset(("bool", *(t.name for t in _INT_LADDER), "uint64", "float16", "float32", "float64"))
ENCODINGS = ("raw", "const", "delta", "xor")
MAX_NDIM = 8
MAX_VALUES = 1 << 25


def _dtype_field(rec: dict, key: str) -> np.dtype:
    name = rec.get(key)
    if not isinstance(name, str) or name not in DTYPES:
        raise ValueError(f"array {key} {str(name)[:20]!r} is not one a replay holds (bool, [u]int8-64, float16-64)")
    return np.dtype(name)


class ArraySpec(NamedTuple):
    """What an array map declares, once `check_array` has accepted it."""

    dtype: np.dtype
    store: np.dtype
    shape: tuple[int, ...]
    enc: str


def check_array(rec) -> ArraySpec:
    """The declared form of an array map, refused with a ValueError unless every field is one
    the encoder writes and `bytes` holds exactly the values the shape needs: checked before
    anything is allocated, so a hostile map costs nothing."""
    if not isinstance(rec, dict):
        raise ValueError("an array is not a map")
    dtype, store = _dtype_field(rec, "dtype"), _dtype_field(rec, "store")
    enc = rec.get("enc")
    if enc not in ENCODINGS:
        raise ValueError(f"unknown array encoding {str(enc)[:20]!r} (known: {', '.join(ENCODINGS)})")
    shape = rec.get("shape")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ValueError(f"array shape {str(shape)[:40]} is not a list of at most {MAX_NDIM} non-negative ints")
    count = int(np.prod(shape, dtype=object))  # Python ints: no overflow
    if count > MAX_VALUES:
        raise ValueError(f"array shape {str(shape)[:40]} holds more values than a replay array may ({MAX_VALUES:,})")
    if enc == "const" and not shape:
        raise ValueError("a const array has no leading axis")
    if enc == "delta" and (dtype.kind not in "biu" or store.kind not in "iu"):
        raise ValueError(f"a delta array must hold integers (dtype {dtype.name}, store {store.name})")
    if enc == "xor" and (dtype.kind != "f" or store != np.dtype(f"u{dtype.itemsize}")):
        raise ValueError(f"an xor array must be floats stored as their bits (dtype {dtype.name}, store {store.name})")
    data = rec.get("bytes")
    stored = int(np.prod(shape[1:], dtype=object)) if enc == "const" else count
    if not isinstance(data, bytes) or len(data) != stored * store.itemsize:
        held = f"{len(data)} bytes" if isinstance(data, bytes) else "no bytes"
        raise ValueError(f"array holds {held}, its shape {shape} of {store.name} needs {stored * store.itemsize}")
    return ArraySpec(dtype, store, tuple(shape), enc)


def decode_array(rec: dict) -> np.ndarray:
    """The reference decoder of the replay array encoding (see the README). Raises ValueError
    on a map the encoder would not write (`check_array`)."""
    dtype, store, shape, enc = check_array(rec)
    stored_shape = shape[1:] if enc == "const" else shape
    p = _unshuffle(rec["bytes"], store, int(np.prod(stored_shape, dtype=np.int64))).reshape(stored_shape)
    if enc == "const":
        p = np.broadcast_to(p, shape)
    elif enc == "delta":
        p = np.cumsum(p, axis=0, dtype=np.int64)
    elif enc == "xor":
        return np.bitwise_xor.accumulate(p, axis=0).view(dtype)
    return np.array(p, dtype=dtype)


# ---------------------------------------------------------------- episode columns


def encode_columns(actions, rewards, dones, extras, states: dict, reaction_ms=None, *, lossy_extras: bool = True) -> dict:
    """The column map of one episode, every array encoded. `states`: {leaf path: (T + 1, ...)}
    in the state's leaf order; `extras`: per side, {name: (T, n_side_seats, *shape)}."""
    return {
        "actions": encode_array(np.asarray(actions)),
        "rewards": encode_array(np.asarray(rewards)),
        "dones": encode_array(np.asarray(dones)),
        "extras": [{k: encode_array(np.asarray(v), lossy=lossy_extras) for k, v in ex.items()} for ex in extras],
        "states": [{"path": path, **encode_array(np.asarray(leaf))} for path, leaf in states.items()],
        "reaction_ms": None if reaction_ms is None else encode_array(np.asarray(reaction_ms)),
    }


def _each_array(cols: dict, fn: Callable[[Any], Any]) -> dict[str, Any]:
    """`fn` applied to every array map of a column map, in decode_columns' layout; a ValueError
    names the column."""

    def at(name: str, rec) -> Any:
        try:
            return fn(rec)
        except ValueError as err:
            raise ValueError(f"column {name}: {err}") from None

    for key in ("actions", "rewards", "dones", "extras", "states"):
        if key not in cols:
            raise ValueError(f"the columns have no {key!r}")
    extras, states = cols["extras"], cols["states"]
    if not isinstance(extras, list) or not all(isinstance(ex, dict) and all(isinstance(k, str) for k in ex) for ex in extras):
        raise ValueError("column extras is not a list of maps from names to arrays")
    if not isinstance(states, list) or not all(isinstance(s, dict) and isinstance(s.get("path"), str) for s in states):
        raise ValueError("column states is not a list of arrays with a path")
    reaction = cols.get("reaction_ms")
    return {
        "actions": at("actions", cols["actions"]),
        "rewards": at("rewards", cols["rewards"]),
        "dones": at("dones", cols["dones"]),
        "extras": tuple({name: at(f"extras[{i}].{name}", a) for name, a in ex.items()} for i, ex in enumerate(extras)),
        "states": {s["path"]: at(f"states {s['path']}", s) for s in states},
        "reaction_ms": None if reaction is None else at("reaction_ms", reaction),
    }


def check_columns(cols: dict) -> dict[str, Any]:
    """The ArraySpec of every array of a column map, in decode_columns' layout, without decoding
    any; raises ValueError, naming the column, on a map the encoder would not write."""
    return _each_array(cols, check_array)


def decode_columns(cols: dict) -> dict[str, Any]:
    """The arrays of a column map: actions, rewards, dones, extras (per side), states
    ({leaf path: array}, in the recorded order) and reaction_ms (None when not recorded).
    Raises ValueError, naming the column, on a map the encoder would not write."""
    return _each_array(cols, decode_array)


def pack_columns(cols: dict, compress: bool) -> tuple[str, bytes]:
    """(compression, bytes) of a column map as an episode record holds it."""
    body = msgpack.packb(cols, use_bin_type=True)
    return ("zlib", zlib.compress(body, ZLIB_LEVEL)) if compress else ("none", body)


def unpack_columns(compression: str, body: bytes) -> dict:
    """The column map of an episode record (arrays still encoded). Raises ValueError, or
    zlib's and msgpack's own errors, on bad bytes."""
    if compression == "zlib":
        body = zlib.decompress(body)
    elif compression != "none":
        raise ValueError(f"unknown compression {compression!r}")
    cols = msgpack.unpackb(body, raw=False, strict_map_key=False)
    if not isinstance(cols, dict):
        raise ValueError("the columns are not a msgpack map")
    return cols
