"""Agents that carry a belief over a hidden class: the intent encoder and the belief predator.

`intent_encoder` is a GRU that reads one seat's observation each step and outputs a posterior
over the env's hidden classes (mpe_tag_intent's four corners, NE NW SE SW): trained
supervised by `arena train encoder` (agents/trainers/encoder.py). As an agent it only watches
(it always plays action 0, mpe's noop) and emits `belief (K,)`, so a match or
`arena calibration` can score it.

`belief_predator` is that encoder in front of a feed-forward policy trained on beliefs (a
mlp_actor_critic trained in mpe_tag_intent with `intent_obs="soft"`): each step the encoder
updates from the seat's own blind observation, and the policy acts on the observation with the
posterior appended, exactly the layout `intent_obs` gives. `flat_belief = true` replaces the
posterior by the uniform one (the ablation). It emits `belief`, `probs` and `value`.

Param layout (what the planner or any other user of the encoder reads):

    intent_encoder:  {"params": {"embed": {"kernel": (D, H), "bias": (H,)},
                                 "gru": GRUCell params (width G),
                                 "head": {"kernel": (G, K), "bias": (K,)}}}
    belief_predator: {"encoder": <intent_encoder params>, "policy": <mlp_actor_critic params,
                      input D + K>}

`encoder_step(config, params, h, obs) -> (h, logits)` is the one step both use; the carry
is `h` (B, G), zeros at an episode's start.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.initializers import orthogonal

from arena.agent import Agent, ExtraSpec, build_agent, register_arch
from arena.agents.actor_critic import (
    MLPActorCritic,
    activation_fn,
    check_positive,
    check_widths,
    policy_value_specs,
    sample_policy,
)
from arena.checkpoint import manifest_for, params_to_bytes

CORNERS = ("NE", "NW", "SE", "SW")  # mpe_tag_intent's intent order (its TruthSpec labels)


class EncoderNet(nn.Module):
    """One step: (h (B, G), obs (B, D)) -> (h, logits (B, K))."""

    hidden: int
    gru_width: int
    classes: int

    @nn.compact
    def __call__(self, h, x):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=orthogonal(2 ** 0.5), name="embed")(x))
        h, y = nn.GRUCell(self.gru_width, name="gru")(h, x)
        return h, nn.Dense(self.classes, kernel_init=orthogonal(0.01), name="head")(y)


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """A GRU posterior over a hidden class, read from one seat's observations."""

    # Width of the dense layer before the GRU.
    hidden: int = 64
    # Width of the GRU state.
    gru_width: int = 64
    # The classes, in the env's truth order (mpe_tag_intent: its corners).
    labels: tuple[str, ...] = CORNERS


def encoder_net(config) -> EncoderNet:
    return EncoderNet(config.hidden, config.gru_width, len(config.labels))


def encoder_step(config, params, h: jax.Array, obs: jax.Array):
    """One encoder update: h (B, G), obs (B, *obs_shape) -> (h, logits (B, K))."""
    return encoder_net(config).apply(params, h, obs.reshape((obs.shape[0], -1)).astype(jnp.float32))


def encoder_unroll(config, params, obs: jax.Array) -> jax.Array:
    """Logits at every step of whole episodes: obs (T, B, D) -> (T, B, K), from a zero state."""
    h0 = jnp.zeros((obs.shape[1], config.gru_width), jnp.float32)
    _, logits = jax.lax.scan(lambda h, o: encoder_step(config, params, h, o), h0, obs)
    return logits


def _check_encoder(config, obs_shape) -> None:
    check_positive("hidden", config.hidden)
    check_positive("gru_width", config.gru_width)
    if len(config.labels) < 2 or not all(isinstance(x, str) for x in config.labels):
        raise ValueError(f"labels must name at least two classes, got {config.labels!r}")
    if len(obs_shape) != 1:
        raise ValueError(f"needs vector (D,) obs; got {obs_shape}")


def _encoder_init(config, obs_shape, key):
    h = jnp.zeros((1, config.gru_width), jnp.float32)
    return encoder_net(config).init(key, h, jnp.zeros((1, *obs_shape), jnp.float32))


@register_arch
@dataclasses.dataclass(frozen=True)
class IntentEncoder(Agent):
    arch = "intent_encoder"
    Config = EncoderConfig
    doc = "GRU posterior over a hidden class (mpe_tag_intent's corner); watches (action 0), emits belief"

    def extras(self) -> tuple[ExtraSpec, ...]:
        return (ExtraSpec("belief", (len(self.config.labels),), tuple(self.config.labels)),)

    def validate(self) -> None:
        _check_encoder(self.config, self.obs_shape)

    def init_params(self, key):
        return _encoder_init(self.config, self.obs_shape, key)

    def init_carry(self, params, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.config.gru_width), jnp.float32)

    def act(self, params, carry, obs, key):
        h, logits = encoder_step(self.config, params, carry, obs)
        return h, jnp.zeros((obs.shape[0],), jnp.int32), {"belief": jax.nn.softmax(logits, axis=-1)}


