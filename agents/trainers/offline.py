"""Offline learners over an arena dataset: independent BC, centralised IQL, MOMA-PPO-lite.

Each method is a pure function `fit(config, agent, data, key) -> (per-seat params, metrics)`
of arrays (data: `obs` (N, S, *obs), `actions` (N, S), `rewards` (N, S)), so seeds are a vmap
axis: `jax.vmap(fit, in_axes=(None, None, 0, 0))` trains many at once. Every method returns one
ordinary agent per seat, the same architecture (`mlp_actor_critic`, by default with no hidden
layer: logits linear in the seat's own observation), so `arena match` plays them like any other.

    bc    independent behaviour cloning: each seat's policy maximises the likelihood of its own
          actions in the data, seeing only its own observation.
    iql   centralised Implicit Q-Learning (Kostrikov et al.) over joint actions: Q(o, a) of the
          joint observation and joint action regressed on the team reward, V(o) an expectile
          of Q under the data, a joint policy by advantage-weighted regression; each seat then
          plays its part of the joint policy's mode (the seed's upper bound on strategy
          agreement: the joint action is chosen by one learner for everyone).
    maiql MA-IQL, the CTDE version: the same centralised critic, but each seat's policy is its
          own advantage-weighted regression on its own action in the data (weights from the
          joint action's advantage); no seat sees the others' choice at deployment.
    moma  MOMA-PPO-lite: an ensemble of reward models (the whole world model of a one-step game)
          fitted to bootstrap resamples of the data; separate PPO actors per seat (one network
          each, not one shared network) trained on rollouts through the ensemble from dataset
          observations, each rewarded by the ensemble mean minus `penalty` times the ensemble
          standard deviation (epistemic uncertainty), clipped to the data's reward range.

`iql`, `maiql` and `moma` need episodes of one step (one-shot games: every episode ends after the step,
so a Q-value is an expected reward); `bc` takes any dataset. With `greedy` (the default) every
method deploys its policy's mode: the last layer is scaled until the mode's probability is ~1,
as the seed's deterministic deployed policies are (its IBC on neutral data, 0.55 +- 0.11, is one
coin flip per seed).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from arena.agents.actor_critic import sample_policy
from arena.agents.trainers.pieces import LossCoefs, minibatch_epochs, optimizer, policy_loss

METHODS = ("bc", "iql", "maiql", "moma")


@dataclasses.dataclass(frozen=True)
class OfflineConfig:
    """Settings of every method (each reads its own); defaults fit the one-shot coordination game."""

    # Gradient steps and Adam learning rate of the supervised fits (bc policies, iql Q, V and
    # policy, moma reward models).
    steps: int = 300
    lr: float = 0.05
    # Deploy the mode of each learned policy (scale its logits until p(mode) ~ 1).
    greedy: bool = True

    # iql: the expectile of Q that V fits (0.5 is the mean; towards 1, the best action in the
    # data), and the inverse temperature of the advantage weights exp(beta * (Q - V)) (clipped
    # at 100).
    expectile: float = 0.9
    beta: float = 3.0

    # moma: reward models in the ensemble, and the hidden width of each.
    ensemble: int = 5
    model_hidden: int = 32
    # moma: uncertainty penalty lambda: reward = mean - lambda * std over the ensemble.
    penalty: float = 1.0

    # moma: PPO updates, model rollouts per update, epochs over them and minibatches, learning
    # rate, clip and entropy coefficient.
    ppo_updates: int = 150
    rollouts: int = 256
    ppo_epochs: int = 4
    ppo_minibatches: int = 4
    ppo_lr: float = 0.02
    clip: float = 0.2
    ent_coef: float = 0.0

    def validate(self, method: str) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
        for name in ("steps", "ensemble", "model_hidden", "ppo_updates", "rollouts", "ppo_epochs", "ppo_minibatches"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.rollouts % self.ppo_minibatches:
            raise ValueError("rollouts must be divisible by ppo_minibatches")
        if not 0.0 < self.expectile < 1.0:
            raise ValueError(f"expectile must be in (0, 1), got {self.expectile}")
        for name in ("lr", "ppo_lr", "beta", "clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.penalty < 0 or self.ent_coef < 0:
            raise ValueError("penalty and ent_coef must be non-negative")


# ---------------------------------------------------------------- small pieces


def _fit(loss_fn, params, steps: int, lr: float):
    """`steps` full-batch Adam steps on loss_fn(params) -> (loss, last loss)."""
    tx = optax.adam(lr)

    def step(carry, _):
        params, opt = carry
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params, losses[-1]


def _logits(agent, params, obs):
    _, logits, value, _ = agent.policy(params, (), obs)
    return logits, value


def _init_seats(agent, key, n_seats: int):
    """Fresh params for every seat, stacked along a leading seat axis."""
    return jax.vmap(agent.init_params)(jax.random.split(key, n_seats))


def _clone(agent, config: OfflineConfig, params, obs, targets, weights=None):
    """Each seat's policy fitted to its targets by (optionally weighted) cross-entropy; seats
    are a vmap axis: params (S, ...), obs (N, S, D), targets (N, S), weights (N,) or None ->
    (params, final losses (S,))."""
    def one(p, o, t):
        return _fit(lambda q: _cross_entropy(agent, q, o, t, weights), p, config.steps, config.lr)

    return jax.vmap(one, in_axes=(0, 1, 1))(params, obs, targets)


def _cross_entropy(agent, params, obs, targets, weights=None):
    logits, _ = _logits(agent, params, obs)
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), targets[:, None], axis=-1)[:, 0]
    return nll.mean() if weights is None else (weights * nll).sum() / weights.sum()


def _linear(key, d_in: int, d_out: int):
    return {"w": jax.random.normal(key, (d_in, d_out)) * 0.01, "b": jnp.zeros((d_out,))}


def _apply_linear(p, x):
    return x @ p["w"] + p["b"]


def _flat(obs):
    """(N, S, *obs) -> (N, S, D) float32, and (N, S * D): each seat's own and the joint view."""
    n, s = obs.shape[:2]
    own = obs.reshape(n, s, -1).astype(jnp.float32)
    return own, own.reshape(n, -1)


