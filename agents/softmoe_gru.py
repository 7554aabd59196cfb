"""The Internal Other-Play agent: CNN encoder -> Soft MoE -> GRU -> action and value heads.

From the IOP seed (SoftMoE-GRU trained with GRPO on overcooked v2):

    obs (H, W, C) -> CNN encoder (128) -> SoftMoE (4 experts, 256) -> GRU (256)
                  -> action logits, value

The experts are meant to specialise (gathering, cooking, recipe, partner); the routing weights
are emitted each step as the `routing` extra so the viewer can show which expert was used.

Soft MoE follows Puigcerver et al. (2023, "From sparse to soft mixtures of experts"): with
tokens X (N, d) and slot parameters Phi (d, E*S), logits = X Phi; dispatch weights are a
softmax over tokens (each slot takes a mix of tokens), combine weights a softmax over slots
(each token takes a mix of slot outputs). The agent has one token per step (N = 1), where this
reduces to the seed's description: a softmax gate over the experts and the gate-weighted sum of
expert MLP outputs. The paper's l2-normalisation of X and Phi is left out (it matters for large
d and long token sequences, not here).

Trainers call the declared step `policy(params, carry, obs, expert_bias)` (see
`TrainableAgent`), which returns the new carry, logits, value and the routing extra; IOP's
hidden-state perturbation is a change to the carry (B, gru_width) before the call, its expert
bias (the conditioning) an additive (B, E) or (E,) term on the routing logits.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.initializers import constant, lecun_normal, orthogonal

from arena.agent import ExtraSpec, register_arch
from arena.agents.actor_critic import (
    TrainableAgent,
    activation_fn,
    check_positive,
    check_widths,
    policy_value_specs,
)

EXPERT_LABELS = ("gathering", "cooking", "recipe", "partner")


class SoftMoE(nn.Module):
    """Soft mixture of experts over tokens: (B, N, d) -> (B, N, out), routing (B, E).

    Experts are two-layer MLPs, stored stacked (one kernel per expert along axis 0) so all
    experts run as one einsum. `routing` is each expert's share of the combine weights,
    averaged over tokens: non-negative, sums to 1 per row.
    """

    num_experts: int = 4
    slots_per_expert: int = 1
    expert_hidden: int = 256
    out_features: int = 256
    temperature: float = 1.0
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, expert_bias=None):
        batch, tokens, d = x.shape
        e, s, h, o = self.num_experts, self.slots_per_expert, self.expert_hidden, self.out_features
        act = activation_fn(self.activation)
        phi = self.param("slots", lecun_normal(), (d, e * s))
        logits = jnp.einsum("bnd,dk->bnk", x, phi) / self.temperature
        if expert_bias is not None:
            bias = jnp.broadcast_to(expert_bias, (batch, e)).astype(logits.dtype)
            logits = logits + jnp.repeat(bias, s, axis=-1)[:, None, :]
        dispatch = jax.nn.softmax(logits, axis=1)  # over tokens: what each slot reads
        combine = jax.nn.softmax(logits, axis=2)  # over slots: what each token gets back
        slot_in = jnp.einsum("bnk,bnd->bkd", dispatch, x).reshape(batch, e, s, d)

        w1 = self.param("expert_w1", lecun_normal(batch_axis=(0,)), (e, d, h))
        b1 = self.param("expert_b1", constant(0.0), (e, h))
        w2 = self.param("expert_w2", lecun_normal(batch_axis=(0,)), (e, h, o))
        b2 = self.param("expert_b2", constant(0.0), (e, o))
        hid = act(jnp.einsum("besd,edh->besh", slot_in, w1) + b1[None, :, None, :])
        slot_out = jnp.einsum("besh,eho->beso", hid, w2) + b2[None, :, None, :]

        y = jnp.einsum("bnk,bko->bno", combine, slot_out.reshape(batch, e * s, o))
        routing = combine.reshape(batch, tokens, e, s).sum(-1).mean(1)
        return y, routing


@dataclasses.dataclass(frozen=True)
class SoftMoEGRUConfig:
    """The IOP seed's architecture; defaults are the seed's (overcooked v2, 6 actions)."""

    # Output channels of the encoder's conv layers (3x3, same padding); grid obs only.
    conv_features: tuple[int, ...] = (32, 32)
    # Square kernel size of every encoder conv.
    kernel_size: int = 3
    # Width of the encoder's output embedding (the seed: 128).
    encoder_width: int = 128
    # Number of experts E (the seed: 4).
    num_experts: int = 4
    # Soft MoE slots per expert; with one token per step, more slots add capacity per expert.
    slots_per_expert: int = 1
    # Hidden and output width of each expert MLP (the seed: 256).
    expert_width: int = 256
    # GRU hidden size, the carry's width (the seed: 256).
    gru_width: int = 256
    # Divides the routing logits: below 1 sharpens the gate (the seed's --moe_temperature).
    routing_temperature: float = 1.0
    # "relu" or "tanh", used in encoder and experts.
    activation: str = "relu"
    # Labels of the experts, one per expert, shown with the routing bars.
    expert_labels: tuple[str, ...] = EXPERT_LABELS


class SoftMoEGRU(nn.Module):
    """One step: (carry (B, G), obs (B, H, W, C) float) -> carry, logits, value, routing."""

    action_dim: int
    config: SoftMoEGRUConfig

    @nn.compact
    def __call__(self, carry, x, expert_bias=None):
        c = self.config
        act = activation_fn(c.activation)
        if x.ndim == 4:  # grid obs: conv encoder
            for feat in c.conv_features:
                x = act(nn.Conv(feat, (c.kernel_size, c.kernel_size))(x))
        x = x.reshape((x.shape[0], -1))
        emb = act(nn.Dense(c.encoder_width, name="encoder")(x))

        moe_out, routing = SoftMoE(
            c.num_experts, c.slots_per_expert, c.expert_width, c.expert_width,
            float(c.routing_temperature), c.activation, name="moe",
        )(emb[:, None, :], expert_bias)
        carry, h = nn.GRUCell(c.gru_width, name="gru")(carry, moe_out[:, 0, :])

        logits = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), name="actor")(h)
        value = nn.Dense(1, kernel_init=orthogonal(1.0), name="critic")(h)
        return carry, logits, jnp.squeeze(value, -1), routing


@register_arch
@dataclasses.dataclass(frozen=True)
class SoftMoEGRUAgent(TrainableAgent):
    """Recurrent Soft MoE agent (Internal Other-Play); carry is the GRU state (B, gru_width)."""

    arch = "softmoe_gru"
    Config = SoftMoEGRUConfig
    # Checkpoints written before it was retired (the zoo's IOP agents among them) record it.
    retired_config = frozenset({"gumbel_temperature"})
    doc = "CNN -> SoftMoE -> GRU actor-critic (Internal Other-Play); emits expert routing"

    @property
    def module(self) -> SoftMoEGRU:
        return SoftMoEGRU(self.num_actions, self.config)

    def extras(self) -> tuple[ExtraSpec, ...]:
        c = self.config
        routing = ExtraSpec("routing", (c.num_experts,), tuple(c.expert_labels))  # gate weights, sum to 1
        return (routing, *policy_value_specs(self.num_actions))

    def validate(self) -> None:
        c = self.config
        activation_fn(c.activation)
        if len(self.obs_shape) not in (1, 3):
            raise ValueError(f"needs grid (H, W, C) or vector (D,) obs; got {self.obs_shape}")
        check_widths("conv_features", c.conv_features)
        for name in ("kernel_size", "encoder_width", "num_experts", "slots_per_expert",
                     "expert_width", "gru_width"):
            check_positive(name, getattr(c, name))
        if c.expert_labels and len(c.expert_labels) != c.num_experts:
            raise ValueError(
                f"expert_labels has {len(c.expert_labels)} entries for {c.num_experts} experts"
            )
        if c.routing_temperature <= 0:
            raise ValueError("routing_temperature must be positive")

    def init_variables(self, key):
        carry = jnp.zeros((1, self.config.gru_width), jnp.float32)
        return self.module.init(key, carry, jnp.zeros((1, *self.obs_shape), jnp.float32))

    def init_carry(self, params, batch: int):
        return jnp.zeros((batch, self.config.gru_width), jnp.float32)

    def policy(self, params, carry, obs, conditioning=None):
        """One step: -> (carry (B, G), logits (B, A), value (B,), {"routing": (B, E)}).

        `conditioning` is an expert bias ((E,) or (B, E)) added to the routing logits, e.g.
        IOP's cohort bias toward chosen experts; perturb the hidden state by changing `carry`.
        """
        carry, logits, value, routing = self.module.apply(params, carry, obs.astype(jnp.float32), conditioning)
        return carry, logits, value, {"routing": routing.astype(jnp.float32)}
