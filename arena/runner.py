"""The match runner: one compiled `lax.scan` over steps of `vmap` over episodes.

`play_step` is the single step of one episode (every side acts, the env steps); the runner
scans it, the recorder keeps its outputs, a live viewer listens to it through a host callback,
and human play calls it tick by tick. There is no second code path.

Compiled functions are cached by (env, agents, episodes, record, observer): agents are frozen
descriptions (architecture, config, shapes), params are arguments, so a match between other
agents of the same architectures and shapes reuses the compiled call. The env's traced params
(payoffs, reward weights) are an argument too: `env_params=None` plays the env's defaults.
Episode keys follow `arena.keys`.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import io_callback

from arena import keys
from arena.agent import World, build_agent
from arena.cache import CompileCache
from arena.env import Env, Side


@struct.dataclass
class EpisodeCarry:
    """What one episode carries from step to step."""

    env_state: Any
    obs: tuple  # per team (n_team_seats, *obs_shape)
    agent_carry: tuple  # per side
    returns: jax.Array  # (S,) float32, rewards summed while the episode is running
    metrics: dict  # name -> () float32, summed while running
    length: jax.Array  # () int32, steps played before the episode ended
    alive: jax.Array  # () bool
    # (n_sides,) int32: steps at which a side's agent chose an action out of range or emitted
    # a non-finite number; how a server tells a broken agent from a broken env or worker.
    faults: jax.Array


@struct.dataclass
class StepRecord:
    """One step of one episode, as recorded and as shown live."""

    actions: jax.Array  # (S,) int32
    rewards: jax.Array  # (S,) float32
    done: jax.Array  # () bool, the episode ended at this step
    extras: tuple  # per side: name -> (n_side_seats, *shape)
    env_state: Any  # env state after the step


def _side_obs(obs: tuple, side: Side) -> jax.Array:
    return obs[side.team][jnp.array(side.members)]


def episode_start(env: Env, agents: Sequence, params: Sequence, key: jax.Array, env_params: Any = None) -> EpisodeCarry:
    """Reset one episode and every side's recurrent state."""
    state, ts = env.reset(key, env_params)
    sides = env.spec.sides
    return EpisodeCarry(
        env_state=state,
        obs=ts.obs,
        agent_carry=tuple(a.init_carry(p, len(s.seats)) for a, p, s in zip(agents, params, sides)),
        returns=jnp.zeros((env.spec.num_seats,), jnp.float32),
        metrics=env.zero_metrics(),
        length=jnp.zeros((), jnp.int32),
        alive=jnp.ones((), jnp.bool_),
        faults=jnp.zeros((len(sides),), jnp.int32),
    )


def _faulty(agent, action: jax.Array, extras: dict) -> jax.Array:
    """() bool: this step's action is out of range or an emitted float is not finite."""
    bad = jnp.any((action < 0) | (action >= agent.num_actions))
    for leaf in jax.tree.leaves(extras):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            bad = bad | ~jnp.all(jnp.isfinite(leaf))
    return bad


def play_step(
    env: Env,
    agents: Sequence,
    params: Sequence,
    carry: EpisodeCarry,
    key: jax.Array,
    override: tuple[jax.Array, jax.Array] | None = None,
    env_params: Any = None,
) -> tuple[EpisodeCarry, StepRecord]:
    """One step of one episode: each side acts on its seats' observations, then the env steps.

    `key` is the step's key (`arena.keys.step_key`). `override` = (mask (S,) bool, actions
    (S,) int32) replaces the agents' choice on masked seats: that is how a human's key press
    enters the same step function. A privileged agent (`Agent.privileged`) also gets the
    `World` it acts in: the env, the state its observation came from, the env params, its seats.
    """
    sides = env.spec.sides
    key_env, side_keys = keys.split_step_key(key, len(sides))
    actions = jnp.zeros((env.spec.num_seats,), jnp.int32)
    new_carry, extras, faults = [], [], []
    world_params = env.default_params if env_params is None else env_params
    for agent, p, c, side, k in zip(agents, params, carry.agent_carry, sides, side_keys):
        args: tuple = (p, c, _side_obs(carry.obs, side), k)
        if agent.privileged:  # declared in its manifest; every other agent's call is unchanged
            args += (World(env, carry.env_state, world_params, side.seats),)
        c, a, ex = agent.act(*args)
        actions = actions.at[jnp.array(side.seats)].set(a.astype(jnp.int32))
        new_carry.append(c)
        extras.append(ex)
        faults.append(_faulty(agent, a, ex))
    if override is not None:
        mask, human = override
        actions = jnp.where(mask, human, actions)
    state, ts = env.step(key_env, carry.env_state, actions, env_params)
    alive = carry.alive
    live = alive.astype(jnp.float32)
    next_carry = EpisodeCarry(
        env_state=state,
        obs=ts.obs,
        agent_carry=tuple(new_carry),
        returns=carry.returns + live * ts.reward,
        metrics={k: carry.metrics[k] + live * v for k, v in ts.metrics.items()},
        length=carry.length + alive.astype(jnp.int32),
        alive=alive & ~ts.done,
        faults=carry.faults + alive.astype(jnp.int32) * jnp.stack(faults).astype(jnp.int32),
    )
    record = StepRecord(
        actions=actions,
        rewards=ts.reward * live,
        done=alive & ts.done,
        extras=tuple(extras),
        env_state=state,
    )
    return next_carry, record


