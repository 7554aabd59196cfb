"""`belief_planner`: a predator team that plans on the true simulator against the prey's
hidden intent drawn from a belief (the opponent-modelling seed's Exp 6 planner, with Exp 3's
per-agent Monte-Carlo search).

Privileged (`arena.agent.World`): every step, for each predator i (coordinate descent: the
teammates stay on the base predator policy) and each of the A root actions a, K rollouts of
H steps of the env's own `step` from the current state:

    corner c ~ belief_i;  state.intent <- c      (the env's truth leaf, `spec.truth`)
    t = 0:      predator i plays a, teammates the base policy, the prey samples its policy
                on its observation of that state (which shows it corner c)
    t = 1..H-1: every predator the base policy, the prey its policy
    score(i, a) = mean over K of sum_t gamma^t r_i(t)  [+ gamma^H V_base(obs_i(H))]

and predator i plays argmax_a score(i, a), ties going to the base policy's own action (when
no rollout sees a capture and there is no leaf value, it acts as the base policy). The K
rollouts share their keys across the A candidates (common random numbers), so candidates are
compared on the same sampled corners and prey moves. Rows, candidates and rollouts are vmap
axes and the H steps a scan: one decision is 3 * A * K * H env steps in one jitted call.

belief_i comes from `belief`: "encoder" (an agent emitting `belief`, run on predator i's own
observations, its carry the planner's), "flat" (uniform: the ablation), "point" (all mass on
`corner`, for tests) or "truth" (all mass on the true corner, read from the state: the oracle
planner). Params: {"prey", "predator"[, "encoder"]}, each the params of the agent named in the
config. `build(prey=..., predators=..., encoder=...)` makes one from checkpoints.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp

from arena.agent import Agent, ArchError, ExtraSpec, World, build_agent, register_arch
from arena.agents.ensemble import member_spec
from arena.checkpoint import load_agent, manifest_for, params_to_bytes
from arena.errors import UserError

BELIEFS = ("encoder", "flat", "point", "truth")
# Added to the base policy's action before the argmax: below any difference a rollout can
# make (rewards are multiples of the capture reward, values are floats of order one or more).
TIE_BREAK = 1e-4


@dataclasses.dataclass(frozen=True)
class PlannerConfig:
    """The policies the rollouts run, where the belief comes from, and the search's size."""

    # The prey policy sampled in rollouts: {arch = ..., config = {...}}, feed-forward.
    prey: Any = (("arch", "mlp_actor_critic"), ("config", ()))
    # The prey's observation shape (mpe_tag_intent's prey sees its corner: 18 numbers).
    prey_obs_shape: tuple[int, ...] = (18,)
    # The base predator policy (teammates, and every predator after the root step), on the
    # planner's own observation: {arch = ..., config = {...}}, feed-forward.
    predator: Any = (("arch", "mlp_actor_critic"), ("config", ()))
    # One of BELIEFS: encoder, flat, point, truth.
    belief: str = "encoder"
    # belief = "encoder": an agent on the predator observation that emits `belief`; else ().
    encoder: Any = ()
    # belief = "point": the corner (index into labels) that gets all the mass.
    corner: int = 0
    # The hidden classes, in the env's truth order (mpe_tag_intent's corners).
    labels: tuple[str, ...] = ("NE", "NW", "SE", "SW")
    # K rollouts per candidate and H steps per rollout (the seed's 5 and 3).
    rollouts: int = 5
    horizon: int = 3
    # Discount of rewards within a rollout (and of the leaf value).
    gamma: float = 0.9
    # Add gamma^H times the base predator's critic value at the rollout's last observation
    # (the base policy must emit `value`). Off by default: a PPO critic of mpe_tag_intent's
    # blind predators, which sees no clock and was fitted to the stochastic policy's returns,
    # told root actions apart worse than the rollouts' own captures did (measured, with the
    # true corner, K=5, H=3: 5.6 captures an episode without it, 2.2 with it; reactive 3.2).
    leaf_value: bool = False
    # Base predators play their most probable action in rollouts (the seed's argmax Q);
    # false samples them. The prey is always sampled.
    greedy: bool = True


