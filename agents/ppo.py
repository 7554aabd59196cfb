"""Independent PPO (IPPO) in self-play: one parameter set per team, shared by its seats.

PureJaxRL's state flow: `init(key)` builds the whole training state (params, optimizer
states, `num_envs` env states), `update(state)` rolls every env `num_steps` steps, computes
GAE and does `update_epochs` x `num_minibatches` clipped-PPO steps for each team. In
overcooked (one team, two cooks) both seats share one network, trained on both seats'
experience; in mpe_tag predators and prey are two teams trained simultaneously, each with
its own network. Rewards are the env's reward plus its `shaped_reward` times a coefficient
falling linearly from 1 to 0 over `shaping_horizon` env steps, as JaxMARL's IPPO baselines
do on overcooked (envs without shaping give zeros, so it changes nothing there).

Defaults are JaxMARL's `baselines/IPPO/config/ippo_ff_overcooked.yaml`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from arena.agents import training as T


@dataclasses.dataclass(frozen=True)
class PPOConfig(T.PolicyGradientConfig):
    """IPPO hyperparameters (JaxMARL ippo_ff_overcooked defaults)."""

    # Parallel envs.
    num_envs: int = 16


@struct.dataclass
class PPOState:
    params: tuple  # per team
    opt_state: tuple  # per team
    env_state: Any  # (E, ...)
    obs: tuple  # per team (E, n_team_seats, *obs_shape)
    key: jax.Array
    update: jax.Array  # () int32, updates done
    ep_return: jax.Array  # (E, S) env reward summed over the running episode
    last_return: jax.Array  # (E, S) of the last finished episode
    ep_metrics: dict  # name -> (E,)
    last_metrics: dict  # name -> (E,)


@dataclasses.dataclass(frozen=True)
class PPOTrainer(T.PolicyGradientTrainer):
    """IPPO over `env` with one agent (architecture) per team; hashable, so jit-static."""

    env: Any
    agents: tuple  # per team
    config: PPOConfig

    algorithm = "ippo"

    @property
    def progress_keys(self) -> tuple[str, ...]:
        teams = self.env.spec.teams
        keys = ["return"] if len(teams) == 1 else [f"return/{t.name}" for t in teams]
        return (*keys, *(m.name for m in self.env.spec.metrics))

    @property
    def curve_keys(self) -> tuple[str, ...]:
        return (*self.progress_keys, "shaping_coef", "entropy", "value_loss", "approx_kl")

    def hyperparameters(self) -> dict:
        return dataclasses.asdict(self.config)

    def team_params(self, state: PPOState, team: int):
        return state.params[team]

    def init(self, key: jax.Array) -> PPOState:
        k_env, k_params, key = jax.random.split(key, 3)
        params = tuple(a.init_params(k) for a, k in zip(self.agents, jax.random.split(k_params, len(self.agents))))
        env_state, ts = T.vmapped_reset(self.env, k_env, self.config.num_envs)
        E, S = self.config.num_envs, self.env.spec.num_seats
        zeros = {m.name: jnp.zeros((E,), jnp.float32) for m in self.env.spec.metrics}
        return PPOState(
            params=params,
            opt_state=tuple(self.tx.init(p) for p in params),
            env_state=env_state,
            obs=ts.obs,
            key=key,
            update=jnp.zeros((), jnp.int32),
            ep_return=jnp.zeros((E, S), jnp.float32),
            last_return=jnp.zeros((E, S), jnp.float32),
            ep_metrics=zeros,
            last_metrics=zeros,
        )

    def _act(self, params, obs, key):
        """All teams act: -> actions (E, S), per-team transition pieces."""
        E = self.config.num_envs
        actions = jnp.zeros((E, self.env.spec.num_seats), jnp.int32)
        pieces = []
        for t, (team, agent) in enumerate(zip(self.env.spec.teams, self.agents)):
            n = len(team.seats)
            flat = obs[t].reshape((E * n, *obs[t].shape[2:]))
            logits, value = agent.apply(params[t], flat)
            key, k = jax.random.split(key)
            a = jax.random.categorical(k, logits).astype(jnp.int32)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), a[:, None], -1)[:, 0]
            actions = actions.at[:, jnp.asarray(team.seats)].set(a.reshape(E, n))
            pieces.append({"obs": flat, "action": a, "logp": logp, "value": value})
        return actions, pieces

    def update(self, state: PPOState):
        c, spec = self.config, self.env.spec
        E = c.num_envs
        env_steps = state.update * c.steps_per_update
        coef = T.linear_anneal(env_steps, c.shaping_horizon)

        def env_step(carry, _):
            st = carry
            key, k_act, k_env = jax.random.split(st.key, 3)
            actions, pieces = self._act(st.params, st.obs, k_act)
            env_state, ts = T.batch_step_autoreset(self.env, k_env, st.env_state, actions)
            reward = ts.reward + coef * ts.shaped_reward  # (E, S)
            done = ts.done
            for t, team in enumerate(spec.teams):
                n = len(team.seats)
                pieces[t]["reward"] = reward[:, jnp.asarray(team.seats)].reshape(E * n)
                pieces[t]["done"] = jnp.repeat(done, n).astype(jnp.float32)
            ep_return, last_return = T.track_episodes(st.ep_return, st.last_return, ts.reward, done)
            ep_m, last_m = {}, {}
            for k in st.ep_metrics:
                ep_m[k], last_m[k] = T.track_episodes(st.ep_metrics[k], st.last_metrics[k], ts.metrics[k], done)
            st = st.replace(
                env_state=env_state, obs=ts.obs, key=key, ep_return=ep_return, last_return=last_return,
                ep_metrics=ep_m, last_metrics=last_m,
            )
            return st, tuple(pieces)

        state, traj = jax.lax.scan(env_step, state, None, length=c.num_steps)

        key, k_upd = jax.random.split(state.key)
        new_params, new_opt, metrics = [], [], {}
        coefs = T.LossCoefs(clip=c.clip, vf=c.vf_coef, ent=c.ent_coef)
        for t, (team, agent) in enumerate(zip(spec.teams, self.agents)):
            n = len(team.seats)
            last_obs = state.obs[t].reshape((E * n, *state.obs[t].shape[2:]))
            _, last_value = agent.apply(state.params[t], last_obs)
            tr = traj[t]
            adv, target = T.gae(tr["reward"], tr["value"], tr["done"], last_value, c.gamma, c.gae_lambda)
            data = {k: tr[k] for k in ("obs", "action", "logp", "value")}
            data.update(advantage=adv, target=target)
            data = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), data)

            def loss_fn(params, mb, agent=agent):
                logits, value = agent.apply(params, mb["obs"])
                return T.policy_loss(logits, value, mb, coefs)

            k_upd, k = jax.random.split(k_upd)
            p, o, aux = T.minibatch_epochs(
                k, state.params[t], state.opt_state[t], self.tx, data, loss_fn, c.update_epochs, c.num_minibatches
            )
            new_params.append(p)
            new_opt.append(o)
            suffix = "" if len(spec.teams) == 1 else f"/{team.name}"
            metrics[f"return{suffix}"] = state.last_return[:, jnp.asarray(team.seats)].mean()
            for k_, v in aux.items():
                metrics[f"{k_}{suffix}"] = v
        for m in spec.metrics:
            # "mean" metrics are rates per step; episodes here end at the step limit.
            scale = 1.0 / spec.max_steps if m.reduce == "mean" else 1.0
            metrics[m.name] = state.last_metrics[m.name].mean() * scale
        metrics["shaping_coef"] = coef
        state = state.replace(
            params=tuple(new_params), opt_state=tuple(new_opt), key=key, update=state.update + 1
        )
        return state, metrics


def build_trainer(env, arch: str, config: PPOConfig, arch_config: dict | None = None) -> PPOTrainer:
    """One agent of `arch` per team of `env`, shaped for that team."""
    from arena.agents import build_agent

    agents = tuple(
        build_agent(arch, arch_config or {}, t.obs_shape, t.obs_dtype, t.num_actions) for t in env.spec.teams
    )
    for a in agents:
        if not hasattr(a, "apply") or not isinstance(a.init_carry(None, 1), tuple):
            raise ValueError(f"PPO trains feed-forward actor-critics (mlp_actor_critic, cnn_actor_critic), not {arch!r}")
    return PPOTrainer(env=env, agents=agents, config=config)


def train(
    env_id: str,
    *,
    out,
    seed: int = 0,
    steps: int = 5_000_000,
    arch: str = "mlp_actor_critic",
    arch_config: dict | None = None,
    env_kwargs: dict | None = None,
    config: dict | None = None,
    name: str | None = None,
    chunk: int = 10,
    checkpoint_every: int = 50,
    resume: bool = False,
    progress: bool = True,
) -> T.RunResult:
    """`arena train ppo`: build the trainer and run it; with `resume`, the settings recorded
    in the run's state file are used and the other arguments (but `out`) are ignored."""
    from pathlib import Path

    from arena.envs import make
    from arena.errors import UserError

    out = Path(out)
    if resume:
        meta = T.recorded_run(out, "ppo")
        env_id, seed, arch, arch_config, env_kwargs, config, name = (
            meta["env"], meta["seed"], meta["arch"], meta["arch_config"], meta["env_kwargs"], meta["config"], meta["name"]
        )
        out = Path(meta["out"]) if not out.name.endswith(".ckpt") else out
    else:
        config = {**(config or {}), "total_steps": int(steps)}
    env = make(env_id, **(env_kwargs or {}))
    try:
        cfg = PPOConfig(**config)
    except TypeError as err:
        raise UserError(f"bad PPO setting: {err}") from None
    if cfg.num_envs * cfg.num_steps % cfg.num_minibatches:
        raise UserError("num_envs * num_steps must be divisible by num_minibatches")
    from arena.agents import ArchError

    try:
        trainer = build_trainer(env, arch, cfg, arch_config)
    except (ArchError, ValueError) as err:
        raise UserError(str(err)) from None
    base = name or out.with_suffix("").name
    teams = env.spec.teams
    if len(teams) == 1:
        outputs = [T.Output(out, trainer.agents[0], 0, ())]
        names = [base]
    else:
        stem = out.with_suffix("") if out.suffix == ".ckpt" else out
        outputs = [
            T.Output(stem.parent / f"{stem.name}-{t.name}.ckpt", a, k, (t.name,))
            for k, (t, a) in enumerate(zip(teams, trainer.agents))
        ]
        names = [f"{base}-{t.name}" for t in teams]
    meta = {
        "trainer": "ppo", "env": env_id, "seed": seed, "arch": arch, "arch_config": arch_config or {},
        "env_kwargs": env_kwargs or {}, "config": dataclasses.asdict(cfg), "name": base, "out": str(out),
    }
    trained_with = "self-play, one network shared by every seat" if len(teams) == 1 else \
        "self-play: " + " and ".join(t.name for t in teams) + " trained simultaneously, one network per team"
    return T.run_training(
        trainer, out=out, outputs=outputs, seed=seed, meta=meta, chunk=chunk,
        checkpoint_every=checkpoint_every, resume=resume, progress=progress,
        manifest_fields=lambda team: {
            "name": names[team], "env_kwargs": dict(env_kwargs or {}), "trained_with": trained_with,
            "description": f"IPPO ({arch}) on {env_id}, seed {seed}",
        },
    )
