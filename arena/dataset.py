"""Offline datasets made from matches: the format, the writer, and the checking loader.

A dataset is a folder any language can read (JSON and numpy `.npz`, no pickle):

    dataset.json     what it is: format tag and version, env id and options, seats, the agents
                     that played each side (name, arch, params sha256, full manifest when
                     known), where the episodes came from, and every array file's sha256
    episodes.npz     one row per episode: source (index into `sources`), seed, episode (its
                     index in that match: its key is fold_in(PRNGKey(seed), episode)), length
    <seat>.npz       one per seat, one row per step, episodes one after another:
                       observations       (N, *obs_shape)  what the seat saw before acting
                       next_observations  (N, *obs_shape)  what it saw after the step
                       actions            (N,) int32
                       rewards            (N,) float32
                       terminals          (N,) bool   the game ended at this step
                       truncations        (N,) bool   the step limit ended it
                       episode            (N,) int32  row of episodes.npz
                       step               (N,) int32  step within the episode

Replays do not hold observations (they are large and follow from the state), so the writer
re-simulates each episode from its seed and recorded actions with the runner's key scheme
(`arena.keys`), as `arena replay verify` does, and keeps the env's own observations; the
re-simulated rewards and episode ends must equal the recorded ones bit for bit, or the episode
is refused. `load_dataset` checks a folder the way `load_agent` checks a checkpoint: every
field, every hash, every array's dtype and shape, and stops at the first problem with one line.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from arena import keys
from arena.cache import CompileCache
from arena.env import Env, make
from arena.errors import UserError
from arena.fileio import atomic_write
from arena.replay import open_replay
from arena.trace import EpisodeTrace
from arena.trees import thaw
from arena.verify import replay_actions
from arena.versions import installed_version, library_versions

FORMAT = "arena.dataset"
VERSION = 1
MANIFEST = "dataset.json"
EPISODES = "episodes.npz"
SEAT_ARRAYS = {  # name -> (dtype or None for the seat's obs dtype, trailing shape: "obs" or ())
    "observations": (None, "obs"),
    "next_observations": (None, "obs"),
    "actions": ("int32", ()),
    "rewards": ("float32", ()),
    "terminals": ("bool", ()),
    "truncations": ("bool", ()),
    "episode": ("int32", ()),
    "step": ("int32", ()),
}
# The most bytes the arrays of one .npz may unpack to (np.savez stores them uncompressed, so a
# file this arena wrote unpacks to its own size).
MAX_UNPACKED = 2**32
EPISODE_ARRAYS = {"source": "int32", "seed": "int64", "episode": "int32", "length": "int32"}


class DatasetError(UserError):
    """A dataset folder that cannot be read or written; the message starts with the folder."""

    def __init__(self, path, problem: str, exit_code: int = 2):
        super().__init__(f"{path}: {problem}")
        self.exit_code = exit_code


@dataclasses.dataclass(frozen=True)
class SeatData:
    """One seat's steps (N rows), as `<seat>.npz` holds them."""

    observations: np.ndarray
    next_observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    truncations: np.ndarray
    episode: np.ndarray
    step: np.ndarray

    @property
    def dones(self) -> np.ndarray:
        return self.terminals | self.truncations


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded, checked dataset. `seats[name]` is that seat's SeatData; every seat has the
    same N rows, row i of each seat being the same step of the same episode."""

    path: Path
    meta: dict  # dataset.json as read
    episodes: dict  # EPISODE_ARRAYS name -> (E,)
    seats: dict  # seat name -> SeatData

    @property
    def env_id(self) -> str:
        return self.meta["env_id"]

    @property
    def env_kwargs(self) -> dict:
        return self.meta["env_kwargs"]

    @property
    def seat_names(self) -> tuple[str, ...]:
        return tuple(self.meta["seats"])

    @property
    def num_steps(self) -> int:
        return int(self.meta["steps"])

    def joint_actions(self) -> np.ndarray:
        """(N, S) int32: every seat's action at each step."""
        return np.stack([self.seats[s].actions for s in self.seat_names], axis=1)

    def joint_rewards(self) -> np.ndarray:
        """(N, S) float32."""
        return np.stack([self.seats[s].rewards for s in self.seat_names], axis=1)


