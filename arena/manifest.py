"""The agent manifest: everything needed to load and run an agent without its training code.

A manifest is plain data (a TOML table in a folder checkpoint, a msgpack map inside a `.ckpt`).
`parse_manifest` validates a dict field by field and says exactly which field is wrong.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from arena.errors import UserError
from arena.trees import plain

FORMAT = "arena.agent"
VERSION = 1
PARAM_FORMATS = ("flax-msgpack", "safetensors")


@dataclasses.dataclass(frozen=True)
class ParamsRef:
    """Where the params live and their sha256 (hex) over the raw file bytes."""

    sha256: str
    format: str = "flax-msgpack"  # "flax-msgpack" or "safetensors" (JaxMARL's save_params)
    file: str = ""  # folder form only: the params file beside manifest.toml


@dataclasses.dataclass(frozen=True)
class Manifest:
    name: str
    arch: str  # architecture registry key, see `arena archs`
    env: str  # env id the agent was made for, see `arena envs`
    obs_shape: tuple[int, ...]
    obs_dtype: str
    num_actions: int
    params: ParamsRef
    arch_config: dict = dataclasses.field(default_factory=dict)
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    plays: tuple[str, ...] = ()  # sides it may take (seat or team names); empty = any that fits
    preprocess: str = ""  # how the agent turns the env's observation into its input, in words
    extras: dict = dataclasses.field(default_factory=dict)  # name -> {"shape": [...], "labels": [...]}
    provenance: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    # The agent also receives the env state and step function (`arena.agent.World`); must match
    # its architecture's `privileged`. Tournaments and servers may refuse it.
    privileged: bool = False

    def to_dict(self) -> dict:
        """The manifest as plain data, in the layout `parse_manifest` reads."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "description": self.description,
            "arch": self.arch,
            "env": self.env,
            "plays": list(self.plays),
            "num_actions": self.num_actions,
            "observation": {
                "shape": list(self.obs_shape),
                "dtype": self.obs_dtype,
                "preprocess": self.preprocess,
            },
            "arch_config": plain(self.arch_config),
            "env_kwargs": plain(self.env_kwargs),
            "extras": plain(self.extras),
            "provenance": plain(self.provenance),
            "params": {k: v for k, v in dataclasses.asdict(self.params).items() if v != ""},
        }
        if self.privileged:  # written only when true: the content ids of every other agent stay as they were
            out["privileged"] = True
        return out

    def replace(self, **changes) -> Manifest:
        return dataclasses.replace(self, **changes)


class ManifestError(UserError):
    """A manifest field that is missing or wrong; loaders prefix the file's path."""


def _get(d: dict, key: str, types, where: str = "", required: bool = True, default=None):
    label = f"{where}{key}"
    if key not in d:
        if required:
            raise ManifestError(f"manifest is missing required field '{label}'")
        return default
    value = d[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ManifestError(f"manifest field '{label}' must be {_type_name(types)}, not a boolean")
    if not isinstance(value, types):
        raise ManifestError(
            f"manifest field '{label}' must be {_type_name(types)}, got {type(value).__name__} {value!r:.40}"
        )
    return value


def _type_name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {str: "a string", int: "an integer", dict: "a table", list: "a list", float: "a number", bool: "true or false"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _int_list(value, label: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ManifestError(f"manifest field '{label}' must be a list of positive integers, got {value!r:.40}")
    return tuple(value)


def parse_manifest(d: Any) -> Manifest:
    """Validate a manifest dict; raise ManifestError naming the first wrong field."""
    if not isinstance(d, dict):
        raise ManifestError(f"manifest must be a table, got {type(d).__name__}")
    fmt = d.get("format", FORMAT)
    if fmt != FORMAT:
        raise ManifestError(f"manifest format is {fmt!r}, expected {FORMAT!r}")
    version = _get(d, "version", int, required=False, default=VERSION)
    if version > VERSION:
        raise ManifestError(f"manifest version {version} is newer than this arena reads ({VERSION}); upgrade arena")
    obs = _get(d, "observation", dict)
    params = _get(d, "params", dict)
    num_actions = _get(d, "num_actions", int)
    if num_actions < 1:
        raise ManifestError("manifest field 'num_actions' must be at least 1")
    sha = _get(params, "sha256", str, "params.")
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower()):
        raise ManifestError("manifest field 'params.sha256' must be 64 hex digits")
    pformat = _get(params, "format", str, "params.", required=False, default="flax-msgpack")
    if pformat not in PARAM_FORMATS:
        raise ManifestError(f"manifest field 'params.format' must be one of {', '.join(PARAM_FORMATS)}, got {pformat!r}")
    extras = _get(d, "extras", dict, required=False, default={})
    for name, spec in extras.items():
        if not isinstance(spec, dict):
            raise ManifestError(f"manifest field 'extras.{name}' must be a table with shape and labels")
        _int_list(spec.get("shape", []) or [1], f"extras.{name}.shape")
        labels = spec.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ManifestError(f"manifest field 'extras.{name}.labels' must be a list of strings")
    privileged = _get(d, "privileged", bool, required=False, default=False)
    plays = _get(d, "plays", list, required=False, default=[])
    if not all(isinstance(p, str) for p in plays):
        raise ManifestError("manifest field 'plays' must be a list of side names")
    return Manifest(
        name=_get(d, "name", str),
        description=_get(d, "description", str, required=False, default=""),
        arch=_get(d, "arch", str),
        env=_get(d, "env", str),
        obs_shape=_int_list(_get(obs, "shape", list, "observation."), "observation.shape"),
        obs_dtype=_get(obs, "dtype", str, "observation."),
        preprocess=_get(obs, "preprocess", str, "observation.", required=False, default=""),
        num_actions=num_actions,
        params=ParamsRef(
            sha256=sha.lower(),
            format=pformat,
            file=_get(params, "file", str, "params.", required=False, default=""),
        ),
        arch_config=_get(d, "arch_config", dict, required=False, default={}),
        env_kwargs=_get(d, "env_kwargs", dict, required=False, default={}),
        plays=tuple(plays),
        extras=extras,
        provenance=_get(d, "provenance", dict, required=False, default={}),
        privileged=privileged,
    )
