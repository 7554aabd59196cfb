"""Checkpoint io: single-file `.ckpt`, folder checkpoints, and `zoo:NAME` references.

A `.ckpt` is one msgpack map {format, version, manifest, params} where `params` is the flax
msgpack encoding of the param tree. A folder holds `manifest.toml` and a params file, flax
msgpack or safetensors as JaxMARL's baselines save them (keys flattened with ","). Both are
data only: msgpack and safetensors decode to arrays and nothing in a checkpoint is executed.
Every way of failing gives a CheckpointError naming the file and what to do.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import tomllib
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from arena.agent import Agent, build_agent
from arena.env import make
from arena.errors import CheckpointError, UserError
from arena.fileio import atomic_write
from arena.manifest import Manifest, ManifestError, ParamsRef, parse_manifest
from arena.trees import thaw
from arena.versions import library_versions

ZOO_PACKAGE = "arena.agents.zoo"  # `zoo:NAME` resolves there, imported by name on first use

CKPT_FORMAT = "arena.ckpt"
CKPT_VERSION = 1
MAX_CKPT_BYTES = 1 << 30  # refuse anything over 1 GiB before reading it


@dataclasses.dataclass(frozen=True)
class LoadedAgent:
    """A checkpoint made runnable: manifest, the agent (static) and its params (arrays)."""

    source: str
    manifest: Manifest
    agent: Agent
    params: Any

    @property
    def name(self) -> str:
        return self.manifest.name


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- params encoding


def params_to_bytes(params: Any) -> bytes:
    from flax import serialization

    return serialization.msgpack_serialize(_to_numpy(params))


def _to_numpy(tree: Any) -> Any:
    import jax

    return jax.tree.map(np.asarray, tree)


def _params_from_msgpack(data: bytes) -> Any:
    from flax import serialization

    return serialization.msgpack_restore(data)


def params_from_safetensors(data: bytes, index: int | None = None) -> dict[str, Any]:
    """Params saved as JaxMARL's baselines save them (`flatten_dict(sep=",")` + safetensors).

    The one reader of safetensors params: folder checkpoints and `load_jaxmarl_safetensors`
    both come here. Keys are tree paths joined with "," ("params,Dense_0,kernel"); they are
    split back into nested dicts of numpy arrays. JaxMARL saves `train_state.params`, which is
    `network.init(...)` and so starts with "params"; a file saved from the inner dict (keys
    "Dense_0,kernel") is wrapped to the same shape. `index` picks one seed out of params saved
    from a `vmap`-over-seeds run (leading axis).
    """
    from safetensors.numpy import load

    tree: dict[str, Any] = {}
    for key, value in load(data).items():
        node = tree
        *parents, leaf = key.split(",")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value if index is None else value[index]
    return tree if "params" in tree else {"params": tree}


def load_jaxmarl_safetensors(path: str | os.PathLike, index: int | None = None) -> dict[str, Any]:
    """The params in a file written by `jaxmarl.wrappers.baselines.save_params` (see
    `params_from_safetensors`); with a manifest beside it, `load_agent(folder)` loads it."""
    return params_from_safetensors(_read_bytes(Path(path)), index)


_DECODERS = {"flax-msgpack": _params_from_msgpack, "safetensors": params_from_safetensors}


# ---------------------------------------------------------------- reading


def looks_like_pickle(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise CheckpointError(path, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(path, "file is empty; re-save the checkpoint")
    if size > MAX_CKPT_BYTES:
        raise CheckpointError(path, f"file is {size} bytes, over the {MAX_CKPT_BYTES} byte limit")
    return path.read_bytes()


def _unpack_ckpt(path: Path, data: bytes) -> dict:
    if looks_like_pickle(data):
        raise CheckpointError(
            path, "is a pickle file; arena never loads pickle (it can run code). Save params with "
            "flax.serialization or safetensors and describe them with a manifest"
        )
    if not (data[0] in (0xDE, 0xDF) or 0x80 <= data[0] <= 0x8F):  # a checkpoint is a msgpack map
        raise CheckpointError(path, "is not an arena checkpoint (not msgpack)")
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as err:  # msgpack raises several types on bad bytes
        if "incomplete" in str(err).lower() or isinstance(err, msgpack.exceptions.OutOfData):
            raise CheckpointError(path, "checkpoint is truncated (the file ends mid-record); copy it again") from None
        raise CheckpointError(path, "is not an arena checkpoint (corrupt msgpack)") from None
    if not isinstance(obj, dict) or obj.get("format") != CKPT_FORMAT:
        raise CheckpointError(path, f"is msgpack but not an arena checkpoint (no format tag {CKPT_FORMAT!r})")
    version = obj.get("version")
    if not isinstance(version, int) or version > CKPT_VERSION:
        raise CheckpointError(path, f"checkpoint version {version!r} is not one this arena reads (<= {CKPT_VERSION}); upgrade arena")
    for field, kind in (("manifest", dict), ("params", bytes)):
        if not isinstance(obj.get(field), kind):
            raise CheckpointError(path, f"checkpoint has no valid '{field}' entry")
    return obj


def _resolve(ref: str | os.PathLike) -> Path:
    ref = str(ref)
    if ref.startswith("zoo:"):
        return importlib.import_module(ZOO_PACKAGE).zoo_path(ref[4:])
    return Path(ref)


def read_checkpoint(ref: str | os.PathLike) -> tuple[Manifest, Any, Path]:
    """Read and verify a checkpoint without building the agent: (manifest, raw params, path)."""
    path = _resolve(ref)
    if path.is_dir():
        mpath = path / "manifest.toml"
        if not mpath.exists():
            raise CheckpointError(path, "folder has no manifest.toml; see the manifest format in the README")
        try:
            manifest = parse_manifest(tomllib.loads(_read_bytes(mpath).decode("utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(mpath, f"manifest.toml is not valid TOML: {err}") from None
        except ManifestError as err:
            raise CheckpointError(mpath, str(err)) from None
        if not manifest.params.file:
            raise CheckpointError(mpath, "manifest field 'params.file' is required in a folder checkpoint")
        ppath = path / manifest.params.file
        if ppath.resolve().parent != path.resolve():
            raise CheckpointError(mpath, "params.file must name a file inside the checkpoint folder")
        pdata = _read_bytes(ppath)
        if looks_like_pickle(pdata):
            raise CheckpointError(ppath, "is a pickle file; arena never loads pickle. Use safetensors or flax msgpack")
    else:
        obj = _unpack_ckpt(path, _read_bytes(path))
        try:
            manifest = parse_manifest(obj["manifest"])
        except ManifestError as err:
            raise CheckpointError(path, str(err)) from None
        pdata = obj["params"]
        ppath = path
    actual = sha256_hex(pdata)
    if actual != manifest.params.sha256:
        raise CheckpointError(
            ppath, f"params sha256 mismatch: manifest says {manifest.params.sha256[:12]}..., file has {actual[:12]}...; "
            "the params were changed or corrupted"
        )
    try:
        params = _DECODERS[manifest.params.format](pdata)
    except Exception as err:  # decoders raise many types on corrupt data
        raise CheckpointError(ppath, f"params are not valid {manifest.params.format}: {str(err)[:80]}") from None
    return manifest, params, path


def _check_tree(path: Path, params: Any, template: Any) -> Any:
    """Compare loaded params with the architecture's template; return them as jnp-ready numpy."""
    import jax

    flat_t, tdef = jax.tree_util.tree_flatten_with_path(template)
    try:
        flat_p = dict(jax.tree_util.tree_flatten_with_path(params)[0])
    except Exception:
        raise CheckpointError(path, "params are not a tree of arrays") from None
    got = {jax.tree_util.keystr(k): v for k, v in flat_p.items()}
    want = {jax.tree_util.keystr(k): v for k, v in flat_t}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(
            path, f"params tree does not match the architecture ({len(missing)} missing, {len(extra)} unexpected; "
            f"{detail}); check arch and arch_config in the manifest"
        )
    leaves = []
    for k, spec in flat_t:
        name = jax.tree_util.keystr(k)
        value = np.asarray(got[name])
        if value.shape != spec.shape:
            raise CheckpointError(
                path, f"param {name} has shape {value.shape}, the architecture expects {spec.shape}; "
                "check arch_config and observation shape in the manifest"
            )
        if not np.issubdtype(value.dtype, np.number) and value.dtype != np.bool_:
            raise CheckpointError(path, f"param {name} has non-numeric dtype {value.dtype}")
        leaves.append(value.astype(spec.dtype, copy=False))
    return jax.tree_util.tree_unflatten(tdef, leaves)


