"""Meta-episodes: a match whose unit is M inner episodes played in B coupled lanes.

A meta-episode is one compiled `lax.scan` over M * T steps (T = the env's max_steps) of one
unit of B lanes, and the match is a `vmap` of that scan over U meta-episodes. At the first step
of every inner episode the B envs are reset; an agent's carry is reset too unless its manifest
asks for it to persist (`persist_carry`), and an agent that `wants_feedback` is told, after
every step, its rewards and the joint action (`arena.agent.Feedback`).

Batch coupling: each side's agent is called once per step for the whole unit, with the B
lanes' observations as its batch rows (B * seats of the side), so its carry sees all B lanes
at once: a learner keeps per-row traces beside state shared by the rows (its policy), and
updates that shared state from all B episodes at the inner episode's last step.

Keys: inner episode m of lane b of meta-episode u is the runner's episode (u * M + m) * B + b
(`arena.keys`), reset and stepped with that episode's keys, so every inner episode is an
ordinary episode to `arena replay verify`. The sides' keys come from lane 0's step key.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from arena import keys
from arena.agent import Feedback
from arena.cache import CompileCache
from arena.env import Env
from arena.errors import UserError
from arena.runner import CompiledMatch, MatchOutput, MatchResult, StepRecord, _faulty, _shapes, match_result, reduce_metrics


@dataclasses.dataclass(frozen=True)
class MetaShape:
    """The static shape of a meta-episode match."""

    units: int  # U meta-episodes played at once (vmapped)
    inner: int  # M inner episodes per meta-episode, played one after another
    lanes: int  # B coupled episodes per inner episode, seen together by every agent

    @property
    def episodes(self) -> int:
        """Inner episodes in all: U * M * B, the runner's episode numbers 0 .. U * M * B - 1."""
        return self.units * self.inner * self.lanes


def _where(flag: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


def _rows(x: jax.Array) -> jax.Array:
    """(B, n, ...) -> (B * n, ...): lanes folded into an agent's batch rows."""
    return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])


def meta_rollout_fn(env: Env, agents: tuple, shape: MetaShape, record: bool, with_obs: bool = False):
    """The pure rollout of U meta-episodes: fn(params, key, env_params) -> (resets, out), where
    `resets` are the inner episodes' (state, obs) after reset with leading axes (U, M, B) and
    `out` holds per step, with leading axes (U, M * T, B): rewards (S,), live (), metrics,
    faults (n_sides,), with `record` the StepRecord, and with `with_obs` each side's
    observations (n_side_seats, *obs_shape) as its agent saw them (what a trainer learns from)."""
    T, M, B = env.spec.max_steps, shape.inner, shape.lanes
    sides = env.spec.sides
    S = env.spec.num_seats
    for agent in agents:
        if agent.privileged:  # its World would hold B lanes' states; no privileged agent needs that yet
            raise UserError(f"a {agent.arch} agent is privileged (it reads the env state); meta-episodes play "
                            "unprivileged agents only: play it in an ordinary match")

    def unit(params, ep_keys, resets, env_params):
        # ep_keys (M, B, 2); resets: (state, obs) with leading (M, B).
        states, obs = resets
        rows = [B * len(s.seats) for s in sides]
        fresh = tuple(a.init_carry(p, r) for a, p, r in zip(agents, params, rows))

        def body(c, g):
            env_state, obs_now, agent_carry, alive = c
            m, t = g // T, g % T
            start = t == 0
            env_state = _where(start, jax.tree.map(lambda x: x[m], states), env_state)
            obs_now = _where(start, jax.tree.map(lambda x: x[m], obs), obs_now)
            alive = alive | start
            agent_carry = tuple(
                ac if a.persists_carry else _where(start, f, ac) for a, f, ac in zip(agents, fresh, agent_carry))
            split = jax.vmap(lambda k: keys.split_step_key(keys.step_key(k, t), len(sides)))(ep_keys[m])
            key_env, side_keys = split[0], split[1]
            actions = jnp.zeros((B, S), jnp.int32)
            new_carry, extras, faults = [], [], []
            seen = []
            for i, (agent, p, ac, side) in enumerate(zip(agents, params, agent_carry, sides)):
                side_obs = jax.vmap(lambda o, s=side: o[s.team][jnp.array(s.members)])(obs_now)
                seen.append(side_obs)
                ac, a, ex = agent.act(p, ac, _rows(side_obs), side_keys[i][0])
                n = len(side.seats)
                actions = actions.at[:, jnp.array(side.seats)].set(a.astype(jnp.int32).reshape(B, n))
                new_carry.append(ac)
                extras.append(jax.tree.map(lambda x, n=n: x.reshape((B, n) + x.shape[1:]), ex))
                faults.append(_faulty(agent, a, ex))
            env_state, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(key_env, env_state, actions, env_params)
            live = alive.astype(jnp.float32)
            rewards = ts.reward * live[:, None]
            last = t == T - 1
            for i, (agent, p, side) in enumerate(zip(agents, params, sides)):
                if agent.wants_feedback:
                    seats = jnp.array(side.seats)
                    n = len(side.seats)
                    fb = Feedback(
                        reward=_rows(rewards[:, seats]),
                        joint_action=_rows(jnp.broadcast_to(actions[:, None], (B, n, S))),
                        live=_rows(jnp.broadcast_to(alive[:, None], (B, n))),
                        last_step=last,
                    )
                    new_carry[i] = agent.feedback(p, new_carry[i], fb)
            done = alive & ts.done
            out = {
                "rewards": rewards,
                "live": alive,
                "metrics": {k: v * live for k, v in ts.metrics.items()},
                "faults": alive[:, None] & jnp.stack(faults)[None, :],
            }
            if record:
                out["record"] = StepRecord(actions, rewards, done, tuple(extras), env_state)
            if with_obs:
                out["obs"] = tuple(seen)
            return (env_state, ts.obs, tuple(new_carry), alive & ~ts.done), out

        first = (jax.tree.map(lambda x: x[0], states), jax.tree.map(lambda x: x[0], obs), fresh,
                 jnp.ones((B,), jnp.bool_))
        _, out = jax.lax.scan(body, first, jnp.arange(M * T))
        return out

    def rollout(params: tuple, key: jax.Array, env_params: Any):
        numbers = jnp.arange(shape.episodes).reshape(shape.units, M, B)
        ep_keys = jax.vmap(jax.vmap(jax.vmap(lambda i: keys.episode_key(key, i))))(numbers)

        def reset(k):
            state, ts = env.reset(keys.reset_key(k), env_params)
            return state, ts.obs

        resets = jax.vmap(jax.vmap(jax.vmap(reset)))(ep_keys)
        return resets, jax.vmap(lambda k, r: unit(params, k, r, env_params))(ep_keys, resets)

    return rollout


