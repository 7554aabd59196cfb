"""Internal Other-Play (IOP) for the softmoe_gru agent, after the IOP seed.

One agent, no population: each update the parallel envs are split into K cohorts, and every
cohort plays self-play under its own "internal personality": Gaussian noise added to the
GRU hidden state at every step (cohort k has sigma_k, spread evenly over [sigma_min,
sigma_max]) and an expert bias added to the Soft MoE routing logits (scale 0.3 toward
cohort k's chosen experts: expert k for the first E cohorts, then pairs k, k+1, as in the
seed's table). Cohorts are ranked by their return over the rollout and only the top k
cohorts' experience enters the update: a PPO-clip step with a KL penalty against the
behaviour policy and an entropy bonus (the seed's GRPO objective), plus a value loss. The
advantages are GAE from the critic (the seed's group-normalised return gives one number
per cohort, too coarse for 400-step overcooked episodes); ranking is what selects the data.

The recurrent policy is trained on stored (perturbed) hidden states, one step at a time
(no backpropagation through time): the stored state is exactly what the behaviour policy
saw, so ratios are exact. Rewards get the env's shaped reward with an annealed coefficient,
as the PPO trainer does. Logged per update: return, cohort return std, action entropy,
routing entropy and expert usage.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from arena.agents import build_agent
from arena.agents.actor_critic import sample_policy
from arena.agents.trainers import pieces as P
from arena.agents.trainers.contract import PolicyGradientConfig, PolicyGradientTrainer


@dataclasses.dataclass(frozen=True)
class IOPConfig(PolicyGradientConfig):
    """IOP hyperparameters; the GRPO ones (lr, clip, kl, entropy, K, k) are the seed's."""

    # Env steps in the whole run, over all cohorts' envs.
    total_steps: int = 1_000_000
    lr: float = 3e-4
    anneal_lr: bool = False
    shaping_horizon: int = 500_000
    # Cohorts K per update, each with its own perturbation.
    num_cohorts: int = 8
    # Cohorts whose experience is learned from.
    top_k: int = 4
    # Parallel envs in each cohort.
    envs_per_cohort: int = 4
    kl_coef: float = 0.1
    # Hidden-state noise scales, spread evenly over the cohorts.
    sigma_min: float = 0.05
    sigma_max: float = 0.25
    # Routing-logit bias toward each cohort's experts (0 = Gaussian perturbation only).
    expert_bias: float = 0.3

    @property
    def num_envs(self) -> int:
        return self.num_cohorts * self.envs_per_cohort

    def validate(self) -> None:
        if not 1 <= self.top_k <= self.num_cohorts:
            raise ValueError(f"top_k must be between 1 and num_cohorts ({self.num_cohorts}), got {self.top_k}")
        if self.sigma_min < 0 or self.sigma_max < self.sigma_min:
            raise ValueError("need 0 <= sigma_min <= sigma_max")
        if (self.top_k * self.envs_per_cohort * self.num_steps) % self.num_minibatches:
            raise ValueError("top_k * envs_per_cohort * num_steps must be divisible by num_minibatches")


def cohort_perturbations(config: IOPConfig, num_experts: int) -> tuple[np.ndarray, np.ndarray]:
    """(sigma (K,), expert bias (K, E)): cohort k prefers expert k, then pairs (k, k+1)."""
    K = config.num_cohorts
    sigma = np.linspace(config.sigma_min, config.sigma_max, K, dtype=np.float32)
    bias = np.zeros((K, num_experts), np.float32)
    for k in range(K):
        first = k % num_experts
        bias[k, first] = 1.0
        if k >= num_experts:
            bias[k, (first + 1) % num_experts] = 1.0
    return sigma, bias * config.expert_bias


@struct.dataclass
class IOPState:
    params: Any
    opt_state: Any
    env_state: Any  # (N, ...), N = K * envs_per_cohort, cohort-major
    obs: tuple  # one team: ((N, n, *obs_shape),)
    carry: jax.Array  # (N * n, G) GRU state per (env, seat), unperturbed
    key: jax.Array
    update: jax.Array  # () int32, updates done
    episodes: P.EpisodeStats  # (N, ...)


