"""`arena replay verify`: re-simulate recorded episodes from their seed and actions.

An episode's keys are the runner's (`arena.keys`): the episode key from the seed and episode,
the reset key and each step's key split into the env's key and one per side. The recorded
actions are fed to the env's own `step` (one jitted scan per env), and every recorded state
leaf must match the simulated one bit for bit; the first step where one does not is reported.
The recorded leaves are first rebuilt into the env's state pytree (`arena.states.state_tree`),
which refuses leaves that are not the env's.

XLA compiles a step vmapped over E episodes into code whose float rounding can depend on E
(an mpe_tag match of 64 episodes differs from one episode alone in the last bit of `.p_vel`),
so a match's episodes are re-simulated in a batch of the width the match ran with: its
header's meta `batch` (`recorded_batch`). Unbatched replays (a human game) have width 1.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from arena import keys
from arena.cache import CompileCache
from arena.env import make
from arena.errors import UserError
from arena.runner import episode_start, play_step, reduce_metrics
from arena.states import state_leaves, state_tree
from arena.trace import EpisodeTrace


@dataclasses.dataclass(frozen=True)
class Divergence:
    """The first recorded state that the re-simulation does not reproduce."""

    episode: int
    step: int  # 0 = the state after reset, t = the state after the t-th step
    leaf: str  # pytree path of the state leaf, e.g. .agents.pos.x
    recorded: Any
    simulated: Any

    def describe(self) -> str:
        return (f"episode {self.episode}, step {self.step}, leaf {self.leaf}: "
                f"recorded {_short(self.recorded)}, re-simulated {_short(self.simulated)}")

    def to_dict(self) -> dict:
        return {"episode": self.episode, "step": self.step, "leaf": self.leaf,
                "recorded": np.asarray(self.recorded).tolist(), "simulated": np.asarray(self.simulated).tolist()}


def _short(x) -> str:
    text = np.array2string(np.asarray(x), threshold=12, separator=",").replace("\n", "")
    return text if len(text) <= 80 else text[:77] + "..."


_SIMULATORS = CompileCache(maxsize=16)


def _env(trace: EpisodeTrace):
    return make(trace.env_id, **trace.env_kwargs)


def replay_actions(env, ep_key, actions):
    """Play `actions` (T, S) int32 from episode key `ep_key` with the runner's keys (jittable):
    (state after reset, its TimeStep, states (T, ...) and TimeSteps (T, ...) after each step)."""
    n_sides = len(env.spec.sides)
    state0, ts0 = env.reset(keys.reset_key(ep_key))

    def body(state, xs):
        t, a = xs
        key_env, _ = keys.split_step_key(keys.step_key(ep_key, t), n_sides)
        state, ts = env.step(key_env, state, a)
        return state, (state, ts)

    _, (states, timesteps) = jax.lax.scan(body, state0, (jnp.arange(actions.shape[0]), actions))
    return state0, ts0, states, timesteps


def simulator(env) -> Callable:
    """jit(fn(ep_key, actions (max_steps, S) int32) -> states (max_steps + 1, ...)), per env."""

    def build():
        def simulate(ep_key, actions):
            state, _, later, _ = replay_actions(env, ep_key, actions)
            return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b.astype(a.dtype)]), state, later)

        return jax.jit(simulate)

    return _SIMULATORS.get(env.spec, build)[0]


def batch_simulator(env, batch: int, keep: int) -> Callable:
    """jit(fn(ep_keys (batch, 2), actions (batch, max_steps, S) int32) -> states (max_steps + 1,
    keep, ...)): `batch` episodes stepped together as the runner steps them (a scan over a
    vmapped step), the first `keep` of them kept, per env and shape."""

    def build():
        n_sides = len(env.spec.sides)

        def simulate(ep_keys, actions):
            state0, _ = jax.vmap(lambda k: env.reset(keys.reset_key(k)))(ep_keys)

            def body(state, xs):
                t, a = xs

                def one(k, s, a):
                    key_env, _ = keys.split_step_key(keys.step_key(k, t), n_sides)
                    return env.step(key_env, s, a)[0]

                state = jax.vmap(one)(ep_keys, state, a)
                return state, jax.tree.map(lambda x: x[:keep], state)

            _, later = jax.lax.scan(body, state0, (jnp.arange(actions.shape[1]), actions.swapaxes(0, 1)))
            return jax.tree.map(lambda a, b: jnp.concatenate([a[None, :keep], b.astype(a.dtype)]), state0, later)

        return jax.jit(simulate)

    return _SIMULATORS.get((env.spec, batch, keep), build)[0]


def _bits(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    return x.view(np.uint8) if x.dtype == np.bool_ else x.view(f"u{x.dtype.itemsize}") if x.dtype.kind == "f" else x


def _check_length(env, trace: EpisodeTrace) -> None:
    if env.spec.max_steps < trace.length:
        raise UserError(f"episode {trace.episode} has {trace.length} steps, more than {trace.env_id}'s max_steps "
                        f"{env.spec.max_steps}: the replay's env options do not match its episodes")


def resimulate(trace: EpisodeTrace) -> Any:
    """The env states (a pytree, T + 1 leading axis) that the trace's seed, episode and actions
    produce."""
    env = _env(trace)
    T = trace.length
    _check_length(env, trace)
    # Padded to max_steps so every episode of an env shares one compiled scan.
    actions = np.zeros((env.spec.max_steps, env.spec.num_seats), np.int32)
    actions[:T] = trace.actions
    states = simulator(env)(keys.seed_episode_key(trace.seed, trace.episode), actions)
    return jax.tree.map(lambda x: np.asarray(x)[: T + 1], states)


def resimulate_batch(traces: list[EpisodeTrace], batch: int) -> list:
    """`resimulate` for traces of one match that ran `batch` episodes at once: they are played
    in a batch of that width, each in its episode's lane (the other lanes play action 0: a lane's
    numbers do not depend on the others', only on the batch width)."""
    env = _env(traces[0])
    M, S = env.spec.max_steps, env.spec.num_seats
    actions = np.zeros((batch, M, S), np.int32)
    for trace in traces:
        if trace.episode >= batch:
            raise UserError(f"episode {trace.episode} is not one of the {batch} episodes the replay says its match played")
        _check_length(env, trace)
        actions[trace.episode, : trace.length] = trace.actions
    keep = max(t.episode for t in traces) + 1
    ep_keys = jax.vmap(lambda i: keys.episode_key(keys.match_key(traces[0].seed), i))(jnp.arange(batch))
    states = jax.device_get(batch_simulator(env, batch, keep)(ep_keys, actions))
    return [jax.tree.map(lambda x: np.asarray(x)[: t.length + 1, t.episode], states) for t in traces]  # noqa: B023