def meta_match_fn(env: Env, agents: tuple, shape: MetaShape, record: int):
    """The pure meta-episode match for these static settings (not yet compiled):
    fn(params, key, env_params) -> MatchOutput over the U * M * B inner episodes, in episode
    order (meta-episode, inner episode, lane)."""
    T, M, B = env.spec.max_steps, shape.inner, shape.lanes
    rollout = meta_rollout_fn(env, agents, shape, bool(record))

    def per_episode(x: jax.Array) -> jax.Array:
        """(U, M * T, B, ...) -> (T, U * M * B, ...): steps first, episodes in episode order."""
        x = x.reshape((x.shape[0], M, T, B) + x.shape[3:])
        x = jnp.moveaxis(x, 2, 0)
        return x.reshape((T, x.shape[1] * M * B) + x.shape[4:])

    def run(params: tuple, key: jax.Array, env_params: Any) -> MatchOutput:
        resets, out = rollout(params, key, env_params)
        rewards = per_episode(out["rewards"])
        length = per_episode(out["live"]).sum(axis=0).astype(jnp.int32)
        metrics = reduce_metrics(env, {k: per_episode(v).sum(axis=0) for k, v in out["metrics"].items()}, length)
        faults = per_episode(out["faults"]).sum(axis=0).astype(jnp.int32)
        initial = steps = None
        if record:
            initial = jax.tree.map(lambda x: x.reshape((shape.episodes,) + x.shape[3:])[:record], resets[0])
            steps = jax.tree.map(lambda x: per_episode(x)[:, :record], out["record"])
        return MatchOutput(rewards.sum(axis=0), metrics, length, initial, steps, faults)

    return run


_COMPILED = CompileCache(maxsize=32)


def compiled_meta_match(env: Env, agents: tuple, params: tuple, shape: MetaShape, record: int = 0,
                        env_params: Any = None) -> tuple[CompiledMatch, bool]:
    """(the compiled meta-episode match, whether this call compiled it); cached like the runner's."""
    env_params = env.default_params if env_params is None else env_params
    cache_key = (env, agents, shape, record, _shapes(params), _shapes(env_params))

    def build() -> CompiledMatch:
        start = time.perf_counter()
        fn = jax.jit(meta_match_fn(env, agents, shape, record)).lower(params, keys.match_key(0), env_params).compile()
        return CompiledMatch(fn, time.perf_counter() - start)

    return _COMPILED.get(cache_key, build)


def run_meta_match(
    env: Env,
    agents: Sequence,
    params: Sequence,
    shape: MetaShape,
    *,
    seed: int = 0,
    record: int = 0,
    agent_names: Sequence[str] | None = None,
    env_params: Any = None,
) -> MatchResult:
    """Play U meta-episodes of M inner episodes in B lanes; the result's episodes are the
    U * M * B inner episodes in episode order (`inner_view` gives them their axes)."""
    if len(agents) != len(env.spec.sides):
        raise ValueError(f"{env.spec.id} has {len(env.spec.sides)} sides, got {len(agents)} agents")
    if min(shape.units, shape.inner, shape.lanes) < 1:
        raise ValueError(f"meta-episode shape must be positive, got {shape}")
    agents, params = tuple(agents), tuple(params)
    record = min(int(record), shape.episodes)
    env_params = env.default_params if env_params is None else env_params
    compiled, built = compiled_meta_match(env, agents, params, shape, record, env_params)
    start = time.perf_counter()
    out = jax.block_until_ready(compiled.fn(params, keys.match_key(seed), env_params))
    return match_result(env, out, seed=seed, agent_names=tuple(agent_names or (a.arch for a in agents)),
                        seconds=time.perf_counter() - start,
                        compile_seconds=compiled.compile_seconds if built else 0.0, record=record)


def inner_view(x: np.ndarray, shape: MetaShape) -> np.ndarray:
    """(U * M * B, ...) per inner episode -> (U, M, B, ...)."""
    return np.asarray(x).reshape((shape.units, shape.inner, shape.lanes) + np.shape(x)[1:])