def reduce_metrics(env: Env, sums: dict, length) -> dict:
    """An episode's metrics from the sums its carry kept: a "mean" metric over its steps."""
    n = jnp.maximum(length, 1).astype(jnp.float32)
    return {m.name: sums[m.name] / (n if m.reduce == "mean" else 1.0) for m in env.spec.metrics}


def human_match_agents(line) -> tuple[tuple, tuple]:
    """(agents, params) per side of an `arena.lineup.HumanLineup`, as `play_step` takes them: a
    side the human plays alone runs a random agent whose choice the human's `override`
    replaces, so the step function stays this one and that agent costs nothing."""
    spec = line.env.spec
    team = spec.team_of(spec.sides[line.side])
    stand_in = build_agent("random", {}, team.obs_shape, team.obs_dtype, team.num_actions)
    agents = tuple(stand_in if a is None else a.agent for a in line.agents)
    params = tuple(stand_in.init_params(jax.random.PRNGKey(0)) if a is None else a.params for a in line.agents)
    return agents, params


@struct.dataclass
class MatchOutput:
    """Device-side result of one compiled match call."""

    returns: jax.Array  # (E, S)
    metrics: dict  # name -> (E,), reduced as each MetricSpec says
    length: jax.Array  # (E,)
    initial_state: Any  # env states after reset, first `record` episodes (or None)
    steps: Any  # StepRecord stacked (T, R, ...) for the first `record` episodes (or None)
    faults: jax.Array  # (E, n_sides) faulty steps per side (EpisodeCarry.faults)


def match_fn(env: Env, agents: tuple, episodes: int, record: int, observer: Callable | None):
    """The pure match function for these static settings (not yet compiled)."""

    def run(params: tuple, key: jax.Array, env_params: Any) -> MatchOutput:
        # Episode i's key depends on i only, so an episode replays alike in any batch size.
        episode_keys = jax.vmap(lambda i: keys.episode_key(key, i))(jnp.arange(episodes))
        start = jax.vmap(lambda k: episode_start(env, agents, params, keys.reset_key(k), env_params))(episode_keys)

        def body(carry, t):
            step_keys = jax.vmap(lambda k: keys.step_key(k, t))(episode_keys)
            carry, rec = jax.vmap(lambda c, k: play_step(env, agents, params, c, k, env_params=env_params))(carry, step_keys)
            if observer is not None:
                io_callback(observer, None, t, jax.tree.map(lambda x: x[0], rec), ordered=True)
            kept = jax.tree.map(lambda x: x[:record], rec) if record else None
            return carry, kept

        final, steps = jax.lax.scan(body, start, jnp.arange(env.spec.max_steps))
        metrics = reduce_metrics(env, final.metrics, final.length)
        initial = jax.tree.map(lambda x: x[:record], start.env_state) if record else None
        return MatchOutput(final.returns, metrics, final.length, initial, steps, final.faults)

    return run


@dataclasses.dataclass
class CompiledMatch:
    fn: Callable
    compile_seconds: float


_COMPILED = CompileCache(maxsize=128)


def _shapes(tree: Any) -> tuple:
    return jax.tree.structure(tree), tuple((x.shape, x.dtype) for x in jax.tree.leaves(tree))


def _compile(fn: Callable, *example_args) -> CompiledMatch:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*example_args).compile()
    return CompiledMatch(compiled, time.perf_counter() - start)


def compiled_match(env: Env, agents: tuple, params: tuple, episodes: int, record: int = 0, observer=None,
                   env_params: Any = None) -> tuple[CompiledMatch, bool]:
    """(the compiled match for these static settings, whether this call compiled it).

    fn(params, key, env_params) -> MatchOutput."""
    env_params = env.default_params if env_params is None else env_params
    cache_key = (env, agents, episodes, record, observer, _shapes(params), _shapes(env_params))
    return _COMPILED.get(cache_key, lambda: _compile(
        match_fn(env, agents, episodes, record, observer), params, keys.match_key(0), env_params))


def compile_count() -> int:
    """How many distinct match functions this process has compiled (for tests and benchmarks)."""
    return _COMPILED.builds


