"""The pure pieces every trainer here builds its `update` from, all traced inside jit:
auto-reset env stepping, episode bookkeeping, GAE, the clipped policy loss, minibatch epochs,
the optimizer and the linear anneal. No host code, no files, nothing stateful.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


def tree_select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """`jnp.where(pred, a, b)` leaf by leaf, `pred` a scalar bool."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def vmapped_reset(env, key: jax.Array, n: int, env_params: Any = None):
    """`n` fresh episodes: (states, timesteps), leading axis n; one `env_params` for all
    (None: the env's defaults)."""
    return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), env_params)


def batch_step_autoreset(env, key: jax.Array, states: Any, actions: jax.Array, env_params: Any = None):
    """One step of a batch of envs (leading axis E) under one `env_params` (None: the env's
    defaults); an episode that ended is replaced by a fresh one in the same call (PureJaxRL's
    auto-reset, done here because arena's envs leave resets to the caller).

    Returns (states, timestep) where reward/done/metrics are the step's and `obs` is already
    the next episode's first observation where an episode ended. The resets are computed under
    a `lax.cond` on "any episode ended", so batches whose episodes end together at the step
    limit (overcooked, mpe_tag) pay for a reset once per episode instead of every step, as a
    per-env `jnp.where` would.
    """
    n = actions.shape[0]
    k_step, k_reset = jax.random.split(key)
    states, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(k_step, n), states, actions, env_params)
    done = ts.done

    def reset(args):
        states, obs = args
        fresh, fresh_ts = vmapped_reset(env, k_reset, n, env_params)
        pick = jax.vmap(tree_select)
        return pick(done, fresh, states), pick(done, fresh_ts.obs, obs)

    states, obs = jax.lax.cond(done.any(), reset, lambda a: a, (states, ts.obs))
    return states, ts.replace(obs=obs)


def track_episodes(ep_sum: jax.Array, last: jax.Array, add: jax.Array, done: jax.Array):
    """Running per-env episode sums and the value of the last finished episode.

    ep_sum, last, add: (E, ...); done: (E,). Returns (ep_sum, last) after this step.
    """
    total = ep_sum + add
    d = done.reshape((-1,) + (1,) * (total.ndim - 1))
    return jnp.where(d, 0.0, total), jnp.where(d, total, last)


@struct.dataclass
class EpisodeStats:
    """Env reward and env metrics summed over each env's running episode, and their values
    for the last episode that finished: what a trainer reports as "return" and metrics."""

    ep_return: jax.Array  # (E, S) env reward summed over the running episode
    last_return: jax.Array  # (E, S) of the last finished episode
    ep_metrics: dict  # name -> (E,)
    last_metrics: dict  # name -> (E,)

    @classmethod
    def zeros(cls, spec, num_envs: int) -> EpisodeStats:
        metrics = {m.name: jnp.zeros((num_envs,), jnp.float32) for m in spec.metrics}
        ret = jnp.zeros((num_envs, spec.num_seats), jnp.float32)
        return cls(ep_return=ret, last_return=ret, ep_metrics=metrics, last_metrics=metrics)

    def track(self, ts) -> EpisodeStats:
        """After one batched step whose timestep is `ts`."""
        ep_return, last_return = track_episodes(self.ep_return, self.last_return, ts.reward, ts.done)
        ep_m, last_m = {}, {}
        for k in self.ep_metrics:
            ep_m[k], last_m[k] = track_episodes(self.ep_metrics[k], self.last_metrics[k], ts.metrics[k], ts.done)
        return EpisodeStats(ep_return, last_return, ep_m, last_m)

    def env_metrics(self, spec) -> dict:
        """The env's metrics over the last finished episodes, averaged over envs; "mean"
        metrics are rates per step (episodes here end at the step limit)."""
        out = {}
        for m in spec.metrics:
            scale = 1.0 / spec.max_steps if m.reduce == "mean" else 1.0
            out[m.name] = self.last_metrics[m.name].mean() * scale
        return out


