"""A small belief-emitting predator for tests, over the real mpe_tag_intent: it chases the prey
and keeps a running posterior over the prey's corner (each step adds -|prey - corner|^2 /
temperature to the corner's log-odds, so the belief sharpens as the prey commits). Its carry
is that log-posterior, so a replay's belief column is only right when the carry was threaded
step by step. Importing this module registers the architecture (in this process only)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from arena.agent import Agent, ExtraSpec, register_arch
from arena.envs.mpe_tag_intent import CORNER_LABELS, CORNERS

ARCH = "test_corner_tracker"


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
    temperature: float = 0.5  # in squared distance: lower sharpens faster
    labels: tuple[str, ...] = CORNER_LABELS  # what the belief's entries are declared to be


@register_arch
@dataclasses.dataclass(frozen=True)
class CornerTracker(Agent):
    arch = ARCH
    Config = TrackerConfig

    def extras(self):
        return (ExtraSpec("belief", (len(self.config.labels),), tuple(self.config.labels)),)

    def init_params(self, key):
        return {"temperature": jnp.asarray(self.config.temperature, jnp.float32)}

    def init_carry(self, params, batch):
        return jnp.zeros((batch, len(self.config.labels)), jnp.float32)

    def act(self, params, carry, obs, key):
        # simple_tag's predator obs: vel (2), pos (2), landmarks (4), other predators (4),
        # the prey's position relative to this predator (2), the prey's velocity (2).
        rel = obs[:, 12:14]
        prey = obs[:, 2:4] + rel
        corners = jnp.asarray(CORNERS, jnp.float32)[: len(self.config.labels)]
        carry = carry - ((prey[:, None, :] - corners[None]) ** 2).sum(-1) / params["temperature"]
        toward = jnp.where(jnp.abs(rel[:, 0]) > jnp.abs(rel[:, 1]), jnp.where(rel[:, 0] > 0, 2, 1),
                           jnp.where(rel[:, 1] > 0, 4, 3))
        return carry, toward.astype(jnp.int32), {"belief": jax.nn.softmax(carry, axis=-1)}
