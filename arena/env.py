"""The one env interface arena runs on, and the registry of env ids.

Every env, whatever it wraps, is seen by the runner as arrays with the seat axis first:
observations grouped by team (seats of one team share one observation shape, so nothing is
padded), actions as one int32 per seat, rewards as one float32 per seat. `reset` and `step`
are pure functions of a key, a state and the env's params; episodes end by `terminated` (the
game is over) or `truncated` (the step limit), kept apart as in Gymnax.

Three kinds of settings, as in Gymnax: the state (changes every step), the params (a pytree
of traced values such as payoffs or reward weights, an argument of every step, so a
population of differently rewarded agents is one `vmap`), and the static spec (shapes, step
limit; hashable, it keys compiled functions). Built-in env families register lazily: the
registry imports `arena.envs.adapters` by name on first use, so core names no package above it.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from arena.errors import UserError, did_you_mean
from arena.trees import freeze_kwargs, kind_name, same_kind

BUILTIN_ENVS = "arena.envs.adapters"  # importing it registers every built-in env family
# The module that registers each built-in family (an id's family is what comes before "/"),
# imported when one of its ids is first made: `make("ipd")` never reads JaxMARL's overcooked
# layout tables. Ids of no family listed here load every built-in family.
BUILTIN_FAMILIES = {
    "overcooked": "arena.envs.overcooked", "overcooked_v2": "arena.envs.overcooked",
    "mpe_tag": "arena.envs.mpe_tag",
    "mpe_tag_intent": "arena.envs.mpe_tag_intent", "ipd": "arena.envs.matrix_games", "coord_game": "arena.envs.matrix_games",
}


@dataclasses.dataclass(frozen=True)
class TeamSpec:
    """Seats that share an objective and an observation shape."""

    name: str
    seats: tuple[int, ...]  # indices into EnvSpec.seats
    obs_shape: tuple[int, ...]
    obs_dtype: str
    num_actions: int
    action_labels: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A per-step env statistic; `reduce` says how a whole episode summarises it."""

    name: str
    reduce: str = "sum"  # "sum" (counts: soups, captures) or "mean" (rates)
    # A breakdown (per feature and seat) that metrics files and curves keep but one-line
    # summaries, such as a training progress line, leave out.
    detail: bool = False