# ---------------------------------------------------------------- re-simulation

_OBSERVERS = CompileCache(maxsize=16)


def observer(env: Env):
    """jit(vmap(fn(ep_key, actions (max_steps, S)) -> (obs (max_steps + 1, S, *obs), rewards
    (max_steps, S), terminated (max_steps,), truncated (max_steps,)))), one per env; seats of
    each team are put back in seat order. Every team must share one observation shape."""

    def build():
        order = np.argsort([s for t in env.spec.teams for s in t.seats])

        def per_seat(obs):  # per team (n_team_seats, *obs) -> (S, *obs) in seat order
            return jnp.concatenate(obs, axis=0)[order]

        def simulate(ep_key, actions):
            _, ts0, _, ts = replay_actions(env, ep_key, actions)
            obs = jnp.concatenate([per_seat(ts0.obs)[None], jax.vmap(per_seat)(ts.obs)])
            return obs, ts.reward, ts.terminated, ts.truncated

        return jax.jit(jax.vmap(simulate))

    return _OBSERVERS.get(env.spec, build)[0]


def _check_shapes(env: Env, where) -> None:
    shapes = {(tuple(t.obs_shape), t.obs_dtype) for t in env.spec.teams}
    if len(shapes) != 1:
        raise DatasetError(where, f"{env.spec.id}'s teams observe different shapes; datasets hold envs whose "
                                  "seats share one observation shape")


def _side_records(traces_sides, manifests: Sequence[dict] | None) -> list[dict]:
    out = []
    for k, side in enumerate(traces_sides):
        rec = {"side": side.name, "seats": list(side.seats), "agent": side.agent, "arch": side.arch,
               "sha256": side.sha256, "human": bool(side.human)}
        if manifests is not None:
            rec["manifest"] = manifests[k]
        out.append(rec)
    return out


def build_arrays(env: Env, traces: Sequence[EpisodeTrace], where, chunk: int = 64) -> tuple[dict, dict]:
    """Re-simulate `traces` (all of `env`) into (per seat name -> array dict, episode arrays).
    Refuses, with the episode and step, one whose re-simulated rewards or end differ."""
    _check_shapes(env, where)
    S, T_max = env.spec.num_seats, env.spec.max_steps
    fn = observer(env)
    cols: dict[str, list] = {k: [] for k in SEAT_ARRAYS}
    size = min(chunk, len(traces))  # every call the same batch size: one compile per export
    for start in range(0, len(traces), chunk):
        batch = traces[start:start + chunk]
        actions = np.zeros((size, T_max, S), np.int32)
        for i, tr in enumerate(batch):
            if tr.length > T_max:
                raise DatasetError(where, f"episode {tr.episode} has {tr.length} steps, more than {env.spec.id}'s "
                                          f"max_steps {T_max}")
            actions[i, :tr.length] = tr.actions
        # The last batch is padded with its first episode; the padding's results are never read.
        padded = [*batch, *[batch[0]] * (size - len(batch))]
        ep_keys = jnp.stack([keys.seed_episode_key(tr.seed, tr.episode) for tr in padded])
        obs, rew, term, trunc = (np.asarray(x) for x in fn(ep_keys, actions))
        for i, tr in enumerate(batch):
            T = tr.length
            ended = term[i, :T] | trunc[i, :T]
            bad_r = np.flatnonzero((rew[i, :T] != np.asarray(tr.rewards, np.float32)).any(axis=1))
            bad_d = np.flatnonzero(ended != np.asarray(tr.dones, bool))
            if bad_r.size or bad_d.size:
                t = int(min([*bad_r[:1], *bad_d[:1]]))
                raise DatasetError(where, f"episode {tr.episode} re-simulates differently at step {t} "
                                          f"({'reward' if t in bad_r[:1] else 'episode end'}); check it with "
                                          "`arena replay verify`", exit_code=1)
            n = start + i
            cols["observations"].append(obs[i, :T])
            cols["next_observations"].append(obs[i, 1:T + 1])
            cols["actions"].append(tr.actions.astype(np.int32))
            cols["rewards"].append(rew[i, :T])
            cols["terminals"].append(np.broadcast_to(term[i, :T, None], (T, S)))
            cols["truncations"].append(np.broadcast_to(trunc[i, :T, None] & ~term[i, :T, None], (T, S)))
            cols["episode"].append(np.full((T, S), n, np.int32))
            cols["step"].append(np.broadcast_to(np.arange(T, dtype=np.int32)[:, None], (T, S)))
    seats = {}
    for s, name in enumerate(env.spec.seats):
        seats[name] = {k: np.ascontiguousarray(np.concatenate([c[:, s] for c in v])) for k, v in cols.items()}
    episodes = {
        "seed": np.asarray([tr.seed for tr in traces], np.int64),
        "episode": np.asarray([tr.episode for tr in traces], np.int32),
        "length": np.asarray([tr.length for tr in traces], np.int32),
    }
    return seats, episodes