def load_agent(ref: str | os.PathLike) -> LoadedAgent:
    """Load a checkpoint (file, folder or zoo:NAME) into a runnable agent, checking everything."""
    manifest, raw_params, path = read_checkpoint(ref)
    try:
        agent = build_agent(
            manifest.arch, manifest.arch_config, manifest.obs_shape, manifest.obs_dtype, manifest.num_actions
        )
    except UserError as err:  # an unknown arch or a bad config: say which file asked for it
        raise CheckpointError(path, str(err)) from None
    if agent.privileged != manifest.privileged:
        raise CheckpointError(path, f"architecture {manifest.arch!r} is {'' if agent.privileged else 'not '}privileged "
                              "(it reads the env state), so the manifest must say "
                              f"`privileged = {str(agent.privileged).lower()}`")
    params = _check_tree(path, raw_params, agent.params_template())
    return LoadedAgent(source=str(ref), manifest=manifest, agent=agent, params=params)


# ---------------------------------------------------------------- writing


def manifest_for(agent, *, name: str, env: str, params_bytes: bytes, **fields) -> Manifest:
    """A manifest describing `agent`, with extras and labels taken from the agent itself."""
    extras = {e.name: {"shape": list(e.shape), "labels": list(e.labels)} for e in agent.extras()}
    config = {
        f.name: getattr(agent.config, f.name) for f in dataclasses.fields(agent.config)
    } if dataclasses.is_dataclass(agent.config) else {}
    return Manifest(
        name=name,
        arch=agent.arch,
        env=env,
        obs_shape=tuple(agent.obs_shape),
        obs_dtype=agent.obs_dtype,
        num_actions=agent.num_actions,
        params=ParamsRef(sha256=sha256_hex(params_bytes)),
        arch_config=thaw(config),
        extras=extras,
        privileged=agent.privileged,
        **fields,
    )


