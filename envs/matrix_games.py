"""Repeated two-player matrix games in pure JAX: `ipd` and `coord_game`.

Seats "row" (0) and "col" (1) each pick one of two actions per round, for `rounds` rounds;
the episode then ends by truncation (the horizon is a step limit, as in Overcooked).

Observation of a seat, (5,) float32, from its own perspective:
    [0:4] one-hot of the previous joint action (own, other) at index 2 * own + other,
          so for the IPD: 0 = (C, C), 1 = (C, D), 2 = (D, C), 3 = (D, D);
    [4]   1.0 in the first round, when there is no previous joint action ([0:4] all zero).

`ipd` (iterated prisoner's dilemma, Axelrod payoffs T=5, R=3, P=1, S=0): actions
0 = cooperate, 1 = defect; two teams of one seat, not cooperative; metric `cooperation`.
`coord_game` (the 2x2 coordination game of the offline-coordination seed): actions 0 = left,
1 = right, 1 to both on agreement and 0 otherwise; one team, cooperative; metric `agreement`.

Options: `rounds` (the horizon), `payoffs` (a 2x2x2 nested list, [a_row][a_col] = (row's,
col's)) and `stop_prob` (after each round the game ends with this probability: the
discounted repeated game, where the horizon is unknown to the players; the episode then ends
by `terminated`). Payoffs and `stop_prob` are traced env params (`MatrixGameParams`), so
agents of one population may play under different payoffs in one vmapped call.
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from arena.env import Env, EnvSpec, MetricSpec, TeamSpec, TimeStep, UnknownEnv, register
from arena.trees import freeze_kwargs

SEATS = ("row", "col")
OBS_SIZE = 5

# payoffs[a_row][a_col] = (reward of row, reward of col)
IPD_PAYOFFS = (((3.0, 3.0), (0.0, 5.0)), ((5.0, 0.0), (1.0, 1.0)))
COORD_PAYOFFS = (((1.0, 1.0), (0.0, 0.0)), ((0.0, 0.0), (1.0, 1.0)))


@struct.dataclass
class MatrixGameParams:
    """Traced params: what a round pays and how likely the game stops after it."""

    payoffs: jax.Array  # (2, 2, 2) float32: [a_row, a_col] -> (reward of row, reward of col)
    stop_prob: jax.Array  # () float32


@struct.dataclass
class MatrixGameState:
    step: jax.Array  # () int32: rounds played
    last_actions: jax.Array  # (2,) int32: previous joint action; meaningless while step == 0


def observe(state: MatrixGameState) -> jax.Array:
    """(2, 5) float32: each seat's view of the previous round, own action first."""
    own, other = state.last_actions, state.last_actions[::-1]
    first = state.step == 0
    history = jax.nn.one_hot(2 * own + other, 4) * ~first
    flag = jnp.broadcast_to(first, (2, 1)).astype(jnp.float32)
    return jnp.concatenate([history, flag], axis=-1)


class RepeatedMatrixGame(Env):
    """A 2x2 game played up to `spec.max_steps` rounds; `game` is static configuration."""

    def __init__(self, game: Game, spec: EnvSpec, params: MatrixGameParams):
        self.game = game
        self.spec = spec
        self._params = params

    @property
    def default_params(self) -> MatrixGameParams:
        return self._params

    def _timestep(self, state, reward, metrics, terminated=None) -> TimeStep:
        obs = observe(state)
        # One observation group per team, in the team's seat order.
        grouped = tuple(obs[jnp.asarray(t.seats)] for t in self.spec.teams)
        return TimeStep(
            obs=grouped,
            reward=reward,
            terminated=jnp.zeros((), bool) if terminated is None else terminated,
            truncated=state.step >= self.spec.max_steps,
            metrics=metrics,
            shaped_reward=jnp.zeros((2,), jnp.float32),
        )

    def reset(self, key: jax.Array, params: MatrixGameParams | None = None) -> tuple[MatrixGameState, TimeStep]:
        state = MatrixGameState(step=jnp.zeros((), jnp.int32), last_actions=jnp.zeros((2,), jnp.int32))
        return state, self._timestep(state, jnp.zeros((2,), jnp.float32), self.zero_metrics())

    def step(self, key, state: MatrixGameState, actions: jax.Array,
             params: MatrixGameParams | None = None) -> tuple[MatrixGameState, TimeStep]:
        params = self._params if params is None else params
        actions = jnp.asarray(actions, jnp.int32)
        reward = params.payoffs[actions[0], actions[1]]
        state = MatrixGameState(step=state.step + 1, last_actions=actions)
        metrics = {self.game.metric.name: self.game.metric_fn(actions).astype(jnp.float32)}
        stopped = jax.random.uniform(key) < params.stop_prob
        return state, self._timestep(state, reward, metrics, terminated=stopped)