@dataclasses.dataclass(frozen=True)
class IOPTrainer(PolicyGradientTrainer):
    env: Any
    agent: Any  # SoftMoEGRUAgent
    config: IOPConfig

    algorithm = "iop"
    trained_with = "internal other-play: self-play under K perturbed internal states, top-k cohorts learned from"

    @property
    def title(self) -> str:
        return f"IOP ({self.agent.arch})"

    @property
    def agents(self) -> tuple:
        return (self.agent,)

    @property
    def num_experts(self) -> int:
        return self.agent.config.num_experts

    @property
    def progress_keys(self) -> tuple[str, ...]:
        return ("return", *self.env.spec.headline_metrics, "cohort_return_std")

    @property
    def curve_keys(self) -> tuple[str, ...]:
        usage = tuple(f"expert_usage/{i}" for i in range(self.num_experts))
        metrics = (m.name for m in self.env.spec.metrics)
        return ("return", *metrics, "cohort_return_std", "action_entropy", "routing_entropy", *usage)

    def hyperparameters(self) -> dict:
        sigma, bias = cohort_perturbations(self.config, self.num_experts)
        return {**super().hyperparameters(), "cohort_sigma": sigma.tolist(), "cohort_expert_bias": bias.tolist()}

    def team_params(self, state, team: int):
        return state.params

    @property
    def seats(self) -> int:
        return len(self.env.spec.teams[0].seats)

    def init(self, key):
        c = self.config
        k_env, k_params, key = jax.random.split(key, 3)
        params = self.agent.init_params(k_params)
        env_state, ts = P.vmapped_reset(self.env, k_env, c.num_envs)
        return IOPState(
            params=params, opt_state=self.tx.init(params), env_state=env_state, obs=ts.obs,
            carry=self.agent.init_carry(params, c.num_envs * self.seats), key=key,
            update=jnp.zeros((), jnp.int32), episodes=P.EpisodeStats.zeros(self.env.spec, c.num_envs),
        )

    def _row_perturbations(self):
        """Per row (env-major, seat-minor) noise scale (R,) and routing bias (R, E)."""
        c, n = self.config, self.seats
        sigma, bias = cohort_perturbations(c, self.num_experts)
        cohort = np.repeat(np.arange(c.num_cohorts), c.envs_per_cohort * n)
        return jnp.asarray(sigma[cohort]), jnp.asarray(bias[cohort])

    def update(self, state: IOPState):
        c, spec, agent = self.config, self.env.spec, self.agent
        N, n, K = c.num_envs, self.seats, c.num_cohorts
        seats = jnp.asarray(spec.teams[0].seats)
        sigma, bias = self._row_perturbations()
        coef = P.linear_anneal(state.update * c.steps_per_update, c.shaping_horizon)

        def env_step(st, _):
            key, k_noise, k_act, k_env = jax.random.split(st.key, 4)
            obs = st.obs[0].reshape((N * n, *st.obs[0].shape[2:]))
            carry_in = st.carry + sigma[:, None] * jax.random.normal(k_noise, st.carry.shape)
            carry, logits, value, extras = agent.policy(st.params, carry_in, obs, bias)
            action, logp, probs = sample_policy(logits, k_act)
            actions = jnp.zeros((N, spec.num_seats), jnp.int32).at[:, seats].set(action.reshape(N, n))
            env_state, ts = P.batch_step_autoreset(self.env, k_env, st.env_state, actions)
            done_rows = jnp.repeat(ts.done, n)
            carry = jnp.where(done_rows[:, None], agent.init_carry(st.params, N * n), carry)
            reward = (ts.reward + coef * ts.shaped_reward)[:, seats].reshape(N * n)
            st = st.replace(env_state=env_state, obs=ts.obs, carry=carry, key=key, episodes=st.episodes.track(ts))
            tr = {"obs": obs, "carry": carry_in, "action": action, "logp": logp, "value": value,
                  "reward": reward, "done": done_rows.astype(jnp.float32),
                  "entropy": P.entropy_of(probs), "routing": extras["routing"]}
            return st, tr

        state, tr = jax.lax.scan(env_step, state, None, length=c.num_steps)

        obs = state.obs[0].reshape((N * n, *state.obs[0].shape[2:]))
        _, _, last_value, _ = agent.policy(state.params, state.carry, obs, bias)
        adv, target = P.gae(tr["reward"], tr["value"], tr["done"], last_value, c.gamma, c.gae_lambda)

        # Rank cohorts by their return over this rollout; keep the top k (rows are cohort-major).
        cohort_return = tr["reward"].reshape(c.num_steps, K, -1).sum(0).mean(-1)  # (K,)
        top = jnp.argsort(-cohort_return)[: c.top_k]
        data = {k: tr[k] for k in ("obs", "carry", "action", "logp", "value")}
        data.update(advantage=adv, target=target, bias=jnp.broadcast_to(bias, (c.num_steps, *bias.shape)))

        def pick(x):
            x = x.reshape((c.num_steps, K, -1, *x.shape[2:]))[:, top]
            return x.reshape((-1, *x.shape[3:]))

        data = jax.tree.map(pick, data)
        coefs = P.LossCoefs(clip=c.clip, vf=c.vf_coef, ent=c.ent_coef, kl=c.kl_coef)

        def loss_fn(params, mb):
            _, logits, value, _ = agent.policy(params, mb["carry"], mb["obs"], mb["bias"])
            return P.policy_loss(logits, value, mb, coefs)

        key, k_upd = jax.random.split(state.key)
        params, opt_state, aux = P.minibatch_epochs(
            k_upd, state.params, state.opt_state, self.tx, data, loss_fn, c.update_epochs, c.num_minibatches
        )
        usage = tr["routing"].mean((0, 1))
        metrics = {
            "return": state.episodes.last_return[:, seats].mean(),
            "cohort_return_std": cohort_return.std(),
            "cohort_return_top": cohort_return[top].mean(),
            "action_entropy": tr["entropy"].mean(),
            "routing_entropy": P.entropy_of(tr["routing"]).mean(),
            **{f"expert_usage/{i}": usage[i] for i in range(self.num_experts)},
            **aux,
            "shaping_coef": coef,
        }
        metrics.update(state.episodes.env_metrics(spec))
        state = state.replace(params=params, opt_state=opt_state, key=key, update=state.update + 1)
        return state, metrics


def build_trainer(env, arch: str, arch_config: dict, config: IOPConfig) -> IOPTrainer:
    """One softmoe_gru agent for the one team of `env`."""

    if arch != "softmoe_gru":
        raise ValueError(f"IOP trains the softmoe_gru agent, not {arch!r}")
    if len(env.spec.teams) != 1:
        raise ValueError(f"IOP trains one cooperative team; {env.spec.id} has {len(env.spec.teams)} teams")
    team = env.spec.teams[0]
    agent = build_agent(arch, arch_config, team.obs_shape, team.obs_dtype, team.num_actions)
    return IOPTrainer(env=env, agent=agent, config=config)
