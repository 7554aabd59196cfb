"""In-match learners: agents whose carry is their own learning state (`arena.meta`).

`naive_learner` is the COALA-PG seed's naive co-player in the iterated prisoner's dilemma: a
tabular memory-1 policy (five logits of cooperating: first round, then after CC, CD, DC, DD
from its own perspective) that learns between inner episodes by A2C without bootstrapping
(REINFORCE with a tabular value baseline) on the batch of B coupled episodes it just played.

The carry holds the shared policy and values (one per meta-episode) beside per-row
accumulators. The gradient is accumulated online, so nothing of length T is stored: with
e_t = sum_{k<=t} gamma^(t-k) grad log pi(a_k | s_k) (an eligibility trace), the episode's
sum_t grad log pi_t (G_t - V(s_t)) equals sum_t (r_t e_t - grad log pi_t V(s_t)). At the
inner episode's last step the policy moves by `lr` times that sum over the batch divided by
the steps played (the mean per step of the batch's episode gradients), and each
state's value becomes the batch's mean return-to-go from it (where it was visited).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from arena.agent import Agent, ExtraSpec, Feedback, register_arch

STATES = ("start", "CC", "CD", "DC", "DD")


@dataclasses.dataclass(frozen=True)
class NaiveLearnerConfig:
    """A tabular memory-1 IPD policy that learns by A2C between inner episodes."""

    # Step size of the policy update (on the batch-mean episode gradient).
    lr: float = 3.0
    # Discount of the returns-to-go G_t inside an inner episode.
    discount: float = 0.96
    # Initial logit of cooperating, the same in the five states (0 = cooperate half the time).
    init_logit: float = 0.0
    # The learning state persists across inner episodes; false would make it forget each time.
    persist_carry: bool = True


@struct.dataclass
class LearnerCarry:
    logits: jax.Array  # (5,) float32, logit of cooperating per memory-1 state
    values: jax.Array  # (5,) float32, baseline per state
    state: jax.Array  # (B,) int32, each row's state at its last action
    grad: jax.Array  # (B,) float32, d log pi(a | s) / d logit at the last action
    trace: jax.Array  # (B, 5) discounted sum of grad log pi this episode
    visits: jax.Array  # (B, 5) discounted sum of state one-hots this episode
    acc_pi: jax.Array  # (B, 5) the episode's policy gradient so far
    acc_v: jax.Array  # (B, 5) sum over visits of return-to-go so far
    count: jax.Array  # (B, 5) visits so far


def state_index(obs: jax.Array) -> jax.Array:
    """(B, 5) matrix-game observations -> (B,) memory-1 state: 0 first round, 1 + joint action."""
    return jnp.where(obs[:, 4] > 0.5, 0, 1 + jnp.argmax(obs[:, :4], axis=-1)).astype(jnp.int32)


@register_arch
@dataclasses.dataclass(frozen=True)
class NaiveLearner(Agent):
    arch = "naive_learner"
    Config = NaiveLearnerConfig
    doc = "IPD memory-1 tabular policy that learns by A2C between a meta-episode's inner episodes"
    wants_feedback = True

    def extras(self) -> tuple[ExtraSpec, ...]:
        return (
            ExtraSpec("probs", (self.num_actions,), ("cooperate", "defect")),
            # p(cooperate) in each memory-1 state: the viewer draws the policy as it learns.
            ExtraSpec("policy", (5,), STATES),
        )

    def validate(self) -> None:
        if tuple(self.obs_shape) != (5,) or self.num_actions != 2:
            raise ValueError("naive_learner plays the matrix games (obs (5,), 2 actions); "
                             f"got obs {tuple(self.obs_shape)}, {self.num_actions} actions")
        if not 0.0 <= self.config.discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {self.config.discount}")

    def init_carry(self, params, batch: int) -> LearnerCarry:
        zeros = jnp.zeros((batch, 5), jnp.float32)
        return LearnerCarry(
            logits=jnp.full((5,), self.config.init_logit, jnp.float32),
            values=jnp.zeros((5,), jnp.float32),
            state=jnp.zeros((batch,), jnp.int32),
            grad=jnp.zeros((batch,), jnp.float32),
            trace=zeros, visits=zeros, acc_pi=zeros, acc_v=zeros, count=zeros,
        )

    def act(self, params, carry: LearnerCarry, obs, key):
        s = state_index(obs)
        p_coop = jax.nn.sigmoid(carry.logits[s])
        action = (jax.random.uniform(key, s.shape) >= p_coop).astype(jnp.int32)
        # d log pi(a | s) / d logit_s = 1[a = C] - p(C | s)
        grad = (action == 0).astype(jnp.float32) - p_coop
        probs = jnp.stack([p_coop, 1.0 - p_coop], axis=-1)
        policy = jnp.broadcast_to(jax.nn.sigmoid(carry.logits), (s.shape[0], 5))
        return carry.replace(state=s, grad=grad), action, {"probs": probs, "policy": policy}

    def feedback(self, params, carry: LearnerCarry, fb: Feedback) -> LearnerCarry:
        gamma = self.config.discount
        live = fb.live.astype(jnp.float32)[:, None]
        onehot = jax.nn.one_hot(carry.state, 5) * live
        g = onehot * carry.grad[:, None]
        v = carry.values[carry.state][:, None]
        trace = gamma * carry.trace + g
        visits = gamma * carry.visits + onehot
        r = fb.reward[:, None]
        acc_pi = carry.acc_pi + r * trace - g * v
        acc_v = carry.acc_v + r * visits
        count = carry.count + onehot
        updated = carry.replace(
            # The batch mean of the episodes' gradients, per step played (so `lr` does not
            # depend on the horizon).
            logits=carry.logits + self.config.lr * acc_pi.sum(0) / jnp.maximum(count.sum(), 1.0),
            values=jnp.where(count.sum(0) > 0, acc_v.sum(0) / jnp.maximum(count.sum(0), 1.0), carry.values),
            trace=jnp.zeros_like(trace), visits=jnp.zeros_like(visits),
            acc_pi=jnp.zeros_like(acc_pi), acc_v=jnp.zeros_like(acc_v), count=jnp.zeros_like(count),
        )
        running = carry.replace(trace=trace, visits=visits, acc_pi=acc_pi, acc_v=acc_v, count=count)
        return jax.tree.map(lambda a, b: jnp.where(fb.last_step, a, b), updated, running)
