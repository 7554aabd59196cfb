"""The one bridge from a JaxMARL `MultiAgentEnv` (per-agent dicts) to arena's array interface.

Family modules (overcooked.py, mpe_tag.py) only say how seats group into teams, what the
actions are called and how their metrics are computed; the dict/array conversion, the step
limit and the spec derivation live here once.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from arena.env import Env, EnvSpec, MetricSpec, SideScore, TeamSpec, TimeStep, TruthSpec, UnknownEnv
from arena.trees import freeze_kwargs

# (jaxmarl_env, state before the step, actions (S,) int32, state after, reward (S,) float32)
#   -> metric name -> () float32
MetricsFn = Callable[[Any, Any, jax.Array, Any, jax.Array], dict]


@struct.dataclass
class RewardWeights:
    """Traced env params of every JaxMARL env: the weight of the env's reward and of its shaped
    reward, per seat, so agents of one population can be rewarded differently in one vmap.
    (1, 1) reproduces JaxMARL exactly."""

    reward: jax.Array  # (S,) float32
    shaped: jax.Array  # (S,) float32


@dataclasses.dataclass(frozen=True)
class TeamLayout:
    """Which JaxMARL agents form one arena team, and what their actions are called."""

    name: str
    agents: tuple[str, ...]  # JaxMARL agent names, in seat order
    action_labels: tuple[str, ...]


def build_jaxmarl_env(env_id: str, cls: Callable[..., Any], **kwargs) -> Any:
    """Construct a JaxMARL env, reporting bad option values as `UnknownEnv`.

    Unknown option names already fail with TypeError, which `make` reports; JaxMARL checks
    values with ValueError, assert or NotImplementedError, so those are translated here.
    """
    try:
        return cls(**kwargs)
    except (ValueError, AssertionError, NotImplementedError) as err:
        raise UnknownEnv(f"bad options for env {env_id!r}: {err}") from None


def option_text(default: Any) -> str:
    """A default as it would be given with --env-kw (JSON), or its repr when it has no JSON."""
    value = getattr(default, "value", default)  # an Enum member is written as its value
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def signature_options(*classes: Callable[..., Any], skip: Sequence[str] = ()) -> dict[str, str]:
    """{name: default} of the keyword options the classes' constructors take, first class first."""
    out: dict[str, str] = {}
    for cls in classes:
        for name, p in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]
            if name != "self" and name not in skip and p.kind is p.POSITIONAL_OR_KEYWORD and name not in out:
                out[name] = "(required)" if p.default is p.empty else option_text(p.default)
    return out


def strong_types(tree: Any) -> Any:
    """The same arrays without weak types.

    JaxMARL's states pick up weak-typed leaves along the way (MPE's `done` after a step), so a
    state from `step` would have other abstract types than one from `reset`, and a jitted
    step fed both would compile twice.
    """
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(x)), tree)