def sharpen(agent, params, obs, target_gap: float = 30.0, max_scale: float = 1e4):
    """Scale the last actor layer of a feed-forward policy until, on every observation in
    `obs`, its mode leads the runner-up by `target_gap` logits: the policy's greedy version."""
    logits, _ = _logits(agent, params, obs)
    top2 = jax.lax.top_k(logits, 2)[0]
    gap = jnp.min(top2[:, 0] - top2[:, 1])
    scale = jnp.clip(target_gap / jnp.maximum(gap, 1e-9), 1.0, max_scale)
    layer = f"Dense_{len(agent.config.hidden)}"  # the actor's output layer (flax auto-name)
    inner = params["params"]
    inner = {**inner, layer: jax.tree.map(lambda x: x * scale, inner[layer])}
    return {**params, "params": inner}


def _deploy(config: OfflineConfig, agent, params, own):
    """The deployed seats' params (S, ...): greedy (sharpened) unless told otherwise."""
    if not config.greedy:
        return params
    return jax.vmap(lambda p, o: sharpen(agent, p, o), in_axes=(0, 1))(params, own)


def fit_bc(config: OfflineConfig, agent, data: dict, key):
    own, _ = _flat(data["obs"])
    params, losses = _clone(agent, config, _init_seats(agent, key, own.shape[1]), own, data["actions"])
    return _deploy(config, agent, params, own), {"bc_loss": losses}


def _joint_index(actions, num_actions: int):
    """(N, S) -> (N,) index of the joint action, seat 0 most significant."""
    S = actions.shape[1]
    weights = num_actions ** jnp.arange(S - 1, -1, -1)
    return (actions * weights).sum(-1)