def recorded_batch(header: dict) -> int:
    """How many episodes the replay's match stepped at once: its meta's `batch`; a match
    replay from before `batch` was written ran all its `episodes_played` at once; else 1."""
    meta = header.get("meta") or {}
    if "batch" in meta:
        return int(meta["batch"])
    return int(meta.get("episodes_played") or 1) if meta.get("source") == "arena match" else 1


def first_divergence(trace: EpisodeTrace, simulated: Any) -> Divergence | None:
    """Compare every state leaf bit for bit; the earliest mismatching step (first leaf there).
    Raises StateMismatch when the recorded leaves are not the env's."""
    recorded = state_leaves(state_tree(_env(trace), trace.states))
    best = None
    for (path, rec), sim in zip(recorded.items(), state_leaves(simulated).values()):
        if rec.shape != sim.shape or rec.dtype != sim.dtype:
            return Divergence(trace.episode, 0, path, f"{rec.dtype}{list(rec.shape)}", f"{sim.dtype}{list(sim.shape)}")
        differs = (_bits(rec) != _bits(sim)).reshape(rec.shape[0], -1).any(axis=1)
        if differs.any():
            t = int(np.argmax(differs))
            if best is None or t < best.step:
                best = Divergence(trace.episode, t, path, rec[t], sim[t])
    return best