class JaxMARLEnv(Env):
    """A JaxMARL env seen through arena's interface.

    Seats are JaxMARL's `env.agents` in order. `step` calls JaxMARL's `step_env`, never `step`,
    because `step` computes a reset and selects it on done: arena's runner decides what
    happens after an episode ends. The step limit is applied here as `truncated` (the new
    state's step counter reached `max_steps`) instead of trusting each env's `done`, which
    differs between families (MPE raises it one step late).
    """

    def __init__(
        self,
        env_id: str,
        env: Any,
        teams: Sequence[TeamLayout],
        metrics: tuple[MetricSpec, ...],
        metrics_fn: MetricsFn,
        kwargs: dict,
        scores: tuple[SideScore, ...] = (),
        truth: TruthSpec | None = None,
    ):
        self.env = env  # configuration only: arena never mutates it
        self._metrics_fn = metrics_fn
        seats = tuple(env.agents)
        # Shapes and dtypes come from tracing reset, not from the env's declared spaces:
        # Overcooked v1 declares (width, height, 26) but returns (height, width, 26), and MPE
        # declares float obs spaces whatever the options.
        obs_struct, _ = jax.eval_shape(env.reset, jax.random.key(0))
        team_specs = tuple(self._team_spec(env_id, t, seats, obs_struct) for t in teams)
        covered = sorted(s for t in team_specs for s in t.seats)
        if covered != list(range(len(seats))):
            raise ValueError(f"{env_id}: teams must cover every seat once, got {covered}")
        self.spec = EnvSpec(
            id=env_id,
            seats=seats,
            teams=team_specs,
            max_steps=int(env.max_steps),
            metrics=metrics,
            kwargs=freeze_kwargs(kwargs),
            scores=scores,
            truth=truth,
        )

    def _team_spec(self, env_id, team: TeamLayout, seats, obs_struct) -> TeamSpec:
        shapes = {(obs_struct[a].shape, jnp.dtype(obs_struct[a].dtype)) for a in team.agents}
        if len(shapes) != 1:
            # A team is one observation group; seats that see differently cannot share it.
            raise UnknownEnv(f"bad options for env {env_id!r}: team {team.name!r} would mix "
                             f"observation shapes {sorted(map(str, shapes))}")
        (shape, dtype), = shapes
        num_actions = {int(self.env.action_space(a).n) for a in team.agents}
        if len(num_actions) != 1:
            raise ValueError(f"{env_id}: team {team.name!r} mixes action counts {num_actions}")
        n, = num_actions
        if len(team.action_labels) != n:
            raise ValueError(f"{env_id}: {len(team.action_labels)} action labels for {n} actions")
        return TeamSpec(
            name=team.name,
            seats=tuple(seats.index(a) for a in team.agents),
            obs_shape=tuple(shape),
            obs_dtype=dtype.name,
            num_actions=n,
            action_labels=team.action_labels,
        )

    def _obs(self, obs: dict) -> tuple:
        return tuple(
            jnp.stack([obs[self.spec.seats[s]] for s in team.seats]) for team in self.spec.teams
        )

    def observe(self, state: Any) -> tuple:
        return self._obs(self.env.get_obs(state))

    def _seat_array(self, values: dict) -> jax.Array:
        return jnp.stack([jnp.asarray(values[a], jnp.float32) for a in self.spec.seats])

    def truth(self, state: Any) -> jax.Array:
        if self.spec.truth is None:
            return super().truth(state)
        return jnp.asarray(getattr(state, self.spec.truth.leaf), jnp.int32)

    @property
    def default_params(self) -> RewardWeights:
        ones = jnp.ones((self.spec.num_seats,), jnp.float32)
        return RewardWeights(reward=ones, shaped=ones)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, TimeStep]:
        obs, state = self.env.reset(key)
        state = strong_types(state)
        zeros = jnp.zeros((self.spec.num_seats,), jnp.float32)
        return state, TimeStep(
            obs=self._obs(obs),
            reward=zeros,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            metrics=self.zero_metrics(),
            shaped_reward=zeros,
        )

    def step(self, key: jax.Array, state: Any, actions: jax.Array, params: Any = None) -> tuple[Any, TimeStep]:
        params = self.default_params if params is None else params
        actions = jnp.asarray(actions, jnp.int32)
        act = {a: actions[i] for i, a in enumerate(self.spec.seats)}
        obs, new_state, rewards, dones, info = self.env.step_env(key, state, act)
        raw = self._seat_array(rewards)
        shaped = info.get("shaped_reward")
        shaped = jnp.zeros_like(raw) if shaped is None else self._seat_array(shaped)
        # Metrics count events, so they read the unweighted reward.
        metrics = self._metrics_fn(self.env, state, actions, new_state, raw)
        truncated = jnp.asarray(new_state.step >= self.spec.max_steps, bool)
        return strong_types(new_state), TimeStep(
            obs=self._obs(obs),
            reward=params.reward * raw,
            # JaxMARL's own end of game, less the clock (which arena applies itself above:
            # MPE raises its clock `done` one step late). Overcooked and MPE end by the clock
            # only, so this is False there; a wrapped game that can end early ends here.
            terminated=jnp.asarray(dones["__all__"], bool) & ~truncated,
            truncated=truncated,
            metrics={k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()},
            shaped_reward=params.shaped * shaped,
        )
