"""Independent PPO (IPPO) in self-play: one parameter set per team, shared by its seats.

PureJaxRL's state flow: `init(key)` builds the whole training state (params, optimizer
states, `num_envs` env states), `update(state)` rolls every env `num_steps` steps, computes
GAE and does `update_epochs` x `num_minibatches` clipped-PPO steps for each team. In
overcooked (one team, two cooks) both seats share one network, trained on both seats'
experience; in mpe_tag predators and prey are two teams trained simultaneously, each with
its own network, unless an `opponent` checkpoint plays one team frozen (its params sit in the
state, never updated) and only the others train against it. Rewards are the env's reward plus its `shaped_reward` times a coefficient
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

from arena.agents import build_agent
from arena.agents.actor_critic import TrainableAgent, sample_policy
from arena.agents.trainers import pieces as P
from arena.agents.trainers.contract import PolicyGradientConfig, PolicyGradientTrainer
from arena.checkpoint import LoadedAgent, load_agent
from arena.lineup import can_play


@dataclasses.dataclass(frozen=True)
class PPOConfig(PolicyGradientConfig):
    """IPPO hyperparameters (JaxMARL ippo_ff_overcooked defaults)."""

    # Parallel envs.
    num_envs: int = 16


@struct.dataclass
class PPOState:
    params: tuple  # per team
    opt_state: tuple  # per team
    env_state: Any  # (E, ...)
    # The env's traced params this run trains under (reward weights, payoffs, shaping): part
    # of the state, so a population of runs under different params is one vmap of `update`.
    env_params: Any
    obs: tuple  # per team (E, n_team_seats, *obs_shape)
    key: jax.Array
    update: jax.Array  # () int32, updates done
    episodes: P.EpisodeStats  # (E, ...)


@dataclasses.dataclass(frozen=True)
class PPOTrainer(PolicyGradientTrainer):
    """IPPO over `env` with one agent (a feed-forward TrainableAgent) per team; hashable, so
    jit-static."""

    env: Any
    agents: tuple  # per team
    config: PPOConfig
    frozen: tuple[int, ...] = ()  # teams the opponent plays, untrained
    opponent: str = ""  # the frozen opponent's checkpoint, read once by `seed_state`
    opponent_name: str = ""

    algorithm = "ippo"

    @property
    def title(self) -> str:
        return f"IPPO ({self.agents[0].arch})"

    @property
    def trained_with(self) -> str:
        teams = self.env.spec.teams
        if len(teams) == 1:
            return "self-play, one network shared by every seat"
        if self.frozen:
            trained = [t.name for k, t in enumerate(teams) if k not in self.frozen]
            fixed = [teams[k].name for k in self.frozen]
            return f"{' and '.join(trained)} trained against frozen {' and '.join(fixed)}: {self.opponent_name}"
        return "self-play: " + " and ".join(t.name for t in teams) + " trained simultaneously, one network per team"

    @property
    def _returns(self) -> tuple[str, ...]:
        teams = self.env.spec.teams
        return ("return",) if len(teams) == 1 else tuple(f"return/{t.name}" for t in teams)

    @property
    def progress_keys(self) -> tuple[str, ...]:
        return (*self._returns, *self.env.spec.headline_metrics)

    @property
    def curve_keys(self) -> tuple[str, ...]:
        metrics = (m.name for m in self.env.spec.metrics)
        return (*self._returns, *metrics, "shaping_coef", "entropy", "value_loss", "approx_kl")

    def team_params(self, state: PPOState, team: int):
        return state.params[team]

    def seed_state(self, state: PPOState) -> PPOState:
        """The frozen opponent's params into the state; broadcast over any leading axis of the
        state's (a population's members)."""
        if not self.frozen:
            return state
        fixed = load_agent(self.opponent).params

        def put(current, params):
            return jax.tree.map(lambda s, f: jnp.broadcast_to(jnp.asarray(f, s.dtype), s.shape), current, params)

        return state.replace(params=tuple(put(p, fixed) if k in self.frozen else p for k, p in enumerate(state.params)))

    def init(self, key: jax.Array, env_params: Any = None) -> PPOState:
        """The state of a fresh run trained under `env_params` (None: the env's defaults)."""
        env_params = self.env.default_params if env_params is None else env_params
        k_env, k_params, key = jax.random.split(key, 3)
        params = tuple(a.init_params(k) for a, k in zip(self.agents, jax.random.split(k_params, len(self.agents))))
        env_state, ts = P.vmapped_reset(self.env, k_env, self.config.num_envs, env_params)
        return PPOState(
            params=params,
            opt_state=tuple(self.tx.init(p) for p in params),
            env_state=env_state,
            env_params=env_params,
            obs=ts.obs,
            key=key,
            update=jnp.zeros((), jnp.int32),
            episodes=P.EpisodeStats.zeros(self.env.spec, self.config.num_envs),
        )

    def _act(self, params, obs, key):
        """All teams act: -> actions (E, S), per-team transition pieces."""
        E = self.config.num_envs
        actions = jnp.zeros((E, self.env.spec.num_seats), jnp.int32)
        pieces = []
        for t, (team, agent) in enumerate(zip(self.env.spec.teams, self.agents)):
            n = len(team.seats)
            flat = obs[t].reshape((E * n, *obs[t].shape[2:]))
            _, logits, value, _ = agent.policy(params[t], (), flat)
            key, k = jax.random.split(key)
            a, logp, _ = sample_policy(logits, k)
            actions = actions.at[:, jnp.asarray(team.seats)].set(a.reshape(E, n))
            pieces.append({"obs": flat, "action": a, "logp": logp, "value": value})
        return actions, pieces

    def update(self, state: PPOState):
        c, spec = self.config, self.env.spec
        E = c.num_envs
        env_steps = state.update * c.steps_per_update
        coef = P.linear_anneal(env_steps, c.shaping_horizon)

        def env_step(carry, _):
            st = carry
            key, k_act, k_env = jax.random.split(st.key, 3)
            actions, pieces = self._act(st.params, st.obs, k_act)
            env_state, ts = P.batch_step_autoreset(self.env, k_env, st.env_state, actions, st.env_params)
            reward = ts.reward + coef * ts.shaped_reward  # (E, S)
            done = ts.done
            for t, team in enumerate(spec.teams):
                n = len(team.seats)
                pieces[t]["reward"] = reward[:, jnp.asarray(team.seats)].reshape(E * n)
                pieces[t]["done"] = jnp.repeat(done, n).astype(jnp.float32)
            st = st.replace(env_state=env_state, obs=ts.obs, key=key, episodes=st.episodes.track(ts))
            return st, tuple(pieces)

        state, traj = jax.lax.scan(env_step, state, None, length=c.num_steps)

        key, k_upd = jax.random.split(state.key)
        new_params, new_opt, metrics = [], [], {}
        coefs = P.LossCoefs(clip=c.clip, vf=c.vf_coef, ent=c.ent_coef)
        for t, (team, agent) in enumerate(zip(spec.teams, self.agents)):
            suffix = "" if len(spec.teams) == 1 else f"/{team.name}"
            metrics[f"return{suffix}"] = state.episodes.last_return[:, jnp.asarray(team.seats)].mean()
            if t in self.frozen:
                new_params.append(state.params[t])
                new_opt.append(state.opt_state[t])
                continue
            n = len(team.seats)
            last_obs = state.obs[t].reshape((E * n, *state.obs[t].shape[2:]))
            _, _, last_value, _ = agent.policy(state.params[t], (), last_obs)
            tr = traj[t]
            adv, target = P.gae(tr["reward"], tr["value"], tr["done"], last_value, c.gamma, c.gae_lambda)
            data = {k: tr[k] for k in ("obs", "action", "logp", "value")}
            data.update(advantage=adv, target=target)
            data = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), data)

            def loss_fn(params, mb, agent=agent):
                _, logits, value, _ = agent.policy(params, (), mb["obs"])
                return P.policy_loss(logits, value, mb, coefs)

            k_upd, k = jax.random.split(k_upd)
            p, o, aux = P.minibatch_epochs(
                k, state.params[t], state.opt_state[t], self.tx, data, loss_fn, c.update_epochs, c.num_minibatches
            )
            new_params.append(p)
            new_opt.append(o)
            for k_, v in aux.items():
                metrics[f"{k_}{suffix}"] = v
        metrics.update(state.episodes.env_metrics(spec))
        metrics["shaping_coef"] = coef
        state = state.replace(
            params=tuple(new_params), opt_state=tuple(new_opt), key=key, update=state.update + 1
        )
        return state, metrics


