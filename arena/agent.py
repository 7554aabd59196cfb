"""The agent protocol every agent obeys, and the registry of architectures.

An agent is a frozen, hashable description (architecture, config, observation shape, action
count) whose methods are pure functions of arrays:

    init_params(key) -> params
    init_carry(params, batch) -> carry                       # () if the agent has no memory
    act(params, carry, obs, key) -> (carry, action, extras)  # obs (B, *obs_shape), action (B,)

A privileged agent (`privileged = True` on its architecture, `privileged = true` in its
manifest, shown by `arena inspect`) also receives the world it plays in:

    act(params, carry, obs, key, world) -> (carry, action, extras)

where `world` is a `World`: the env (static, so its `step` and `observe` can be called inside
the agent's jitted step), the current env state and env params (traced), and the seats the
agent's rows play. A planner rolls the true simulator from that state. The runner's
`play_step` passes `world` to privileged agents only, so every other agent's call is the
four-argument one, unchanged. Privilege is declared, never hidden: a tournament spec with
`privileged = "forbid"` refuses such agents, and so does a server's upload (its ladders).
Meta-episodes and ensembles take unprivileged agents only.

In a meta-episode (`arena.meta`) two more things hold: a config field `persist_carry = true`
(in the manifest's architecture config) keeps the carry across inner episodes instead of
resetting it, and an agent with `wants_feedback` is told, after every step, its rows' rewards
and the joint action (`feedback(params, carry, Feedback) -> carry`). Agents that ask for
neither play a meta-episode exactly as they play independent episodes.

Params are arguments, never attributes, so every agent of one architecture and shape shares
one compiled function; the description itself is the static part of a jit cache key.
"""
from __future__ import annotations

import dataclasses
import importlib
import typing
from importlib.metadata import entry_points
from typing import Any, ClassVar

import jax
from flax import struct

from arena.errors import UserError, did_you_mean
from arena.trees import freeze

BUILTIN_ARCHS = "arena.agents.architectures"  # importing it registers the built-in architectures


@dataclasses.dataclass(frozen=True)
class ExtraSpec:
    """A named array an agent emits each step, per batch row: e.g. probs (A,), routing (E,)."""

    name: str
    shape: tuple[int, ...]
    labels: tuple[str, ...] = ()


@struct.dataclass
class Feedback:
    """What a step of a meta-episode tells an agent that asks (`Agent.wants_feedback`)."""

    reward: jax.Array  # (B,) float32, each row's reward this step (0 once its episode ended)
    joint_action: jax.Array  # (B, S) int32, the actions of every seat of the row's episode
    live: jax.Array  # (B,) bool, the row's episode was running at this step
    last_step: jax.Array  # () bool, the inner episode's last step: every row's episode is over


@struct.dataclass
class World:
    """What a privileged agent is shown besides its observation (see the module docstring)."""

    env: Any = struct.field(pytree_node=False)  # arena.env.Env: static, hashable
    state: Any  # the env state its observation was made from (this episode's, unbatched)
    params: Any  # the env's traced params
    seats: tuple[int, ...] = struct.field(pytree_node=False)  # the seat of each of the agent's rows