def gae(rewards, values, dones, last_value, gamma: float, lam: float):
    """Generalised advantage estimates over time-major (T, N) arrays.

    `dones[t]` says the episode ended at step t, so nothing after it is bootstrapped.
    Returns (advantages, value targets), both (T, N).
    """

    def body(carry, x):
        running, next_value = carry
        r, v, d = x
        notdone = 1.0 - d
        delta = r + gamma * next_value * notdone - v
        running = delta + gamma * lam * notdone * running
        return (running, v), running

    _, adv = jax.lax.scan(body, (jnp.zeros_like(last_value), last_value), (rewards, values, dones), reverse=True)
    return adv, adv + values


@dataclasses.dataclass(frozen=True)
class LossCoefs:
    clip: float = 0.2
    vf: float = 0.5
    ent: float = 0.01
    kl: float = 0.0


def policy_loss(logits, value, batch: dict, coefs: LossCoefs):
    """PPO-clip loss with a clipped value loss, an entropy bonus and an optional KL penalty.

    `batch` holds action, logp (behaviour), value (behaviour), advantage, target. The KL term
    is the non-negative k3 estimator of KL(pi_old || pi_new) from the behaviour samples
    (Schulman, "Approximating KL divergence"). Returns (loss, aux dict).
    """
    logp_all = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    logp = jnp.take_along_axis(logp_all, batch["action"][:, None], axis=-1)[:, 0]
    log_ratio = logp - batch["logp"]
    ratio = jnp.exp(log_ratio)
    adv = batch["advantage"]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    actor = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - coefs.clip, 1 + coefs.clip) * adv).mean()
    v_clipped = batch["value"] + jnp.clip(value - batch["value"], -coefs.clip, coefs.clip)
    critic = 0.5 * jnp.maximum((value - batch["target"]) ** 2, (v_clipped - batch["target"]) ** 2).mean()
    entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
    kl = ((ratio - 1.0) - log_ratio).mean()
    loss = actor + coefs.vf * critic - coefs.ent * entropy + coefs.kl * kl
    return loss, {"actor_loss": actor, "value_loss": critic, "entropy": entropy, "approx_kl": kl}


def entropy_of(p: jax.Array) -> jax.Array:
    """Entropy along the last axis of probabilities p."""
    return -(p * jnp.log(jnp.clip(p, 1e-12))).sum(-1)


def minibatch_epochs(key, params, opt_state, tx, data: dict, loss_fn: Callable, epochs: int, minibatches: int):
    """`epochs` passes of shuffled minibatch SGD over `data` (leaves (N, ...)).

    loss_fn(params, minibatch) -> (loss, aux). Returns (params, opt_state, mean aux).
    """
    n = jax.tree.leaves(data)[0].shape[0]
    size = n // minibatches

    def epoch(carry, k):
        params, opt_state = carry
        perm = jax.random.permutation(k, n)[: size * minibatches]
        batches = jax.tree.map(lambda x: x[perm].reshape((minibatches, size, *x.shape[1:])), data)

        def step(carry, mb):
            params, opt_state = carry
            (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        return jax.lax.scan(step, (params, opt_state), batches)

    (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, epochs))
    return params, opt_state, jax.tree.map(jnp.mean, aux)


def optimizer(lr: float, max_grad_norm: float, anneal_steps: int | None) -> optax.GradientTransformation:
    """Adam with global-norm clipping; the learning rate falls linearly to 0 over
    `anneal_steps` optimizer steps when given (JaxMARL's IPPO `ANNEAL_LR`)."""
    rate = optax.linear_schedule(lr, 0.0, anneal_steps) if anneal_steps else lr
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(rate, eps=1e-5))


def linear_anneal(step, horizon: int) -> jax.Array:
    """1 at step 0, falling to 0 at `horizon` (JaxMARL's reward-shaping anneal); 0 if none."""
    if not horizon:
        return jnp.zeros((), jnp.float32)
    return jnp.clip(1.0 - step / horizon, 0.0, 1.0).astype(jnp.float32)