def _feed_forward(agent) -> bool:
    return isinstance(agent, TrainableAgent) and not jax.tree.leaves(agent.init_carry(None, 1))


def opponent_team(env, opponent: LoadedAgent) -> int:
    """The team a frozen opponent plays: the one its manifest names, else the one it fits."""
    sides = env.spec.sides
    if len(sides) < 2 or len(env.spec.teams) < 2:
        raise ValueError(f"an opponent needs a team game; {env.spec.id} has one team")
    fits = [k for k, side in enumerate(sides) if can_play(opponent, env, side) is None]
    if len(fits) != 1:
        why = "; ".join(f"{s.name}: it {can_play(opponent, env, s)}" for s in sides if can_play(opponent, env, s))
        raise ValueError(f"opponent {opponent.source} must fit exactly one team of {env.spec.id} "
                         f"({'fits ' + ', '.join(sides[k].name for k in fits) if fits else why})")
    return sides[fits[0]].team


def build_trainer(env, arch: str, arch_config: dict, config: PPOConfig,
                  opponent: LoadedAgent | None = None) -> PPOTrainer:
    """One agent of `arch` per team of `env`, shaped for that team; with `opponent`, that
    checkpoint plays its team frozen and the other teams train."""

    agents = [build_agent(arch, arch_config, t.obs_shape, t.obs_dtype, t.num_actions) for t in env.spec.teams]
    frozen: tuple[int, ...] = ()
    if opponent is not None:
        k = opponent_team(env, opponent)
        if not _feed_forward(opponent.agent):
            raise ValueError(f"opponent {opponent.source}: PPO plays feed-forward actor-critics, not {opponent.agent.arch!r}")
        agents[k], frozen = opponent.agent, (k,)
    for k, a in enumerate(agents):
        if k not in frozen and not _feed_forward(a):
            raise ValueError(f"PPO trains feed-forward actor-critics (mlp_actor_critic, cnn_actor_critic), not {arch!r}")
    if opponent is None:
        return PPOTrainer(env=env, agents=tuple(agents), config=config)
    return PPOTrainer(env=env, agents=tuple(agents), config=config, frozen=frozen,
                      opponent=opponent.source, opponent_name=f"{opponent.name} ({opponent.manifest.params.sha256[:12]})")