@dataclasses.dataclass
class VerifyReport:
    episodes: int = 0
    steps: int = 0
    divergence: Divergence | None = None

    @property
    def ok(self) -> bool:
        return self.divergence is None


def _groups(traces, batch: int):
    """(trace, simulated states) in order: one at a time at width 1, else as many traces of
    distinct episodes as one batch holds."""
    if batch == 1:
        for trace in traces:
            yield trace, resimulate(trace)
        return
    group: list[EpisodeTrace] = []
    for trace in itertools.chain(traces, [None]):
        if group and (trace is None or len(group) == batch or trace.episode in {t.episode for t in group}):
            yield from zip(group, resimulate_batch(group, batch))
            group = []
        if trace is not None:
            group.append(trace)


def verify_traces(traces, progress: Callable[[int], None] | None = None, batch: int = 1) -> VerifyReport:
    """Re-simulate each trace (in batches of width `batch`, as its match ran); stop at the
    first episode that diverges."""
    report = VerifyReport()
    for trace, simulated in _groups(traces, batch):
        report.divergence = first_divergence(trace, simulated)
        report.episodes += 1
        report.steps += trace.length
        if progress:
            progress(1)
        if report.divergence is not None:
            break
    return report


# ---------------------------------------------------------------- games with agents in them


@dataclasses.dataclass
class Reenactment:
    """An episode played again with its agents: what they chose and what the env paid."""

    actions: np.ndarray  # (T, S) int32, the given ones on masked seats, the agents' elsewhere
    rewards: np.ndarray  # (T, S) float32
    returns: np.ndarray  # (S,) float32
    metrics: dict  # name -> float, reduced as the runner reduces them; {} unless `ended`
    length: int  # steps until the episode ended (T when it did not)
    ended: bool  # the episode ended within the given steps


_REENACTORS = CompileCache(maxsize=16)


def reenact(env, agents: tuple, params: tuple, seed: int, episode: int, mask: np.ndarray, actions: np.ndarray) -> Reenactment:
    """Play episode `episode` of a match with `seed` again through the runner's own step: the
    seats in `mask` (S,) take the given `actions` (T, S), the agents choose on every other seat
    with the episode's keys. A human game re-enacted from its human's recorded keys gives the
    agents' actions and the returns the game really had, whatever its replay says."""
    def build():
        def run(params, ep_key, mask, actions):
            start = episode_start(env, agents, params, keys.reset_key(ep_key))

            def body(carry, xs):
                t, a = xs
                carry, rec = play_step(env, agents, params, carry, keys.step_key(ep_key, t), (mask, a))
                return carry, (rec.actions, rec.rewards, rec.done)

            final, (acts, rewards, dones) = jax.lax.scan(body, start, (jnp.arange(actions.shape[0]), actions))
            return final.metrics, acts, rewards, dones

        return jax.jit(run)

    T = int(actions.shape[0])
    if env.spec.max_steps < T:
        raise UserError(f"{T} steps is more than {env.spec.id}'s max_steps {env.spec.max_steps}")
    # Padded to max_steps so every game of an env and line-up shares one compiled scan; what
    # the padding plays comes after step T and is cut off.
    padded = np.zeros((env.spec.max_steps, env.spec.num_seats), np.int32)
    padded[:T] = actions
    fn = _REENACTORS.get((env.spec, tuple(agents)), build)[0]
    metrics, acts, rewards, dones = jax.device_get(
        fn(tuple(params), keys.seed_episode_key(seed, episode), np.asarray(mask, bool), padded))
    ended = bool(dones[:T].any())
    length = int(np.argmax(dones[:T])) + 1 if ended else T
    rewards = np.asarray(rewards[:T], np.float32)
    # The carry's metric sums run on past step T only when the episode did not end by then.
    reduced = {k: float(v) for k, v in reduce_metrics(env, metrics, length).items()} if ended else {}
    return Reenactment(np.asarray(acts[:T], np.int32), rewards, rewards.sum(axis=0), reduced, length, ended)
