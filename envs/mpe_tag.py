"""The `mpe_tag` env id: JaxMARL's MPE simple_tag (predator-prey), discrete actions.

Two teams: "predators" (JaxMARL's adversaries, seats 0..2, obs (16,) float32) and "prey"
(its good agents, seat 3, obs (14,) float32). Episodes last `max_steps` (25 by default) and
end by truncation. Metric `captures` counts predator-prey contacts in a step, the quantity
behind both teams' rewards (each predator gets 10 per contact).

JaxMARL's MPE modules are imported when the env is first built, through `jaxmarl_module`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from arena.env import MetricSpec, SideScore, TruthSpec, register
from arena.envs.jaxmarl_adapter import JaxMARLEnv, TeamLayout, build_jaxmarl_env, signature_options
from arena.envs.jaxmarl_import import jaxmarl_module

SIMPLE = "jaxmarl.environments.mpe.simple"
SIMPLE_TAG = "jaxmarl.environments.mpe.simple_tag"
DEFAULT_PARAMS = "jaxmarl.environments.mpe.default_params"

CAPTURES = MetricSpec("captures", reduce="sum")  # predator-prey contacts
# Ratings compare predators with predators (on the same prey) and prey with prey (on the same
# predators), never across teams: a capture is +10 for every predator and -10 for the prey.
SCORES = (
    SideScore("predators", CAPTURES.name, doc="captures per episode, what their reward counts"),
    SideScore("prey", "return", doc="its return: -10 a capture, and a penalty for leaving the arena"),
)

# JaxMARL has no action enum for MPE; this order is what `SimpleMPE._decode_discrete_action`
# does with 0..4: nothing, -x, +x, -y, +y.
ACTION_LABELS = ("noop", "left", "right", "down", "up")


# SimpleMPE swallows unknown keyword arguments (it reads a few physics options out of
# **kwargs), so a misspelt option would silently do nothing; arena checks names itself.
_PHYSICS_OPTIONS = {"moveable", "silent", "mass", "u_noise", "c_noise", "damping", "contact_force", "contact_margin"}


@functools.cache
def options() -> dict[str, str]:
    """Every option SimpleTagMPE (or the SimpleMPE it extends) really reads, with its default;
    the physics options are per entity, set by JaxMARL when not given."""
    named = signature_options(jaxmarl_module(SIMPLE_TAG).SimpleTagMPE, jaxmarl_module(SIMPLE).SimpleMPE)
    return {**named, **{name: "(per entity)" for name in sorted(_PHYSICS_OPTIONS)}}


def captures(env, prev_state, actions, state, reward) -> jax.Array:
    # The same contacts `SimpleTagMPE.rewards` counts: every (prey, predator) pair in touch
    # after the move.
    prey = jnp.arange(env.num_good_agents) + env.num_adversaries
    predators = jnp.arange(env.num_adversaries)
    touching = jax.vmap(
        lambda p: jax.vmap(lambda q: env.is_collision(p, q, state))(predators)
    )(prey)
    return jnp.sum(touching)


def make_mpe_tag(**kwargs) -> JaxMARLEnv:
    env_id = "mpe_tag"
    unknown = sorted(set(kwargs) - set(options()))
    if unknown:
        raise TypeError(f"unexpected options {unknown}")
    discrete = jaxmarl_module(DEFAULT_PARAMS).DISCRETE_ACT
    if kwargs.get("action_type", discrete) != discrete:
        # arena's actions are one int32 per seat.
        raise TypeError("mpe_tag supports discrete actions only")
    return tag_env(env_id, build_jaxmarl_env(env_id, jaxmarl_module(SIMPLE_TAG).SimpleTagMPE, **kwargs), kwargs)


def tag_env(env_id: str, env, kwargs: dict, truth: TruthSpec | None = None) -> JaxMARLEnv:
    """A built SimpleTagMPE (or subclass) as arena's predators-and-prey env with captures."""
    teams = (
        TeamLayout("predators", tuple(env.adversaries), ACTION_LABELS),
        TeamLayout("prey", tuple(env.good_agents), ACTION_LABELS),
    )
    return JaxMARLEnv(
        env_id,
        env,
        teams,
        (CAPTURES,),
        lambda *args: {CAPTURES.name: captures(*args)},
        kwargs=kwargs,
        scores=SCORES,
        truth=truth,
    )


register("mpe_tag", make_mpe_tag, options)
