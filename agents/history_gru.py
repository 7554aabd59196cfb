"""`history_gru`: a recurrent actor-critic over the whole history of a meta-episode.

The long-context policy of the COALA-PG seed (there a Hawk model; here a GRU, which carries
the same information at these lengths): its carry persists across a meta-episode's inner
episodes (`persist_carry`, true by default) and it asks for feedback, so each step's input is
its observation and the reward it got at the previous step, whichever inner episode that
was in. The previous joint action is in the matrix games' observation; across an inner
episode boundary the GRU state remembers it. In an ordinary match (no meta-episode) it plays
each episode from a fresh carry with previous reward 0.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from flax.linen.initializers import orthogonal

from arena.agent import ExtraSpec, Feedback, register_arch
from arena.agents.actor_critic import TrainableAgent, check_positive, jit_init, policy_value_specs


@dataclasses.dataclass(frozen=True)
class HistoryGRUConfig:
    """A GRU actor-critic fed observation and previous reward."""

    # Width of the GRU state.
    gru_width: int = 32
    # Width of the dense layer before the GRU.
    hidden: int = 32
    # Keep the GRU state (the history) across a meta-episode's inner episodes.
    persist_carry: bool = True


@struct.dataclass
class HistoryCarry:
    h: jax.Array  # (B, G) GRU state
    reward: jax.Array  # (B,) reward of the previous step (0 before the first)


class _Net(nn.Module):
    num_actions: int
    hidden: int
    gru_width: int

    @nn.compact
    def __call__(self, h, x):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(2 ** 0.5), name="embed")(x))
        h, y = nn.GRUCell(self.gru_width, name="gru")(h, x)
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01), name="actor")(y)
        value = nn.Dense(1, kernel_init=orthogonal(1.0), name="critic")(y)
        return h, logits, value[:, 0]


@register_arch
@dataclasses.dataclass(frozen=True)
class HistoryGRU(TrainableAgent):
    arch = "history_gru"
    Config = HistoryGRUConfig
    doc = "GRU actor-critic over a meta-episode's history (obs + previous reward), for COALA-PG"
    wants_feedback = True

    @property
    def module(self) -> _Net:
        return _Net(self.num_actions, self.config.hidden, self.config.gru_width)

    def extras(self) -> tuple[ExtraSpec, ...]:
        return policy_value_specs(self.num_actions)

    def validate(self) -> None:
        if len(self.obs_shape) != 1:
            raise ValueError(f"needs vector (D,) obs; got {self.obs_shape}")
        check_positive("gru_width", self.config.gru_width)
        check_positive("hidden", self.config.hidden)

    def init_variables(self, key):
        h = jnp.zeros((1, self.config.gru_width), jnp.float32)
        return self.module.init(key, h, jnp.zeros((1, self.obs_shape[0] + 1), jnp.float32))

    def init_params(self, key):
        return jit_init(self, key)

    def init_carry(self, params, batch: int) -> HistoryCarry:
        return HistoryCarry(jnp.zeros((batch, self.config.gru_width), jnp.float32), jnp.zeros((batch,), jnp.float32))

    def policy(self, params, carry: HistoryCarry, obs, conditioning=None):
        x = jnp.concatenate([obs.astype(jnp.float32), carry.reward[:, None]], axis=-1)
        h, logits, value = self.module.apply(params, carry.h, x)
        return carry.replace(h=h), logits, value, {}

    def feedback(self, params, carry: HistoryCarry, fb: Feedback) -> HistoryCarry:
        return carry.replace(reward=fb.reward.astype(jnp.float32))

    def unroll(self, params, obs: jax.Array, prev_reward: jax.Array, starts: jax.Array):
        """Re-run the policy over a recorded sequence (for the trainers' losses).

        obs (L, B, D), prev_reward (L, B), starts (L,) bool (an inner episode starts: the carry
        is reset there unless it persists) -> logits (L, B, A), values (L, B)."""
        fresh = self.init_carry(params, obs.shape[1])

        def step(carry, xs):
            o, r, start = xs
            if not self.persists_carry:
                carry = jax.tree.map(lambda a, b: jnp.where(start, a, b), fresh, carry)
            carry, logits, value, _ = self.policy(params, carry.replace(reward=r), o)
            return carry, (logits, value)

        _, (logits, values) = jax.lax.scan(step, fresh, (obs, prev_reward, starts))
        return logits, values