@dataclasses.dataclass(frozen=True)
class SideScore:
    """How a team game scores one team's episode when agents of that role are compared with
    each other (predators with predators on the same prey). Returns of different teams are
    not on one scale (in mpe_tag every capture pays the predators and costs the prey), so
    ratings never compare them across teams."""

    team: str
    # "return" (the team's mean return) or the name of one of the env's episode metrics.
    metric: str = "return"
    higher_is_better: bool = True
    doc: str = ""  # why, in words, for reports

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TruthSpec:
    """A hidden per-episode class an env exposes so beliefs can be scored against it (the
    prey's secret corner in mpe_tag_intent): the int32 leaf `leaf` of the env state, valued
    0..len(labels)-1, which agents estimate in their extra named `extra` (shape (len(labels),),
    the same label order). `observed_by` names the teams whose observations hold it (the prey
    sees its own corner): a person playing any other team must infer it, so the viewer hides it
    from them."""

    leaf: str
    labels: tuple[str, ...]
    extra: str = "belief"
    observed_by: tuple[str, ...] = ()  # team names (TeamSpec.name)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static description of an env: hashable, so it can key compiled functions."""

    id: str
    seats: tuple[str, ...]
    teams: tuple[TeamSpec, ...]
    max_steps: int
    metrics: tuple[MetricSpec, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()  # env options as given, for replays and display
    # Team games: how each team's episode is scored within its role; a team not listed is
    # scored by its own mean return.
    scores: tuple[SideScore, ...] = ()
    truth: TruthSpec | None = None  # a hidden class beliefs are scored against, if any

    @property
    def cooperative(self) -> bool:
        """All seats share one objective: the env has a single team."""
        return len(self.teams) == 1

    @property
    def num_seats(self) -> int:
        return len(self.seats)

    @property
    def headline_metrics(self) -> tuple[str, ...]:
        """The names of the metrics that are not details (MetricSpec.detail), in order."""
        return tuple(m.name for m in self.metrics if not m.detail)

    def headline(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` (metric name -> anything) without the detail metrics', for one-line text;
        JSON output keeps them all."""
        details = {m.name for m in self.metrics if m.detail}
        return {k: v for k, v in values.items() if k not in details}

    @property
    def sides(self) -> tuple[Side, ...]:
        """The units one agent is assigned to in a match.

        A single-team (cooperative) env gives each seat its own side, so `match A B` puts A in
        seat 0 and B in seat 1; an env of several teams gives one side per team, and every
        seat of it runs that side's agent.
        """
        if len(self.teams) == 1:
            team = self.teams[0]
            return tuple(
                Side(name=self.seats[s], team=0, members=(i,), seats=(s,))
                for i, s in enumerate(team.seats)
            )
        return tuple(
            Side(name=t.name, team=k, members=tuple(range(len(t.seats))), seats=t.seats)
            for k, t in enumerate(self.teams)
        )

    def team_of(self, side: Side) -> TeamSpec:
        return self.teams[side.team]

    def observes_truth(self, seat: int) -> bool:
        """Whether the seat's observations hold the env's hidden truth (False with no truth)."""
        if self.truth is None:
            return False
        return any(seat in t.seats for t in self.teams if t.name in self.truth.observed_by)


@dataclasses.dataclass(frozen=True)
class Side:
    """One agent's share of the seats: `members` index into its team's observation group."""

    name: str
    team: int
    members: tuple[int, ...]
    seats: tuple[int, ...]


@struct.dataclass
class TimeStep:
    obs: tuple  # per team: (n_team_seats, *obs_shape)
    reward: jax.Array  # (S,) float32
    terminated: jax.Array  # () bool: the game itself ended
    truncated: jax.Array  # () bool: the step limit was reached
    metrics: dict  # name -> () float32, this step's contribution
    shaped_reward: jax.Array  # (S,) float32; zeros where the env offers no shaping

    @property
    def done(self) -> jax.Array:
        return self.terminated | self.truncated


class Env:
    """Base class of every adapter. Subclasses set `spec`, write `reset` and `step`, and may
    override `default_params` (an env without traced params has the empty pytree `()`).

    No computation lives in attributes of self: state and params flow through the arguments.
    Envs compare and hash by type and spec, so two envs built alike share compiled functions.
    """

    spec: EnvSpec

    @property
    def default_params(self) -> Any:
        """The traced params this env was built with (from its options)."""
        return ()

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, TimeStep]:
        raise NotImplementedError

    def step(self, key: jax.Array, state: Any, actions: jax.Array, params: Any = None) -> tuple[Any, TimeStep]:
        """actions: (S,) int32, one per seat in `spec.seats` order; params None = defaults."""
        raise NotImplementedError

    def observe(self, state: Any) -> tuple:
        """Every team's observation of `state` (as `TimeStep.obs`): how a planner sees a state
        it has changed, e.g. one with a hidden class drawn from its belief."""
        raise NotImplementedError(f"env {self.spec.id!r} cannot observe an arbitrary state")

    def truth(self, state: Any) -> jax.Array:
        """() int32: the episode's hidden class (`spec.truth`) read from a state."""
        raise NotImplementedError(f"env {self.spec.id!r} exposes no truth")

    def zero_metrics(self) -> dict:
        return {m.name: jnp.zeros((), jnp.float32) for m in self.spec.metrics}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.spec))


class UnknownEnv(UserError):
    """An env id that is not registered, or options it cannot be built with: a user error,
    so the CLI prints it as one line wherever it surfaces."""


_REGISTRY: dict[str, Callable[..., Env]] = {}
# env id -> a function listing its options: {name: its default as the user would write it}.
_OPTIONS: dict[str, Callable[[], dict[str, str]]] = {}


def register(env_id: str, factory: Callable[..., Env], options: Callable[[], dict[str, str]] | None = None) -> None:
    """Register one env id (a layout is an id of its own). Refuses duplicates, as Gymnax does.
    `options()` lists the keyword options the factory takes with their defaults (shown as
    text); `make` then refuses any other name before building."""
    if env_id in _REGISTRY:
        raise ValueError(f"env id {env_id!r} is already registered")
    _REGISTRY[env_id] = factory
    if options is not None:
        _OPTIONS[env_id] = options


def _default_value(text: str | None) -> Any:
    """An option's default as a value (None when it is not JSON, e.g. "(per entity)")."""
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def env_options(env_id: str) -> dict[str, str]:
    """The options `make(env_id, **options)` takes, with their defaults ({} if undeclared)."""
    if env_id not in _REGISTRY:
        _load_family(env_id)
    if env_id not in _REGISTRY:
        raise UnknownEnv(f"unknown env id {env_id!r}{did_you_mean(env_id, _REGISTRY)}; `arena envs` lists the known ids")
    return _OPTIONS[env_id]() if env_id in _OPTIONS else {}


def _load_builtins() -> None:
    importlib.import_module(BUILTIN_ENVS)


def registered_ids() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


_CACHE: dict[tuple, Env] = {}


def _load_family(env_id: str) -> None:
    family = BUILTIN_FAMILIES.get(env_id.split("/")[0])
    if family is not None:
        importlib.import_module(family)
    if env_id not in _REGISTRY:
        _load_builtins()


def make(env_id: str, **kwargs) -> Env:
    """Build an env by id; the same id and kwargs give the same (cached) instance."""
    options = env_options(env_id)
    unknown = sorted(set(kwargs) - set(options)) if options else []
    if unknown:
        raise UnknownEnv(f"bad options for env {env_id!r}: no option {', '.join(unknown)}"
                         f"{did_you_mean(unknown[0], options)}; `arena envs {env_id}` lists its options")
    for name, value in kwargs.items():
        like = _default_value(options.get(name))
        if not same_kind(value, like):
            raise UnknownEnv(f"bad options for env {env_id!r}: {name} must be {kind_name(like)} "
                             f"(default {options[name]}), not {value!r}")
    # Frozen: list-valued options (e.g. OvercookedV2's op_ingredient_permutations) are valid.
    cache_key = (env_id, freeze_kwargs(kwargs))
    if cache_key not in _CACHE:
        try:
            _CACHE[cache_key] = _REGISTRY[env_id](**kwargs)
        except TypeError as err:
            raise UnknownEnv(f"bad options for env {env_id!r}: {err}") from None
    return _CACHE[cache_key]
