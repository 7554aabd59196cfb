"""COALA-PG: a learning-aware policy gradient against naive learners (the COALA-PG seed).

Each update plays `units` meta-episodes (`arena.meta`, the runner's own code path): in each,
the trained `history_gru` (row seat) meets a fresh `naive_learner` (col seat) for `inner`
inner episodes of `lanes` coupled episodes; the naive learner updates by A2C on the B lanes
between inner episodes, so what the trained agent does in one lane shapes the co-player all
lanes face next. The trained agent's per-lane sequence of M * T steps is scored with
Algorithm 1's batch lambda returns (`batch_lambda_returns`): at an inner episode's end the
bootstrap is the batch mean, and this episode's reward counts 1/B, because an action moves the
co-player's update (shared by the batch) as much as it moves its own lane's reward. With
`batch_aware = false` the same run uses ordinary lambda returns over the same long context:
the batch-unaware baseline (plain PPO). The update is PPO-clip over whole sequences.

The IPD is symmetric and observations are a seat's own view, so the run writes the one
trained policy for both seats (X-row.ckpt, X-col.ckpt).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from arena.agents import build_agent
from arena.agents.history_gru import HistoryGRU
from arena.agents.trainers import pieces as P
from arena.agents.trainers.contract import PolicyGradientConfig, PolicyGradientTrainer
from arena.meta import MetaShape, meta_rollout_fn


def batch_lambda_returns(rewards: jax.Array, next_values: jax.Array, discount: float, lam: float,
                         inner_length: int, average_future: bool = True, normalize_current: bool = True) -> jax.Array:
    """Algorithm 1 of the COALA-PG seed (batch lambda returns), as a reverse `lax.scan`.

    rewards (B, L): the B coupled lanes' rewards over a meta-episode of L steps;
    next_values (B, L): the value of the state after step t (the last column bootstraps).
    Going back from t = L - 1: at an inner episode's last step (t mod inner_length =
    inner_length - 1) and with `average_future`, the running return restarts from the batch's
    mean return (`global`); acc = r_t / norm + discount ((1 - lam) v_t + lam acc), with norm = B
    when `normalize_current`, else 1; global = mean_b(r_t + discount ((1 - lam) v_t + lam
    global)). With neither flag it is the ordinary lambda return. -> returns (B, L).
    """
    B, L = rewards.shape
    norm = float(B) if normalize_current else 1.0
    ends = (jnp.arange(L) % inner_length) == inner_length - 1

    def body(carry, xs):
        acc, glob = carry
        r, v, end = xs
        if average_future:
            acc = jnp.where(end, glob, acc)
        new_acc = r / norm + discount * ((1.0 - lam) * v + lam * acc)
        new_glob = jnp.mean(r + discount * ((1.0 - lam) * v + lam * glob))
        return (new_acc, new_glob), new_acc

    init = (next_values[:, -1], next_values[:, -1].mean())
    _, returns = jax.lax.scan(body, init, (rewards.T, next_values.T, ends), reverse=True)
    return returns.T


@dataclasses.dataclass(frozen=True)
class CoalaConfig(PolicyGradientConfig):
    """COALA-PG settings; `num_steps` and `shaping_horizon` are not used (an update plays
    units x lanes x inner episodes x the env's rounds steps)."""

    total_steps: int = 400_000
    # Meta-episodes per update, each against a fresh naive learner.
    units: int = 8
    # Coupled episodes per inner episode (B): the naive learner's batch.
    lanes: int = 8
    # Inner episodes per meta-episode (M): naive-learner updates the trained agent can shape.
    inner: int = 16
    # Algorithm 1's batch returns; false is the batch-unaware baseline (plain lambda returns).
    batch_aware: bool = True
    # The naive learner's step size (`naive_learner` lr).
    learner_lr: float = 3.0
    lr: float = 1e-3
    anneal_lr: bool = False
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    shaping_horizon: int = 0

    @property
    def num_envs(self) -> int:
        """Sequences per update (one per lane of each meta-episode)."""
        return self.units * self.lanes

    def validate(self) -> None:
        for name in ("units", "lanes", "inner", "num_minibatches", "update_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.num_envs % self.num_minibatches:
            raise ValueError("units * lanes must be divisible by num_minibatches")


@struct.dataclass
class CoalaState:
    params: Any
    opt_state: Any
    key: jax.Array
    update: jax.Array  # () int32, updates done


@dataclasses.dataclass(frozen=True)
class CoalaTrainer(PolicyGradientTrainer):
    env: Any
    agents: tuple  # (trained, trained): the one policy, written for each seat
    learner: Any  # the naive learner it trains against
    config: CoalaConfig

    algorithm = "coala-pg"

    @property
    def title(self) -> str:
        kind = "COALA-PG" if self.config.batch_aware else "batch-unaware PPO"
        return f"{kind} ({self.agents[0].arch}) vs naive learners"

    @property
    def trained_with(self) -> str:
        c = self.config
        return (f"meta-episodes of {c.inner} inner episodes x {c.lanes} lanes against fresh naive learners "
                f"(naive_learner lr {c.learner_lr}); "
                + ("batch lambda returns (Algorithm 1)" if c.batch_aware else "plain lambda returns"))

    @property
    def shape(self) -> MetaShape:
        return MetaShape(self.config.units, self.config.inner, self.config.lanes)

    @property
    def steps_per_update(self) -> int:
        return self.shape.episodes * self.env.spec.max_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.config.total_steps // self.steps_per_update)

    progress_keys = ("return", "return/naive", "cooperation/naive_last")
    curve_keys = ("return", "return/naive", "cooperation/naive_first", "cooperation/naive_last",
                  "cooperation/trained", "entropy", "value_loss")

    def reward_shaping(self) -> dict:
        return {"kind": "none"}

    def team_params(self, state: CoalaState, team: int):
        return state.params

    def init(self, key: jax.Array) -> CoalaState:
        k_params, key = jax.random.split(key)
        params = self.agents[0].init_params(k_params)
        return CoalaState(params, self.tx.init(params), key, jnp.zeros((), jnp.int32))

    def update(self, state: CoalaState):
        c, agent = self.config, self.agents[0]
        T, M, B, U = self.env.spec.max_steps, c.inner, c.lanes, c.units
        key, k_roll, k_upd = jax.random.split(state.key, 3)
        rollout = meta_rollout_fn(self.env, (agent, self.learner), self.shape, record=True, with_obs=True)
        _, out = rollout((state.params, {}), k_roll, self.env.default_params)
        # Side 0 has one seat; every leaf (U, L = M * T, B, ...).
        obs = out["obs"][0][:, :, :, 0]
        action = out["record"].actions[..., 0]
        reward = out["rewards"][..., 0]
        probs = out["record"].extras[0]["probs"][:, :, :, 0]
        value = out["record"].extras[0]["value"][:, :, :, 0]
        logp = jnp.log(jnp.take_along_axis(probs, action[..., None], axis=-1)[..., 0] + 1e-12)
        prev_reward = jnp.concatenate([jnp.zeros_like(reward[:, :1]), reward[:, :-1]], axis=1)
        next_value = jnp.concatenate([value[:, 1:], jnp.zeros_like(value[:, :1])], axis=1)  # the meta-episode ends
        returns = jax.vmap(lambda r, v: batch_lambda_returns(
            r.T, v.T, c.gamma, c.gae_lambda, T, c.batch_aware, c.batch_aware).T)(reward, next_value)

        def sequences(x):  # (U, L, B, ...) -> (U * B, L, ...)
            return jnp.moveaxis(x, 2, 1).reshape((U * B, M * T) + x.shape[3:])

        data = {k: sequences(v) for k, v in dict(obs=obs, prev_reward=prev_reward, action=action, logp=logp,
                                                 value=value, target=returns, advantage=returns - value).items()}
        starts = (jnp.arange(M * T) % T) == 0
        coefs = P.LossCoefs(clip=c.clip, vf=c.vf_coef, ent=c.ent_coef)

        def loss_fn(params, mb):
            logits, values = agent.unroll(params, jnp.swapaxes(mb["obs"], 0, 1), mb["prev_reward"].T, starts)
            flat = {k: v.reshape(-1) for k, v in mb.items() if k not in ("obs", "prev_reward")}
            return P.policy_loss(jnp.swapaxes(logits, 0, 1).reshape(-1, logits.shape[-1]),
                                 values.T.reshape(-1), flat, coefs)

        params, opt_state, aux = P.minibatch_epochs(
            k_upd, state.params, state.opt_state, self.tx, data, loss_fn, c.update_epochs, c.num_minibatches)
        coop = (out["record"].actions == 0).astype(jnp.float32).reshape(U, M, T, B, 2)
        metrics = {
            "return": reward.sum(axis=1).mean() / M,  # per inner episode
            "return/naive": out["rewards"][..., 1].sum(axis=1).mean() / M,
            "cooperation/trained": coop[..., 0].mean(),
            "cooperation/naive_first": coop[:, 0, :, :, 1].mean(),
            "cooperation/naive_last": coop[:, -1, :, :, 1].mean(),
            **aux,
        }
        return CoalaState(params, opt_state, key, state.update + 1), metrics


def build_trainer(env, arch: str, arch_config: dict, config: CoalaConfig) -> CoalaTrainer:
    """The trained policy for the row seat (it serves both: the IPD is symmetric) and the
    naive learner it meets."""
    if env.spec.id != "ipd":
        raise ValueError(f"COALA-PG trains against IPD naive learners; env {env.spec.id!r} is not ipd")
    team = env.spec.teams[0]
    agent = build_agent(arch, arch_config, team.obs_shape, team.obs_dtype, team.num_actions)
    if not isinstance(agent, HistoryGRU):
        raise ValueError(f"COALA-PG trains history_gru (a policy over the meta-episode's history), not {arch!r}")
    learner = build_agent("naive_learner", {"lr": config.learner_lr}, team.obs_shape, team.obs_dtype, team.num_actions)
    return CoalaTrainer(env=env, agents=(agent, agent), learner=learner, config=config)