@dataclasses.dataclass
class MatchResult:
    """Host-side (numpy) result of one match in one seat order."""

    env_id: str
    side_names: tuple[str, ...]
    agent_names: tuple[str, ...]
    seed: int
    returns: np.ndarray  # (E, S) per episode and seat
    side_returns: np.ndarray  # (E, n_sides): mean over each side's seats
    metrics: dict  # name -> (E,)
    length: np.ndarray  # (E,)
    seconds: float  # wall time of the compiled call
    compile_seconds: float  # 0 when the compiled function was cached
    initial_state: Any = None
    steps: Any = None
    faults: np.ndarray | None = None  # (E, n_sides) faulty steps per side

    @property
    def episodes(self) -> int:
        return self.returns.shape[0]

    @property
    def steps_per_second(self) -> float:
        return float(self.length.sum()) / max(self.seconds, 1e-9)


def run_match(
    env: Env,
    agents: Sequence,
    params: Sequence,
    *,
    episodes: int = 256,
    seed: int = 0,
    record: int = 0,
    observer: Callable | None = None,
    agent_names: Sequence[str] | None = None,
    env_params: Any = None,
) -> MatchResult:
    """Play `episodes` episodes with agents[i] on env.spec.sides[i]; record the first `record`."""
    sides = env.spec.sides
    if len(agents) != len(sides):
        raise ValueError(f"{env.spec.id} has {len(sides)} sides, got {len(agents)} agents")
    agents, params = tuple(agents), tuple(params)
    record = min(int(record), episodes)
    env_params = env.default_params if env_params is None else env_params
    compiled, built = compiled_match(env, agents, params, episodes, record, observer, env_params)
    compile_seconds = compiled.compile_seconds if built else 0.0
    start = time.perf_counter()
    out = jax.block_until_ready(compiled.fn(params, keys.match_key(seed), env_params))
    return match_result(env, out, seed=seed, agent_names=tuple(agent_names or (a.arch for a in agents)),
                        seconds=time.perf_counter() - start, compile_seconds=compile_seconds, record=record)


def match_result(env: Env, out: MatchOutput, *, seed: int, agent_names: tuple, seconds: float,
                 compile_seconds: float, record: int) -> MatchResult:
    """The host-side result of a compiled match call (`out` already computed)."""
    sides = env.spec.sides
    returns = np.asarray(out.returns)
    side_returns = np.stack([returns[:, list(s.seats)].mean(axis=1) for s in sides], axis=1)
    return MatchResult(
        env_id=env.spec.id,
        side_names=tuple(s.name for s in sides),
        agent_names=agent_names,
        seed=seed,
        returns=returns,
        side_returns=side_returns,
        metrics={k: np.asarray(v) for k, v in out.metrics.items()},
        length=np.asarray(out.length),
        seconds=seconds,
        compile_seconds=compile_seconds,
        initial_state=jax.device_get(out.initial_state) if record else None,
        steps=jax.device_get(out.steps) if record else None,
        faults=np.asarray(out.faults),
    )


def _population_fn(env: Env, agents: tuple, episodes: int, record: int = 0):
    """`match_fn` vmapped over pairings: population params are stacked per side (N_side, ...)
    and each pairing picks its members by index, so a whole matrix is one compiled call."""
    run = match_fn(env, agents, episodes, record, None)

    def run_population(population: tuple, index: jax.Array, keys: jax.Array, env_params: Any) -> MatchOutput:
        # index (P, n_sides) int32 rows into each side's population; keys (P, 2) uint32.
        def one(idx, key):
            params = tuple(jax.tree.map(lambda x: x[idx[s]], pop) for s, pop in enumerate(population))  # noqa: B023  (called at once)
            return run(params, key, env_params)

        return jax.vmap(one)(index, keys)

    return run_population


def compiled_population_match(env: Env, agents: tuple, population: tuple, episodes: int, pairings: int,
                              env_params: Any = None, record: int = 0) -> tuple[CompiledMatch, bool]:
    """The compiled population match: fn(population, index (P, n_sides), keys (P, 2),
    env_params) -> MatchOutput with a leading pairing axis P = `pairings`, each pairing's first
    `record` episodes recorded. `population[s]` stacks the params of every agent that may play
    side s along a new leading axis. Pairing p with key k plays the episodes
    `compiled_match(...).fn(params_p, k, env_params)` plays, up to float rounding: XLA may
    round a step batched wider otherwise (a replay of a pairing's episodes is recorded in this
    call, `record`, not re-played). Cached like `compiled_match`, and returned with whether
    this call compiled it."""
    env_params = env.default_params if env_params is None else env_params
    cache_key = ("population", env, agents, episodes, pairings, record, _shapes(population), _shapes(env_params))

    def build() -> CompiledMatch:
        index = jnp.zeros((pairings, len(agents)), jnp.int32)
        key = keys.match_key(0)
        return _compile(_population_fn(env, agents, episodes, record), population, index,
                        jnp.broadcast_to(key, (pairings, *key.shape)), env_params)

    return _COMPILED.get(cache_key, build)