@dataclasses.dataclass(frozen=True)
class Agent:
    """Base of every architecture. Subclasses set `arch`, `Config` and the three functions."""

    config: Any
    obs_shape: tuple[int, ...]
    obs_dtype: str
    num_actions: int

    arch: ClassVar[str] = ""
    Config: ClassVar[type] = type(None)
    doc: ClassVar[str] = ""
    # Config keys this architecture once had and no longer reads. `build_agent` drops them,
    # so checkpoints that recorded them still load; the field itself can then go.
    retired_config: ClassVar[frozenset[str]] = frozenset()

    def extras(self) -> tuple[ExtraSpec, ...]:
        return ()

    def validate(self) -> None:
        """Raise ValueError when the config cannot work with these shapes."""

    def init_params(self, key: jax.Array) -> Any:
        return {}

    def init_carry(self, params: Any, batch: int) -> Any:
        return ()

    def act(self, params: Any, carry: Any, obs: jax.Array, key: jax.Array):
        raise NotImplementedError

    def as_data(self, params: Any) -> tuple[Agent, Any]:
        """(agent, params) that act exactly as (self, params), with the config values the
        step can read as data moved into the params: agents whose configs differ only in such
        values return one agent, so a tournament stacks them into one compiled call. Most
        architectures' configs fix shapes and return themselves unchanged."""
        return self, params

    # The agent reads the env state and may call the env (`act` takes a fifth argument, a
    # `World`); see the module docstring.
    privileged: ClassVar[bool] = False

    # Meta-episodes: see the module docstring.
    wants_feedback: ClassVar[bool] = False

    @property
    def persists_carry(self) -> bool:
        """The manifest asks for the carry to persist across a meta-episode's inner episodes."""
        return bool(getattr(self.config, "persist_carry", False))

    def feedback(self, params: Any, carry: Any, fb: Feedback) -> Any:
        return carry

    def params_template(self) -> Any:
        """Shapes and dtypes of the params, without computing them."""
        return jax.eval_shape(self.init_params, jax.random.PRNGKey(0))


class ArchError(UserError):
    """An architecture key or config that cannot be built."""


_ARCHS: dict[str, type[Agent]] = {}


def register_arch(cls: type[Agent]) -> type[Agent]:
    """Class decorator: make an architecture available under `cls.arch`. Refuses duplicates."""
    if not cls.arch:
        raise ValueError(f"{cls.__name__} has no `arch` key")
    if cls.arch in _ARCHS and _ARCHS[cls.arch] is not cls:
        raise ValueError(f"architecture {cls.arch!r} is already registered")
    _ARCHS[cls.arch] = cls
    return cls


def _load_builtins_and_plugins() -> None:
    importlib.import_module(BUILTIN_ARCHS)
    # Plugins: an installed package declares `[project.entry-points."arena.architectures"]`
    # whose target module registers its classes on import.
    for ep in entry_points(group="arena.architectures"):
        ep.load()


def registered_archs() -> dict[str, type[Agent]]:
    _load_builtins_and_plugins()
    return dict(sorted(_ARCHS.items()))


def config_fields(cls: type[Agent]) -> list[tuple[str, str, Any]]:
    """(name, type, default) of an architecture's config, for `arena archs` and validation."""
    return dataclass_fields(cls.Config)


def dataclass_fields(config: Any) -> list[tuple[str, str, Any]]:
    """(name, type name, default) of each field of the config dataclass `config`."""
    if not dataclasses.is_dataclass(config):
        return []
    hints = typing.get_type_hints(config)
    out = []
    for f in dataclasses.fields(config):
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append((f.name, getattr(hints.get(f.name), "__name__", str(hints.get(f.name))), default))
    return out


def build_agent(
    arch: str, config: dict, obs_shape, obs_dtype: str, num_actions: int
) -> Agent:
    """The one way to turn a manifest's architecture section into an agent."""
    archs = registered_archs()
    if arch not in archs:
        raise ArchError(f"unknown architecture {arch!r}; known: {', '.join(archs)}")
    cls = archs[arch]
    config = {k: v for k, v in config.items() if k not in cls.retired_config}
    known = {f.name for f in dataclasses.fields(cls.Config)} if dataclasses.is_dataclass(cls.Config) else set()
    unknown = sorted(set(config) - known)
    if unknown:
        raise ArchError(
            f"architecture {arch!r} has no config field(s) {', '.join(unknown)}{did_you_mean(unknown[0], known)}; "
            f"fields: {', '.join(sorted(known)) or 'none'}"
        )
    try:
        cfg = cls.Config(**{k: freeze(v) for k, v in config.items()})
        agent = cls(
            config=cfg,
            obs_shape=tuple(int(d) for d in obs_shape),
            obs_dtype=str(obs_dtype),
            num_actions=int(num_actions),
        )
        agent.validate()
    except (TypeError, ValueError) as err:
        raise ArchError(f"architecture {arch!r}: {err}") from None
    return agent