@dataclasses.dataclass(frozen=True)
class BeliefPredatorConfig(EncoderConfig):
    """The intent encoder (its fields above) feeding a feed-forward policy."""

    # Hidden widths of the policy's actor and critic towers.
    policy_hidden: tuple[int, ...] = (64, 64)
    # The policy's activation: "tanh" or "relu".
    activation: str = "tanh"
    # Feed the policy the uniform belief instead of the encoder's (an ablation).
    flat_belief: bool = False


@register_arch
@dataclasses.dataclass(frozen=True)
class BeliefPredator(Agent):
    arch = "belief_predator"
    Config = BeliefPredatorConfig
    doc = "intent encoder + a policy acting on obs and posterior (trained on soft beliefs); emits belief"

    @property
    def policy_net(self) -> MLPActorCritic:
        return MLPActorCritic(self.num_actions, tuple(self.config.policy_hidden), self.config.activation)

    def extras(self) -> tuple[ExtraSpec, ...]:
        labels = tuple(self.config.labels)
        return (ExtraSpec("belief", (len(labels),), labels), *policy_value_specs(self.num_actions))

    def validate(self) -> None:
        _check_encoder(self.config, self.obs_shape)
        check_widths("policy_hidden", self.config.policy_hidden)
        activation_fn(self.config.activation)

    def init_params(self, key):
        k_enc, k_pol = jax.random.split(key)
        width = self.obs_shape[0] + len(self.config.labels)
        return {"encoder": _encoder_init(self.config, self.obs_shape, k_enc),
                "policy": self.policy_net.init(k_pol, jnp.zeros((1, width), jnp.float32))}

    def init_carry(self, params, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.config.gru_width), jnp.float32)

    def act(self, params, carry, obs, key):
        h, logits = encoder_step(self.config, params["encoder"], carry, obs)
        belief = jax.nn.softmax(logits, axis=-1)
        if self.config.flat_belief:
            belief = jnp.full_like(belief, 1.0 / belief.shape[-1])
        x = jnp.concatenate([obs.reshape((obs.shape[0], -1)).astype(jnp.float32), belief], axis=-1)
        pi_logits, value = self.policy_net.apply(params["policy"], x)
        action, _, probs = sample_policy(pi_logits, key)
        return h, action, {"belief": belief, "probs": probs, "value": value.astype(jnp.float32)}


def assemble_belief_predator(encoder, policy, *, name: str, flat_belief: bool = False):
    """A belief_predator from two loaded checkpoints: an `intent_encoder` and the policy it feeds
    (a mlp_actor_critic whose observation is the encoder's plus the belief) -> (manifest, params)."""
    enc, pol = encoder.agent, policy.agent
    if enc.arch != "intent_encoder" or pol.arch != "mlp_actor_critic":
        raise ValueError(f"needs an intent_encoder and a mlp_actor_critic, got {enc.arch} and {pol.arch}")
    width = enc.obs_shape[0] + len(enc.config.labels)
    if tuple(pol.obs_shape) != (width,) or pol.num_actions != enc.num_actions:
        raise ValueError(f"{policy.source}: the policy must observe ({width},) (the encoder's obs and belief) with "
                         f"{enc.num_actions} actions; it observes {tuple(pol.obs_shape)} with {pol.num_actions}")
    config = {"hidden": enc.config.hidden, "gru_width": enc.config.gru_width, "labels": list(enc.config.labels),
              "policy_hidden": list(pol.config.hidden), "activation": pol.config.activation, "flat_belief": flat_belief}
    agent = build_agent("belief_predator", config, enc.obs_shape, enc.obs_dtype, enc.num_actions)
    params = {"encoder": encoder.params, "policy": policy.params}
    m = policy.manifest
    # The policy's training record (algorithm, seed, steps, hyperparameters, ...), less the
    # return it measured with true soft beliefs: the assembled agent has not been measured.
    kept = {k: v for k, v in m.provenance.items() if not k.startswith("best_return")}
    provenance = {
        **kept,
        "assembled": "intent encoder + belief-trained policy",
        "encoder": {"name": encoder.name, "sha256": encoder.manifest.params.sha256,
                    "held_out": encoder.manifest.provenance.get("held_out")},
        "policy": {"name": policy.name, "sha256": m.params.sha256, "env_kwargs": dict(m.env_kwargs)},
        "flat_belief": flat_belief,
    }
    manifest = manifest_for(agent, name=name, env=encoder.manifest.env, params_bytes=params_to_bytes(params),
                            plays=tuple(encoder.manifest.plays), env_kwargs=dict(encoder.manifest.env_kwargs),
                            provenance=provenance,
                            description="intent encoder feeding a policy trained on soft beliefs"
                                        + (" (belief flattened)" if flat_belief else ""))
    return manifest, params