# ---------------------------------------------------------------- writing


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def check_dataset_path(out: str | os.PathLike) -> None:
    """Refuse an output that cannot become a dataset folder, before any work is done for it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "exists and is not a folder; give a folder for the dataset")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise DatasetError(out, f"is a folder that holds other files (no {MANIFEST}); give a new or dataset folder")


def write_dataset(out: str | os.PathLike, traces: Sequence[EpisodeTrace], sources: Sequence[dict],
                  source_of: Sequence[int], manifests: Sequence[dict] | None = None) -> dict:
    """Write `traces` (one env, one line-up) as a dataset folder `out`; returns dataset.json.

    `sources` describe where episodes came from (e.g. {"kind": "replay", "file": ..., "sha256":
    ...}), `source_of[i]` is trace i's index into them; `manifests` are the full manifests of the
    agents of each side when the caller has them (a match does, a replay holds only names and
    hashes). The array files are written first and dataset.json last, each atomically, so a
    folder with a dataset.json is whole."""
    out = Path(out)
    check_dataset_path(out)
    if not traces:
        raise DatasetError(out, "no episodes to write")
    first = traces[0]
    for tr in traces:
        if (tr.env_id, thaw(tr.env_kwargs), tr.seats) != (first.env_id, thaw(first.env_kwargs), first.seats):
            raise DatasetError(out, f"episodes of different envs ({first.env_id} {thaw(first.env_kwargs)} and "
                                    f"{tr.env_id} {thaw(tr.env_kwargs)}) cannot share a dataset")
        if [(s.agent, s.sha256) for s in tr.sides] != [(s.agent, s.sha256) for s in first.sides]:
            raise DatasetError(out, "episodes played by different agents cannot share a dataset; export them apart")
    env = make(first.env_id, **thaw(first.env_kwargs))
    seats, episodes = build_arrays(env, traces, out)
    episodes["source"] = np.asarray(source_of, np.int32)
    files = {}
    for name, arrays in seats.items():
        data = _npz_bytes(arrays)
        files[name] = {"file": f"{name}.npz", "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write(out / f"{name}.npz", data)
    ep_data = _npz_bytes(episodes)
    atomic_write(out / EPISODES, ep_data)
    team = env.spec.teams[0]
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "env_id": first.env_id,
        "env_kwargs": thaw(first.env_kwargs),
        "seats": list(env.spec.seats),
        "obs_shape": list(team.obs_shape),
        "obs_dtype": team.obs_dtype,
        "num_actions": [next(t.num_actions for t in env.spec.teams if s in t.seats) for s in range(env.spec.num_seats)],
        "action_labels": [list(next(t.action_labels for t in env.spec.teams if s in t.seats))
                          for s in range(env.spec.num_seats)],
        "episodes": len(traces),
        "steps": int(episodes["length"].sum()),
        "sides": _side_records(first.sides, manifests),
        "sources": list(sources),
        "observations": "re-simulated from each episode's seed and recorded actions (arena.keys); rewards and "
                        "episode ends checked against the recorded ones",
        "files": {"episodes": {"file": EPISODES, "sha256": hashlib.sha256(ep_data).hexdigest()}, "seats": files},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "arena_version": installed_version("arena"),
        **library_versions(),
    }
    atomic_write(out / MANIFEST, json.dumps(meta, indent=1) + "\n")
    return meta


def export_replays(paths: Sequence[str | os.PathLike], out: str | os.PathLike) -> dict:
    """`arena dataset export`: every whole episode of the replays at `paths` into dataset `out`."""
    traces, sources, source_of = [], [], []
    for k, p in enumerate(paths):
        replay = open_replay(p)
        eps = list(replay.episodes)
        data = Path(p).read_bytes()
        sources.append({"kind": "replay", "file": Path(p).name, "sha256": hashlib.sha256(data).hexdigest(),
                        "seed": replay.header.get("seed"), "meta": replay.header.get("meta", {}),
                        "episodes": [tr.episode for tr in eps]})
        traces.extend(eps)
        source_of.extend([k] * len(eps))
    return write_dataset(out, traces, sources, source_of)


# ---------------------------------------------------------------- loading


def _npz(path: Path, where: Path, expect_sha: str) -> dict:
    if not path.is_file():
        raise DatasetError(where, f"missing {path.name}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expect_sha:
        raise DatasetError(where, f"{path.name}: sha256 mismatch (the file changed after the dataset was written)")
    if not data.startswith(b"PK\x03\x04"):  # np.load would take other bytes for a .npy or a pickle
        raise DatasetError(where, f"{path.name}: not a numpy .npz archive (no zip header)")
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise DatasetError(where, f"{path.name}: not a numpy .npz archive ({err})") from None
    odd = [m.filename for m in members if not m.filename.endswith(".npy")]
    if odd:
        raise DatasetError(where, f"{path.name}: not a numpy .npz archive (member {odd[0]!r} is no .npy array)")
    if sum(m.file_size for m in members) > MAX_UNPACKED:  # a small file must not unpack into a huge one
        raise DatasetError(where, f"{path.name}: unpacks to more than {MAX_UNPACKED:,} bytes")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise DatasetError(where, f"{path.name}: holds pickled objects; datasets are plain arrays") from None
        raise DatasetError(where, f"{path.name}: not a numpy .npz archive ({err})") from None
    except Exception as err:  # zipfile.BadZipFile, OSError, EOFError: all "not an npz"
        raise DatasetError(where, f"{path.name}: not a numpy .npz archive ({type(err).__name__})") from None


def _field(meta: dict, key: str, types, where: Path) -> Any:
    if key not in meta:
        raise DatasetError(where, f"{MANIFEST}: missing field {key!r}")
    value = meta[key]
    if not isinstance(value, types) or isinstance(value, bool):
        raise DatasetError(where, f"{MANIFEST}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _check_array(arrays: dict, name: str, dtype: str, shape: tuple, where: Path, file: str) -> np.ndarray:
    if name not in arrays:
        raise DatasetError(where, f"{file}: missing array {name!r}")
    a = arrays[name]
    if a.dtype != np.dtype(dtype):
        raise DatasetError(where, f"{file}: array {name!r} is {a.dtype}, expected {dtype}")
    if a.shape != shape:
        raise DatasetError(where, f"{file}: array {name!r} has shape {list(a.shape)}, expected {list(shape)}")
    return a


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Open and check a dataset folder; a DatasetError names the first problem."""
    where = Path(path)
    if not where.exists():
        raise DatasetError(where, "no such dataset")
    if not where.is_dir():
        raise DatasetError(where, f"not a dataset folder (a dataset is a folder with {MANIFEST})")
    mpath = where / MANIFEST
    if not mpath.is_file():
        raise DatasetError(where, f"missing {MANIFEST}: not an arena dataset")
    try:
        meta = json.loads(mpath.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(where, f"{MANIFEST} is not JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DatasetError(where, f"{MANIFEST} is not an arena dataset manifest (format must be {FORMAT!r})")
    version = _field(meta, "version", int, where)
    if version > VERSION:
        raise DatasetError(where, f"dataset version {version} is newer than this arena reads ({VERSION}); upgrade arena")
    _field(meta, "env_id", str, where)
    _field(meta, "env_kwargs", dict, where)
    seats = _field(meta, "seats", list, where)
    obs_shape = tuple(_field(meta, "obs_shape", list, where))
    obs_dtype = _field(meta, "obs_dtype", str, where)
    num_actions = _field(meta, "num_actions", list, where)
    n_ep = _field(meta, "episodes", int, where)
    n = _field(meta, "steps", int, where)
    files = _field(meta, "files", dict, where)
    if (not all(isinstance(s, str) and s and "/" not in s and s not in (".", "..") for s in seats)
            or len(set(seats)) != len(seats) or not seats):
        raise DatasetError(where, f"{MANIFEST}: seats must be distinct plain names")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in obs_shape) or len(obs_shape) > 8:
        raise DatasetError(where, f"{MANIFEST}: obs_shape must be a list of at most 8 non-negative ints")
    try:
        np.dtype(obs_dtype)
    except TypeError:
        raise DatasetError(where, f"{MANIFEST}: unknown obs_dtype {obs_dtype!r}") from None
    if np.dtype(obs_dtype).kind not in "biuf":
        raise DatasetError(where, f"{MANIFEST}: obs_dtype {obs_dtype!r} is not a number type")
    if len(num_actions) != len(seats) or not all(isinstance(a, int) and a > 0 for a in num_actions):
        raise DatasetError(where, f"{MANIFEST}: num_actions must give a positive int per seat")
    if n_ep < 0 or n < 0:
        raise DatasetError(where, f"{MANIFEST}: episodes and steps must be non-negative")
    try:
        ep_ref = files["episodes"]
        seat_refs = {s: files["seats"][s] for s in seats}
        ep_sha, seat_sha = ep_ref["sha256"], {s: r["sha256"] for s, r in seat_refs.items()}
    except (KeyError, TypeError):
        raise DatasetError(where, f"{MANIFEST}: files must name episodes.npz and one .npz per seat with sha256") from None
    ep_arrays = _npz(where / EPISODES, where, ep_sha)
    episodes = {k: _check_array(ep_arrays, k, dt, (n_ep,), where, EPISODES) for k, dt in EPISODE_ARRAYS.items()}
    if (episodes["length"] < 1).any() or int(episodes["length"].sum()) != n:
        raise DatasetError(where, f"{EPISODES}: episode lengths do not add up to {n} steps")
    sources = meta.get("sources", [])
    if n_ep and (episodes["source"].min() < 0 or episodes["source"].max() >= max(len(sources), 1)):
        raise DatasetError(where, f"{EPISODES}: source index out of range")
    out = {}
    for s, seat in enumerate(seats):
        file = f"{seat}.npz"
        arrays = _npz(where / file, where, seat_sha[seat])
        checked = {}
        for name, (dtype, trailing) in SEAT_ARRAYS.items():
            shape = (n, *obs_shape) if trailing == "obs" else (n,)
            checked[name] = _check_array(arrays, name, dtype or obs_dtype, shape, where, file)
        a = checked["actions"]
        if n and (a.min() < 0 or a.max() >= num_actions[s]):
            raise DatasetError(where, f"{file}: actions outside [0, {num_actions[s]})")
        if not np.isfinite(checked["rewards"]).all():
            raise DatasetError(where, f"{file}: rewards that are not finite numbers")
        if n and (checked["episode"].min() < 0 or checked["episode"].max() >= n_ep):
            raise DatasetError(where, f"{file}: episode index out of range")
        out[seat] = SeatData(**checked)
    return Dataset(path=where, meta=meta, episodes=episodes, seats=out)
