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

from arena.agents import training as T


@dataclasses.dataclass(frozen=True)
class IOPConfig(T.PolicyGradientConfig):
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

    def validate(self, num_experts: int) -> None:
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
    update: jax.Array
    ep_return: jax.Array  # (N, S)
    last_return: jax.Array  # (N, S)
    ep_metrics: dict
    last_metrics: dict


def entropy_of(p: jax.Array) -> jax.Array:
    """Entropy along the last axis of probabilities p."""
    return -(p * jnp.log(jnp.clip(p, 1e-12))).sum(-1)


@dataclasses.dataclass(frozen=True)
class IOPTrainer(T.PolicyGradientTrainer):
    env: Any
    agent: Any  # SoftMoEGRUAgent
    config: IOPConfig

    algorithm = "iop"

    @property
    def num_experts(self) -> int:
        return self.agent.config.num_experts

    @property
    def progress_keys(self) -> tuple[str, ...]:
        return ("return", *(m.name for m in self.env.spec.metrics), "cohort_return_std")

    @property
    def curve_keys(self) -> tuple[str, ...]:
        usage = tuple(f"expert_usage/{i}" for i in range(self.num_experts))
        return (*self.progress_keys, "action_entropy", "routing_entropy", *usage)

    def hyperparameters(self) -> dict:
        sigma, bias = cohort_perturbations(self.config, self.num_experts)
        return {**dataclasses.asdict(self.config), "cohort_sigma": sigma.tolist(), "cohort_expert_bias": bias.tolist()}

    def team_params(self, state, team: int):
        return state.params

    @property
    def seats(self) -> int:
        return len(self.env.spec.teams[0].seats)

    def init(self, key):
        c = self.config
        k_env, k_params, key = jax.random.split(key, 3)
        params = self.agent.init_params(k_params)
        env_state, ts = T.vmapped_reset(self.env, k_env, c.num_envs)
        N, S = c.num_envs, self.env.spec.num_seats
        zeros = {m.name: jnp.zeros((N,), jnp.float32) for m in self.env.spec.metrics}
        return IOPState(
            params=params, opt_state=self.tx.init(params), env_state=env_state, obs=ts.obs,
            carry=self.agent.init_carry(params, N * self.seats), key=key,
            update=jnp.zeros((), jnp.int32), ep_return=jnp.zeros((N, S), jnp.float32),
            last_return=jnp.zeros((N, S), jnp.float32), ep_metrics=zeros, last_metrics=zeros,
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
        coef = T.linear_anneal(state.update * c.steps_per_update, c.shaping_horizon)

        def env_step(st, _):
            key, k_noise, k_act, k_env = jax.random.split(st.key, 4)
            obs = st.obs[0].reshape((N * n, *st.obs[0].shape[2:]))
            carry_in = st.carry + sigma[:, None] * jax.random.normal(k_noise, st.carry.shape)
            carry, logits, value, routing = agent.apply(st.params, carry_in, obs, bias)
            action = jax.random.categorical(k_act, logits).astype(jnp.int32)
            logp_all = jax.nn.log_softmax(logits)
            logp = jnp.take_along_axis(logp_all, action[:, None], -1)[:, 0]
            actions = jnp.zeros((N, spec.num_seats), jnp.int32).at[:, seats].set(action.reshape(N, n))
            env_state, ts = T.batch_step_autoreset(self.env, k_env, st.env_state, actions)
            done_rows = jnp.repeat(ts.done, n)
            carry = jnp.where(done_rows[:, None], agent.init_carry(st.params, N * n), carry)
            reward = (ts.reward + coef * ts.shaped_reward)[:, seats].reshape(N * n)
            ep_return, last_return = T.track_episodes(st.ep_return, st.last_return, ts.reward, ts.done)
            ep_m, last_m = {}, {}
            for k in st.ep_metrics:
                ep_m[k], last_m[k] = T.track_episodes(st.ep_metrics[k], st.last_metrics[k], ts.metrics[k], ts.done)
            st = st.replace(env_state=env_state, obs=ts.obs, carry=carry, key=key, ep_return=ep_return,
                            last_return=last_return, ep_metrics=ep_m, last_metrics=last_m)
            tr = {"obs": obs, "carry": carry_in, "action": action, "logp": logp, "value": value,
                  "reward": reward, "done": done_rows.astype(jnp.float32),
                  "entropy": entropy_of(jnp.exp(logp_all)), "routing": routing}
            return st, tr

        state, tr = jax.lax.scan(env_step, state, None, length=c.num_steps)

        obs = state.obs[0].reshape((N * n, *state.obs[0].shape[2:]))
        _, _, last_value, _ = agent.apply(state.params, state.carry, obs, bias)
        adv, target = T.gae(tr["reward"], tr["value"], tr["done"], last_value, c.gamma, c.gae_lambda)

        # Rank cohorts by their return over this rollout; keep the top k (rows are cohort-major).
        cohort_return = tr["reward"].reshape(c.num_steps, K, -1).sum(0).mean(-1)  # (K,)
        top = jnp.argsort(-cohort_return)[: c.top_k]
        data = {k: tr[k] for k in ("obs", "carry", "action", "logp", "value")}
        data.update(advantage=adv, target=target, bias=jnp.broadcast_to(bias, (c.num_steps, *bias.shape)))

        def pick(x):
            x = x.reshape((c.num_steps, K, -1, *x.shape[2:]))[:, top]
            return x.reshape((-1, *x.shape[3:]))

        data = jax.tree.map(pick, data)
        coefs = T.LossCoefs(clip=c.clip, vf=c.vf_coef, ent=c.ent_coef, kl=c.kl_coef)

        def loss_fn(params, mb):
            _, logits, value, _ = agent.apply(params, mb["carry"], mb["obs"], mb["bias"])
            return T.policy_loss(logits, value, mb, coefs)

        key, k_upd = jax.random.split(state.key)
        params, opt_state, aux = T.minibatch_epochs(
            k_upd, state.params, state.opt_state, self.tx, data, loss_fn, c.update_epochs, c.num_minibatches
        )
        usage = tr["routing"].mean((0, 1))
        metrics = {
            "return": state.last_return[:, seats].mean(),
            "cohort_return_std": cohort_return.std(),
            "cohort_return_top": cohort_return[top].mean(),
            "action_entropy": tr["entropy"].mean(),
            "routing_entropy": entropy_of(tr["routing"]).mean(),
            **{f"expert_usage/{i}": usage[i] for i in range(self.num_experts)},
            **aux,
            "shaping_coef": coef,
        }
        for m in spec.metrics:
            scale = 1.0 / spec.max_steps if m.reduce == "mean" else 1.0
            metrics[m.name] = state.last_metrics[m.name].mean() * scale
        state = state.replace(params=params, opt_state=opt_state, key=key, update=state.update + 1)
        return state, metrics


def build_trainer(env, config: IOPConfig, arch_config: dict | None = None) -> IOPTrainer:
    from arena.agents import build_agent

    if len(env.spec.teams) != 1:
        raise ValueError(f"IOP trains one cooperative team; {env.spec.id} has {len(env.spec.teams)} teams")
    team = env.spec.teams[0]
    agent = build_agent("softmoe_gru", arch_config or {}, team.obs_shape, team.obs_dtype, team.num_actions)
    config.validate(agent.config.num_experts)
    return IOPTrainer(env=env, agent=agent, config=config)


def train(
    env_id: str,
    *,
    out,
    seed: int = 0,
    steps: int = 1_000_000,
    arch_config: dict | None = None,
    env_kwargs: dict | None = None,
    config: dict | None = None,
    name: str | None = None,
    chunk: int = 10,
    checkpoint_every: int = 50,
    resume: bool = False,
    progress: bool = True,
) -> T.RunResult:
    """`arena train iop`; with `resume`, the recorded run's settings are used."""
    from pathlib import Path

    from arena.agents import ArchError
    from arena.envs import make
    from arena.errors import UserError

    out = Path(out)
    if resume:
        meta = T.recorded_run(out, "iop")
        env_id, seed, arch_config, env_kwargs, config, name = (
            meta["env"], meta["seed"], meta["arch_config"], meta["env_kwargs"], meta["config"], meta["name"]
        )
    else:
        config = {**(config or {}), "total_steps": int(steps)}
    env = make(env_id, **(env_kwargs or {}))
    try:
        cfg = IOPConfig(**config)
        trainer = build_trainer(env, cfg, arch_config)
    except (TypeError, ValueError, ArchError) as err:
        raise UserError(f"iop: {err}") from None
    base = name or out.with_suffix("").name
    meta = {"trainer": "iop", "env": env_id, "seed": seed, "arch": "softmoe_gru", "arch_config": arch_config or {},
            "env_kwargs": env_kwargs or {}, "config": dataclasses.asdict(cfg), "name": base, "out": str(out)}
    return T.run_training(
        trainer, out=out, outputs=[T.Output(out, trainer.agent, 0, ())], seed=seed, meta=meta, chunk=chunk,
        checkpoint_every=checkpoint_every, resume=resume, progress=progress,
        manifest_fields=lambda team: {
            "name": base, "env_kwargs": dict(env_kwargs or {}),
            "trained_with": "internal other-play: self-play under K perturbed internal states, top-k cohorts learned from",
            "description": f"IOP (softmoe_gru) on {env_id}, seed {seed}",
        },
    )