def encode_checkpoint(manifest: Manifest, params_bytes: bytes) -> bytes:
    m = manifest.to_dict()
    m["params"].pop("file", None)
    m["params"]["format"] = "flax-msgpack"
    return msgpack.packb(
        {"format": CKPT_FORMAT, "version": CKPT_VERSION, "manifest": m, "params": params_bytes},
        use_bin_type=True,
    )


def save_checkpoint(path: str | os.PathLike, manifest: Manifest, params: Any) -> Manifest:
    """Write a single-file `.ckpt` atomically; returns the manifest with the params hash set."""
    data = params_to_bytes(params)
    manifest = manifest.replace(params=dataclasses.replace(manifest.params, sha256=sha256_hex(data), format="flax-msgpack", file=""))
    atomic_write(path, encode_checkpoint(manifest, data))
    return manifest


def pack_folder(folder: str | os.PathLike, out: str | os.PathLike) -> Manifest:
    """`arena pack`: a folder checkpoint (any params format) to one `.ckpt`, verified first."""
    loaded = load_agent(folder)
    return save_checkpoint(out, loaded.manifest, loaded.params)


def new_agent(arch: str, env_id: str, *, seed: int = 0, side: str | None = None, config: dict | None = None,
              name: str = "", env_kwargs: dict | None = None) -> tuple[Manifest, Any]:
    """A randomly initialised agent for one side of an env: (manifest, params)."""
    import jax

    env = make(env_id, **(env_kwargs or {}))
    sides = {s.name: s for s in env.spec.sides}
    teams = {t.name: t for t in env.spec.teams}
    if side is None:
        team = env.spec.team_of(env.spec.sides[0])
    elif side in teams:
        team = teams[side]
    elif side in sides:
        team = env.spec.team_of(sides[side])
    else:
        raise UserError(f"{env_id} has no side {side!r}; sides: {', '.join(sides)}")
    agent = build_agent(arch, config or {}, team.obs_shape, team.obs_dtype, team.num_actions)
    params = agent.init_params(jax.random.PRNGKey(seed))
    data = params_to_bytes(params)
    manifest = manifest_for(
        agent, name=name or f"{arch}-s{seed}", env=env_id, params_bytes=data,
        env_kwargs=dict(env_kwargs or {}),
        provenance={"algorithm": "random-init", "seed": seed, "steps": 0, **library_versions()},
    )
    return manifest, params