@dataclasses.dataclass(frozen=True)
class Game:
    """What distinguishes one repeated matrix game from another."""

    id: str
    payoffs: tuple  # payoffs[a_row][a_col] = (reward of row, reward of col)
    action_labels: tuple[str, ...]
    teams: tuple[tuple[str, tuple[int, ...]], ...]  # (team name, seats)
    metric: MetricSpec
    metric_fn: Callable[[jax.Array], jax.Array]  # (2,) int32 actions -> () float32
    default_rounds: int


OPTIONS = ("rounds", "payoffs", "stop_prob")


def _params(game: Game, kwargs: dict) -> MatrixGameParams:
    payoffs = np.asarray(kwargs.get("payoffs", game.payoffs), dtype=object)
    if payoffs.shape != (2, 2, 2) or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) for v in payoffs.ravel()
    ):
        raise UnknownEnv(f"bad options for env {game.id!r}: payoffs must be a 2x2x2 nested list of numbers "
                         "([a_row][a_col] = [row's, col's])")
    stop = kwargs.get("stop_prob", 0.0)
    if isinstance(stop, bool) or not isinstance(stop, numbers.Real) or not 0.0 <= stop < 1.0:
        raise UnknownEnv(f"bad options for env {game.id!r}: stop_prob must be a number in [0, 1), got {stop!r}")
    return MatrixGameParams(payoffs=jnp.asarray(payoffs.astype(np.float32)), stop_prob=jnp.float32(stop))


def make_game(game: Game, **kwargs) -> RepeatedMatrixGame:
    unknown = sorted(set(kwargs) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unexpected options {unknown}; {game.id} takes {', '.join(OPTIONS)}")
    rounds = kwargs.get("rounds", game.default_rounds)
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 1:
        raise UnknownEnv(f"bad options for env {game.id!r}: rounds must be a positive int, got {rounds!r}")
    params = _params(game, kwargs)
    spec = EnvSpec(
        id=game.id,
        seats=SEATS,
        teams=tuple(
            TeamSpec(name, seats, (OBS_SIZE,), "float32", 2, game.action_labels)
            for name, seats in game.teams
        ),
        max_steps=int(rounds),
        metrics=(game.metric,),
        kwargs=freeze_kwargs(kwargs),
    )
    return RepeatedMatrixGame(game, spec, params)


IPD = Game(
    id="ipd",
    payoffs=IPD_PAYOFFS,
    action_labels=("cooperate", "defect"),
    teams=(("row", (0,)), ("col", (1,))),
    metric=MetricSpec("cooperation", reduce="mean"),  # fraction of seats cooperating
    metric_fn=lambda a: jnp.mean(a == 0),
    default_rounds=100,
)
COORD_GAME = Game(
    id="coord_game",
    payoffs=COORD_PAYOFFS,
    action_labels=("left", "right"),
    teams=(("pair", (0, 1)),),
    metric=MetricSpec("agreement", reduce="mean"),  # both seats chose the same side
    metric_fn=lambda a: a[0] == a[1],
    default_rounds=32,
)

for _game in (IPD, COORD_GAME):
    register(_game.id, functools.partial(make_game, _game))