def _member(spec: Any, what: str, obs_shape, obs_dtype: str, num_actions: int) -> Agent:
    try:
        arch, config = member_spec(spec)
        agent = build_agent(arch, config, obs_shape, obs_dtype, num_actions)
    except (ValueError, ArchError) as err:
        raise ValueError(f"{what}: {err}") from None
    if agent.privileged:
        raise ValueError(f"{what}: {arch!r} is privileged; the planner's policies act on observations")
    try:
        memory = jax.tree.leaves(agent.init_carry(None, 1))
    except Exception:  # noqa: BLE001  (an init_carry that needs its params has memory)
        memory = [None]
    if memory and what != "encoder":
        raise ValueError(f"{what}: {arch!r} has memory; rollouts restart from a state, so it must be feed-forward")
    return agent


@register_arch
@dataclasses.dataclass(frozen=True)
class BeliefPlanner(Agent):
    arch = "belief_planner"
    Config = PlannerConfig
    doc = "predators planning on the true simulator, the prey's intent drawn from a belief (Exp 6)"
    privileged = True
    extras_names = ("belief (C,)", "scores (A,)", "probs (A,)", "value ()")

    @functools.cached_property
    def prey(self) -> Agent:
        return _member(self.config.prey, "prey", tuple(self.config.prey_obs_shape), "float32", self.num_actions)

    @functools.cached_property
    def predator(self) -> Agent:
        return _member(self.config.predator, "predator", self.obs_shape, self.obs_dtype, self.num_actions)

    @functools.cached_property
    def encoder(self) -> Agent | None:
        if self.config.belief != "encoder":
            return None
        return _member(self.config.encoder, "encoder", self.obs_shape, self.obs_dtype, self.num_actions)

    def extras(self) -> tuple[ExtraSpec, ...]:
        return (
            ExtraSpec("belief", (len(self.config.labels),), tuple(self.config.labels)),  # over the hidden corner
            ExtraSpec("scores", (self.num_actions,)),  # each root action's estimated return
            ExtraSpec("probs", (self.num_actions,)),  # one-hot on the chosen action
            ExtraSpec("value", ()),  # the chosen action's score
        )

    def validate(self) -> None:
        c = self.config
        if c.belief not in BELIEFS:
            raise ValueError(f"unknown belief {c.belief!r}; choose from {', '.join(BELIEFS)}")
        if c.belief == "encoder" and not c.encoder:
            raise ValueError("belief 'encoder' needs an encoder: {arch = ..., config = {...}} (or belief 'flat')")
        if c.belief != "encoder" and c.encoder:
            raise ValueError(f"belief {c.belief!r} reads no encoder; drop it or use belief 'encoder'")
        if not 0 <= c.corner < len(c.labels):
            raise ValueError(f"corner {c.corner} is out of range for {len(c.labels)} labels")
        for name in ("rollouts", "horizon"):
            value = getattr(c, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= c.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {c.gamma!r}")
        named = {e.name: e.shape for e in self.predator.extras()}
        if c.greedy and named.get("probs") != (self.num_actions,):
            raise ValueError("greedy rollouts take the base predator's most probable action: it must emit probs")
        if c.leaf_value and named.get("value") != ():
            raise ValueError("leaf_value reads the base predator's critic: it must emit value (or set leaf_value false)")
        self.prey  # noqa: B018  (builds and so validates it)
        if self.encoder is not None:
            shapes = {e.name: e.shape for e in self.encoder.extras()}
            if shapes.get("belief") != (len(c.labels),):
                raise ValueError(f"encoder {self.encoder.arch!r} emits no belief ({len(c.labels)},)")

    def as_data(self, params):
        """A point belief's corner is data: planners that differ in it share a compiled call."""
        if self.config.belief != "point":
            return self, params
        return dataclasses.replace(self, config=dataclasses.replace(self.config, corner=0)), {
            **params, "corner": jnp.int32(self.config.corner)}

    def init_params(self, key):
        k_prey, k_pred, k_enc = jax.random.split(key, 3)
        params = {"prey": self.prey.init_params(k_prey), "predator": self.predator.init_params(k_pred)}
        if self.encoder is not None:
            params["encoder"] = self.encoder.init_params(k_enc)
        return params

    def init_carry(self, params, batch: int):
        return () if self.encoder is None else self.encoder.init_carry(params["encoder"], batch)

    # ------------------------------------------------------------ the step

    def act(self, params, carry, obs, key, world: World):
        layout = _Layout.of(world, self.config.labels)
        k_enc, k_base, k_roll = jax.random.split(key, 3)
        carry, belief = self._belief(params, carry, obs, k_enc, world)
        rows = obs.shape[0]
        base, _ = self._base(params, obs, k_base)
        roll_keys = jax.random.split(k_roll, rows * self.config.rollouts).reshape(rows, self.config.rollouts, -1)
        candidates = jnp.arange(self.num_actions)

        def row_scores(row, belief_row, ks):
            # (A, K): the same K keys (corners, prey moves) for every candidate.
            return jax.vmap(lambda a: jax.vmap(lambda k: self._rollout(params, world, layout, belief_row, row, a, k))(ks))(
                candidates)

        scores = jax.vmap(row_scores)(jnp.arange(rows), belief, roll_keys).mean(axis=-1)  # (B, A)
        choice = scores + TIE_BREAK * jax.nn.one_hot(base, self.num_actions)
        action = jnp.argmax(choice, axis=-1).astype(jnp.int32)
        extras = {
            "belief": belief,
            "scores": scores,
            "probs": jax.nn.one_hot(action, self.num_actions, dtype=jnp.float32),
            "value": jnp.take_along_axis(scores, action[:, None], axis=-1)[:, 0],
        }
        return carry, action, extras

    def _belief(self, params, carry, obs, key, world: World):
        """(carry, (B, C) belief) for the rows."""
        c = self.config
        n, rows = len(c.labels), obs.shape[0]
        if c.belief == "encoder":
            assert self.encoder is not None
            carry, _, extras = self.encoder.act(params["encoder"], carry, obs, key)
            return carry, extras["belief"].astype(jnp.float32)
        if c.belief == "flat":
            return carry, jnp.full((rows, n), 1.0 / n, jnp.float32)
        corner = world.env.truth(world.state) if c.belief == "truth" else params.get("corner", c.corner)
        return carry, jnp.broadcast_to(jax.nn.one_hot(corner, n, dtype=jnp.float32), (rows, n))

    def _base(self, params, obs, key):
        """The base predator on (n, D) observations: (its action (n,), sampled or greedy; value (n,) or 0)."""
        _, action, extras = self.predator.act(params["predator"], (), obs, key)
        if self.config.greedy:
            action = jnp.argmax(extras["probs"], axis=-1).astype(jnp.int32)
        return action, extras.get("value", jnp.zeros(action.shape, jnp.float32))

    def _rollout(self, params, world: World, layout: _Layout, belief_row, row, root_action, key) -> jax.Array:
        """() float32: predator `row`'s discounted return over one rollout, plus the leaf value."""
        env, c = world.env, self.config
        k_corner, k_steps, k_leaf = jax.random.split(key, 3)
        corner = jax.random.categorical(k_corner, jnp.log(belief_row)).astype(jnp.int32)
        state = world.state.replace(**{layout.leaf: corner})
        member = jnp.asarray(layout.members)[row]
        seat = jnp.asarray(world.seats)[row]

        def step(carry, t):
            state, obs, alive, ret, disc = carry
            k_pred, k_prey, k_env = jax.random.split(jax.random.fold_in(k_steps, t), 3)
            team_actions, _ = self._base(params, obs[layout.team], k_pred)
            team_actions = team_actions.at[member].set(jnp.where(t == 0, root_action, team_actions[member]))
            _, prey_actions, _ = self.prey.act(params["prey"], (), obs[layout.other].astype(jnp.float32), k_prey)
            actions = jnp.zeros((env.spec.num_seats,), jnp.int32)
            actions = actions.at[jnp.asarray(layout.team_seats)].set(team_actions)
            actions = actions.at[jnp.asarray(layout.other_seats)].set(prey_actions.astype(jnp.int32))
            state, ts = env.step(k_env, state, actions, world.params)
            ret = ret + disc * alive * ts.reward[seat]
            return (state, ts.obs, alive & ~ts.done, ret, disc * c.gamma), None

        zero = jnp.zeros((), jnp.float32)
        init = (state, env.observe(state), jnp.ones((), jnp.bool_), zero, jnp.ones((), jnp.float32))
        (_, obs, alive, ret, disc), _ = jax.lax.scan(step, init, jnp.arange(c.horizon))
        if c.leaf_value:
            _, value = self._base(params, obs[layout.team], k_leaf)
            ret = ret + disc * alive * value[member]
        return ret


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where the planner's rows sit in the env (static, from its spec): its team, their
    members in the team's observation group, and the one other team the prey policy plays."""

    leaf: str
    team: int
    members: tuple[int, ...]
    team_seats: tuple[int, ...]
    other: int
    other_seats: tuple[int, ...]

    @staticmethod
    def of(world: World, labels: tuple[str, ...]) -> _Layout:
        spec = world.env.spec
        if spec.truth is None or tuple(spec.truth.labels) != tuple(labels):
            has = f"hidden classes {', '.join(spec.truth.labels)}" if spec.truth else "no hidden class"
            raise UserError(f"belief_planner plans over hidden classes {', '.join(labels)} (e.g. mpe_tag_intent's "
                            f"corners), and {spec.id} has {has}")
        team = next(k for k, t in enumerate(spec.teams) if world.seats[0] in t.seats)
        others = [k for k in range(len(spec.teams)) if k != team]
        if len(others) != 1:
            raise UserError(f"belief_planner plays a team against one other team; {spec.id} has {len(spec.teams)} teams")
        seats = spec.teams[team].seats
        return _Layout(spec.truth.leaf, team, tuple(seats.index(s) for s in world.seats), tuple(seats),
                       others[0], tuple(spec.teams[others[0]].seats))


def build(*, prey: str | os.PathLike, predators: str | os.PathLike, encoder: str | os.PathLike | None = None,
          belief: str | None = None, name: str = "belief-planner", **search: Any):
    """A planner from checkpoints: (manifest, params), for `arena.checkpoint.save_checkpoint`.

    `prey` is the prey policy the rollouts sample (an mpe_tag_intent prey that sees its
    corner), `predators` the base predator policy (blind: its observation is the planner's),
    `encoder` the belief's source. `belief` defaults to "encoder" when one is given, else
    "flat"; `search` sets other config fields (rollouts, horizon, gamma, leaf_value, greedy,
    corner). The manifest's env is the predators' and its provenance names the three files.
    """
    loaded = {"prey": load_agent(prey), "predator": load_agent(predators)}
    if encoder is not None:
        loaded["encoder"] = load_agent(encoder)
    belief = belief or ("encoder" if encoder is not None else "flat")
    if belief == "encoder" and encoder is None:
        raise UserError("belief 'encoder' needs the encoder checkpoint (encoder=...)")
    members = {k: {"arch": v.manifest.arch, "config": v.manifest.arch_config} for k, v in loaded.items()}
    pred = loaded["predator"].manifest
    config = {"prey": members["prey"], "predator": members["predator"], "encoder": members.get("encoder", ()),
              "prey_obs_shape": list(loaded["prey"].manifest.obs_shape), "belief": belief, **search}
    if belief != "encoder":
        config["encoder"] = ()
        loaded.pop("encoder", None)
    agent = build_agent("belief_planner", config, pred.obs_shape, pred.obs_dtype, pred.num_actions)
    params = {k: v.params for k, v in loaded.items()}
    manifest = manifest_for(
        agent, name=name, env=pred.env, params_bytes=params_to_bytes(params), env_kwargs=dict(pred.env_kwargs),
        plays=("predators",),
        description=f"belief_planner ({belief} belief, K={agent.config.rollouts}, H={agent.config.horizon})",
        provenance={"algorithm": "belief_planner", **{k: {"name": v.manifest.name, "sha256": v.manifest.params.sha256}
                                                      for k, v in loaded.items()}},
    )
    return manifest, params