def _joint_parts(index, num_actions: int, S: int):
    """(N,) joint index -> (N, S) per-seat actions."""
    weights = num_actions ** jnp.arange(S - 1, -1, -1)
    return (index[:, None] // weights) % num_actions


def _critic(config: OfflineConfig, joint_obs, a, r, num_joint: int, key):
    """IQL's centralised critic on one-step data: Q(o, a) over joint actions regressed on the
    team reward, V(o) its expectile under the data. -> (Q table (N, n_joint), advantage of the
    data's joint action (N,), last Q loss)."""
    n_joint, d = num_joint, joint_obs.shape[1]
    kq, kv = jax.random.split(key)

    def q_loss(q):
        pred = jnp.take_along_axis(_apply_linear(q, joint_obs), a[:, None], axis=-1)[:, 0]
        return ((pred - r) ** 2).mean()  # one-step episodes: the target is the reward itself

    q, q_final = _fit(q_loss, _linear(kq, d, n_joint), config.steps, config.lr)
    q_table = _apply_linear(q, joint_obs)
    q_data = jnp.take_along_axis(q_table, a[:, None], axis=-1)[:, 0]

    def v_loss(v):
        diff = q_data - _apply_linear(v, joint_obs)[:, 0]
        weight = jnp.where(diff > 0, config.expectile, 1 - config.expectile)
        return (weight * diff ** 2).mean()

    v, _ = _fit(v_loss, _linear(kv, d, 1), config.steps, config.lr)
    return q_table, q_data - _apply_linear(v, joint_obs)[:, 0], q_final


def _team_data(agent, data: dict):
    own, joint_obs = _flat(data["obs"])
    a = _joint_index(data["actions"], agent.num_actions)
    r = data["rewards"].mean(-1)  # the team's reward (cooperative game: every seat's, averaged)
    return own, joint_obs, a, r


def fit_iql(config: OfflineConfig, agent, data: dict, key):
    own, joint_obs, a, r = _team_data(agent, data)
    S, A = own.shape[1], agent.num_actions
    kc, kp, ks = jax.random.split(key, 3)
    q_table, adv, q_final = _critic(config, joint_obs, a, r, A ** S, kc)
    w = jnp.minimum(jnp.exp(config.beta * adv), 100.0)

    def pi_loss(pi):  # advantage-weighted regression of one joint policy
        logp = jax.nn.log_softmax(_apply_linear(pi, joint_obs))
        return -(w * jnp.take_along_axis(logp, a[:, None], axis=-1)[:, 0]).sum() / w.sum()

    pi, _ = _fit(pi_loss, _linear(kp, joint_obs.shape[1], A ** S), config.steps, config.lr)
    # Each seat learns, from its own observation, its part of the joint policy's mode.
    mode = _joint_parts(jnp.argmax(_apply_linear(pi, joint_obs), -1), A, S)
    out, _ = _clone(agent, config, _init_seats(agent, ks, S), own, mode)
    return _deploy(config, agent, out, own), {"q_loss": q_final, "q_table": q_table.mean(0)}


def fit_maiql(config: OfflineConfig, agent, data: dict, key):
    own, joint_obs, a, r = _team_data(agent, data)
    kc, ks = jax.random.split(key)
    q_table, adv, q_final = _critic(config, joint_obs, a, r, agent.num_actions ** own.shape[1], kc)
    # CTDE: the centralised critic's advantage weights each seat's own action in the data.
    w = jnp.minimum(jnp.exp(config.beta * adv), 100.0)
    out, _ = _clone(agent, config, _init_seats(agent, ks, own.shape[1]), own, data["actions"], w)
    return _deploy(config, agent, out, own), {"q_loss": q_final, "q_table": q_table.mean(0)}


def _reward_model(key, d_in: int, hidden: int, S: int):
    k1, k2 = jax.random.split(key)
    return {"h": _linear(k1, d_in, hidden), "o": _linear(k2, hidden, S)}


def _predict(m, x):
    return _apply_linear(m["o"], jnp.tanh(_apply_linear(m["h"], x)))


def fit_moma(config: OfflineConfig, agent, data: dict, key):
    own, joint_obs = _flat(data["obs"])
    N, S, A = own.shape[0], own.shape[1], agent.num_actions
    n_joint = A ** S
    rewards = data["rewards"]
    k_models, k_boot, k_pi, k_run = jax.random.split(key, 4)

    def model_input(obs, joint):
        return jnp.concatenate([obs, jax.nn.one_hot(joint, n_joint)], axis=-1)

    x = model_input(joint_obs, _joint_index(data["actions"], A))

    def fit_member(mkey, bkey):
        counts = jnp.bincount(jax.random.randint(bkey, (N,), 0, N), length=N)  # a bootstrap resample

        def loss(m):
            return (counts[:, None] * (_predict(m, x) - rewards) ** 2).sum() / counts.sum()

        return _fit(loss, _reward_model(mkey, x.shape[1], config.model_hidden, S), config.steps, config.lr)

    models, model_losses = jax.vmap(fit_member)(jax.random.split(k_models, config.ensemble),
                                                jax.random.split(k_boot, config.ensemble))
    r_low, r_high = rewards.min(0), rewards.max(0)  # bounding-box clipping to the data's rewards

    def model_reward(obs, joint):
        preds = jax.vmap(lambda m: _predict(m, model_input(obs, joint)))(models)  # (K, B, S)
        penalised = preds.mean(0) - config.penalty * preds.std(0)
        return jnp.clip(penalised, r_low, r_high), preds.std(0).mean()

    tx = optimizer(config.ppo_lr, 0.5, None)
    coefs = LossCoefs(clip=config.clip, ent=config.ent_coef)
    B = config.rollouts

    def act(p, obs, k):  # one seat's policy on its own observations
        logits, value = _logits(agent, p, obs)
        action, logp, _ = sample_policy(logits, k)
        return action, logp, value

    def learn(k, p, opt, batch):  # one seat's PPO epochs on its own rollouts
        def loss_fn(q, mb):
            logits, v = _logits(agent, q, mb["obs"])
            return policy_loss(logits, v, mb, coefs)

        return minibatch_epochs(k, p, opt, tx, batch, loss_fn, config.ppo_epochs, config.ppo_minibatches)

    def update(carry, ukey):
        params, opts = carry
        k_start, k_act, k_epochs = jax.random.split(ukey, 3)
        rows = jax.random.randint(k_start, (B,), 0, N)  # rollouts start from dataset observations
        obs = own[rows]  # (B, S, D)
        # Every seat acts with its own policy on its own observation (seats: a vmap axis).
        action, logp, value = jax.vmap(act, in_axes=(0, 1, 0))(params, obs, jax.random.split(k_act, S))  # (S, B)
        reward, disagreement = model_reward(joint_obs[rows], _joint_index(action.T, A))  # (B, S)
        # One-step episodes: the return is the reward, the advantage reward - V(o).
        batch = {"obs": jnp.swapaxes(obs, 0, 1), "action": action, "logp": logp, "value": value,
                 "advantage": reward.T - value, "target": reward.T}
        params, opts, aux = jax.vmap(learn)(jax.random.split(k_epochs, S), params, opts, batch)
        out = {"model_reward": reward.mean(), "disagreement": disagreement, "entropy": aux["entropy"],
               "rollout_agreement": (action == action[:1]).all(0).mean()}
        return (params, opts), out

    params = _init_seats(agent, k_pi, S)
    (params, _), curve = jax.lax.scan(update, (params, jax.vmap(tx.init)(params)),
                                      jax.random.split(k_run, config.ppo_updates))
    metrics = {"model_loss": model_losses.mean(), **{k: v[-1] for k, v in curve.items()}}
    return _deploy(config, agent, params, own), metrics


FITS = {"bc": fit_bc, "iql": fit_iql, "maiql": fit_maiql, "moma": fit_moma}


def seat_params(params, seats: int) -> list:
    """Stacked params (S, ...) -> one numpy param tree per seat."""
    return [jax.tree.map(lambda x: np.asarray(x[s]), params) for s in range(seats)]  # noqa: B023


def fit(method: str, config: OfflineConfig, agent, data: dict, key) -> tuple[Any, dict]:
    """Train `method` on `data` (obs (N, S, *obs), actions (N, S), rewards (N, S)): the params
    of `agent` for every seat, stacked on a leading seat axis (`seat_params` splits them), and
    final metrics. Pure: jit it, vmap it over data and keys."""
    return FITS[method](config, agent, data, key)


@functools.lru_cache(maxsize=16)
def compiled_fit(method: str, config: OfflineConfig, agent, seeds: int | None = None):
    """jit(fit) for one method, config and agent; with `seeds`, vmapped over a leading axis of
    both the data and the keys (one dataset and one key per seed)."""
    fn = functools.partial(fit, method, config, agent)
    return jax.jit(fn if seeds is None else jax.vmap(fn))


def arrays(dataset) -> dict:
    """The learners' view of a loaded `arena.dataset.Dataset`: numpy obs (N, S, *obs), actions
    (N, S), rewards (N, S)."""
    names = dataset.seat_names
    return {"obs": np.stack([dataset.seats[s].observations for s in names], axis=1),
            "actions": dataset.joint_actions(), "rewards": dataset.joint_rewards()}


def one_step(dataset) -> bool:
    """Whether every episode of the dataset is one step long (what iql and moma need)."""
    return bool((dataset.episodes["length"] == 1).all())


def describe(method: str) -> str:
    return {"bc": "independent behaviour cloning, one policy per seat",
            "iql": "centralised IQL over joint actions, each seat playing its part of the joint mode",
            "maiql": "MA-IQL (CTDE): a centralised IQL critic weighting each seat's own advantage-weighted regression",
            "moma": "MOMA-PPO-lite: reward-model ensemble with an uncertainty penalty, separate PPO actors per seat"}[method]

