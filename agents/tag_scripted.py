"""Scripted predator-prey agents that read their observation only: fixed, known behaviour for
tests and baselines in mpe_tag and mpe_tag_intent.

    corner_prey   the prey of mpe_tag_intent heads straight for its corner, ignoring predators
    chaser        each predator steps toward the prey's observed position

Both move along the larger axis of the offset to their target (MPE's discrete actions: 1 -x,
2 +x, 3 -y, 4 +y) and stop (0) within `stop` of it. Observation layouts are JaxMARL's
simple_tag: a prey sees [vel 2, pos 2, landmarks 4, other agents 6] and in mpe_tag_intent
its corner one-hot (4) after them; a predator sees [vel 2, pos 2, landmarks 4, two other
predators 4, prey 2, prey vel 2], positions of others relative to its own.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from arena.agent import Agent, ExtraSpec, register_arch

# mpe_tag_intent's corners in its label order NE NW SE SW (the env's CORNERS).
CORNERS = ((0.75, 0.75), (-0.75, 0.75), (0.75, -0.75), (-0.75, -0.75))


def toward(offset: jax.Array, stop: float) -> jax.Array:
    """(B, 2) offsets to a target -> (B,) int32 MPE actions along the larger axis (0 if near)."""
    along_x = jnp.abs(offset[:, 0]) >= jnp.abs(offset[:, 1])
    move = jnp.where(along_x, jnp.where(offset[:, 0] < 0, 1, 2), jnp.where(offset[:, 1] < 0, 3, 4))
    return jnp.where(jnp.linalg.norm(offset, axis=-1) < stop, 0, move).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class SeekConfig:
    """How close counts as arrived."""

    # Distance to the target under which the agent stops (action 0).
    stop: float = 0.05


@dataclasses.dataclass(frozen=True)
class _Seeker(Agent):
    """Moves toward `target(obs)`; its probs are one-hot on the move."""

    Config = SeekConfig
    obs_sizes: ClassVar[tuple[int, ...]] = ()  # the observation lengths its layout reads
    extras_names = ("probs (A,)",)  # for `arena archs`, which builds it on another observation

    def extras(self) -> tuple[ExtraSpec, ...]:
        return (ExtraSpec("probs", (self.num_actions,)),)

    def validate(self) -> None:
        if len(self.obs_shape) != 1 or self.obs_shape[0] not in self.obs_sizes or self.num_actions != 5:
            raise ValueError(f"reads an observation of {' or '.join(map(str, self.obs_sizes))} numbers and 5 actions; "
                             f"got obs {tuple(self.obs_shape)}, {self.num_actions} actions")

    def target_offset(self, obs: jax.Array) -> jax.Array:
        raise NotImplementedError

    def act(self, params, carry, obs, key):
        action = toward(self.target_offset(obs.astype(jnp.float32)), self.config.stop)
        return carry, action, {"probs": jax.nn.one_hot(action, self.num_actions, dtype=jnp.float32)}


@register_arch
@dataclasses.dataclass(frozen=True)
class CornerPrey(_Seeker):
    arch = "corner_prey"
    doc = "mpe_tag_intent prey that heads straight for its corner (scripted; its path reveals the corner)"
    obs_sizes = (18,)

    def target_offset(self, obs):
        corner = jnp.asarray(CORNERS, jnp.float32)[jnp.argmax(obs[:, 14:18], axis=-1)]
        return corner - obs[:, 2:4]


@register_arch
@dataclasses.dataclass(frozen=True)
class Chaser(_Seeker):
    arch = "chaser"
    doc = "mpe_tag predator that steps toward the prey's observed position (scripted)"
    obs_sizes = (16, 20)  # 20: mpe_tag_intent with a corner hint appended, which it ignores

    def target_offset(self, obs):
        return obs[:, 12:14]
