"""Feed-forward actor-critics whose parameter trees are JaxMARL's IPPO baselines' trees.

`mlp_actor_critic` is the ActorCritic of JaxMARL's `baselines/IPPO/ippo_ff_*.py` and
`cnn_actor_critic` the one of `baselines/IPPO/ippo_cnn_overcooked.py`: same layers, same
order, same flax auto-names, so `network.init(...)` in those scripts and `init_params` here
give the same tree, and params saved there with `jaxmarl.wrappers.baselines.save_params`
load here with no code (see `arena.checkpoint.load_jaxmarl_safetensors`).

The tree (defaults, A actions, D = flattened obs size):

    {"params": {"Dense_0": {"kernel": (D, 64), "bias": (64,)},    # actor
                "Dense_1": {"kernel": (64, 64), "bias": (64,)},
                "Dense_2": {"kernel": (64, A),  "bias": (A,)},     # logits
                "Dense_3": {"kernel": (D, 64), "bias": (64,)},    # critic
                "Dense_4": {"kernel": (64, 64), "bias": (64,)},
                "Dense_5": {"kernel": (64, 1),  "bias": (1,)}}}    # value

and safetensors keys are the paths joined with "," ("params,Dense_0,kernel", ...).
Initialisers follow the baselines (orthogonal, sqrt(2) hidden, 0.01 logits, 1.0 value) so a
fresh agent trains the way JaxMARL's does; they play no part in loading.

Every architecture arena's trainers train (these two and softmoe_gru) is a `TrainableAgent`:
one declared `policy` step, sampled by `sample_policy` both in training and in `act`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.initializers import constant, orthogonal

from arena.agent import Agent, ExtraSpec, register_arch

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def activation_fn(name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}") from None


def check_widths(name: str, value) -> None:
    """A config field that must be a tuple of positive ints (TOML gives lists, made tuples)."""
    if not isinstance(value, tuple) or not all(isinstance(w, int) and w > 0 for w in value):
        raise ValueError(f"{name} must be a list of positive integers, got {value!r}")


def check_positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def flatten_float(obs: jax.Array) -> jax.Array:
    """(B, *obs_shape) any dtype -> (B, prod(obs_shape)) float32.

    This is exactly what JaxMARL's feed-forward overcooked IPPO does: `batchify` reshapes each
    agent's (H, W, C) uint8 grid to one row and the first Dense promotes it to float32.
    """
    return obs.reshape((obs.shape[0], -1)).astype(jnp.float32)


def sample_policy(logits: jax.Array, key: jax.Array):
    """The one way a policy is sampled, by the trainers and by every trainable agent's `act`:
    (B, A) logits -> action (B,) int32, its log-probability (B,) and the distribution (B, A).

    `jax.random.categorical` is Gumbel-max, argmax(logits + Gumbel noise drawn from `key`).
    """
    logits = logits.astype(jnp.float32)
    action = jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), action[:, None], axis=-1)[:, 0]
    return action, logp, jax.nn.softmax(logits, axis=-1)


def policy_value_specs(num_actions: int) -> tuple[ExtraSpec, ...]:
    return (
        ExtraSpec("probs", (num_actions,)),  # the distribution the action was sampled from
        ExtraSpec("value", ()),  # the critic's estimate of the return from this step
    )


@functools.partial(jax.jit, static_argnums=0)
def jit_init(agent: Agent, key: jax.Array):
    """`agent.init_variables(key)` as one compiled program per agent description.

    Flax's init run op by op compiles every initialiser separately; one program is markedly
    faster to build, and equal descriptions share it.
    """
    return agent.init_variables(key)


@dataclasses.dataclass(frozen=True)
class TrainableAgent(Agent):
    """An agent arena's trainers can train. It declares one step,

        policy(params, carry, obs, conditioning) -> (carry, logits (B, A), value (B,), extras)

    and acts by sampling that policy with `sample_policy`, as the trainers do, so the policy
    trained is the policy evaluated. Feed-forward agents pass `carry` (``()``) through and take
    no conditioning (None); `extras` are the agent's own per-row outputs (softmoe_gru's
    routing), to which `act` adds `probs` and `value`.
    """

    def policy(self, params: Any, carry: Any, obs: jax.Array, conditioning: Any = None):
        raise NotImplementedError

    def init_variables(self, key: jax.Array) -> Any:
        """The flax variables {"params": ...} of a fresh agent (run under `jit_init`)."""
        raise NotImplementedError

    def init_params(self, key):
        return jit_init(self, key)

    def act(self, params, carry, obs, key):
        carry, logits, value, extras = self.policy(params, carry, obs)
        action, _, probs = sample_policy(logits, key)
        return carry, action, {**extras, "probs": probs, "value": value.astype(jnp.float32)}


@dataclasses.dataclass(frozen=True)
class FeedForwardAgent(TrainableAgent):
    """A TrainableAgent without memory or conditioning: its `module` maps preprocessed obs
    (B, ...) to logits (B, A) and value (B,); extras are probs and value."""

    @property
    def module(self) -> nn.Module:
        raise NotImplementedError

    def extras(self) -> tuple[ExtraSpec, ...]:
        return policy_value_specs(self.num_actions)

    def preprocess(self, obs: jax.Array) -> jax.Array:
        return obs.astype(jnp.float32)

    def init_variables(self, key):
        return self.module.init(key, self.preprocess(jnp.zeros((1, *self.obs_shape), self.obs_dtype)))

    def policy(self, params, carry, obs, conditioning=None):
        if conditioning is not None:
            raise ValueError(f"{self.arch} takes no conditioning")
        logits, value = self.module.apply(params, self.preprocess(obs))
        return carry, logits, value, {}


def _dense(features: int, scale: float, name: str | None = None) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=constant(0.0), name=name)


def _tower(x, hidden: tuple[int, ...], out: int, out_scale: float, act) -> jax.Array:
    for width in hidden:
        x = act(_dense(width, np.sqrt(2))(x))
    return _dense(out, out_scale)(x)


class MLPActorCritic(nn.Module):
    """Separate actor and critic towers over a flat float input: (B, D) -> (B, A), (B,)."""

    action_dim: int
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x):
        act = activation_fn(self.activation)
        # Call order fixes flax's auto-names: actor Dense_0..Dense_n, then the critic's.
        logits = _tower(x, self.hidden, self.action_dim, 0.01, act)
        value = _tower(x, self.hidden, 1, 1.0, act)
        return logits, jnp.squeeze(value, axis=-1)


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """JaxMARL's IPPO feed-forward ActorCritic; the defaults are the baseline's."""

    # Widths of the hidden layers of each tower (actor and critic alike).
    hidden: tuple[int, ...] = (64, 64)
    # "tanh" (the baseline's default) or "relu".
    activation: str = "tanh"
    # How obs become the network's input. "flatten": reshape (B, *obs_shape) to (B, -1) and
    # cast to float32, as JaxMARL's overcooked IPPO does.
    preprocess: str = "flatten"


PREPROCESS = {"flatten": flatten_float}


@register_arch
@dataclasses.dataclass(frozen=True)
class MLPActorCriticAgent(FeedForwardAgent):
    """Feed-forward actor-critic over the flattened observation (JaxMARL IPPO-FF layout)."""

    arch = "mlp_actor_critic"
    Config = MLPConfig
    doc = "feed-forward actor-critic, param tree of JaxMARL's IPPO-FF baselines"

    @property
    def module(self) -> MLPActorCritic:
        return MLPActorCritic(self.num_actions, tuple(self.config.hidden), self.config.activation)

    def validate(self) -> None:
        activation_fn(self.config.activation)
        if self.config.preprocess not in PREPROCESS:
            raise ValueError(
                f"unknown preprocess {self.config.preprocess!r}; choose from {', '.join(PREPROCESS)}"
            )
        check_widths("hidden", self.config.hidden)

    def preprocess(self, obs: jax.Array) -> jax.Array:
        return PREPROCESS[self.config.preprocess](obs)


class ConvTorso(nn.Module):
    """Same-padded convs, flatten, one dense layer: JaxMARL's overcooked `CNN`."""

    features: tuple[int, ...] = (32, 32, 32)
    kernels: tuple[int, ...] = (5, 3, 3)
    dense: int = 64
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x):
        act = activation_fn(self.activation)
        for feat, k in zip(self.features, self.kernels):
            x = nn.Conv(feat, (k, k), kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x)
            x = act(x)
        x = x.reshape((x.shape[0], -1))
        return act(_dense(self.dense, np.sqrt(2))(x))


@dataclasses.dataclass(frozen=True)
class CNNConfig:
    """Conv torso + actor/critic heads; the defaults are JaxMARL's ippo_cnn_overcooked."""

    # Output channels of each conv layer (same padding, stride 1).
    conv_features: tuple[int, ...] = (32, 32, 32)
    # Square kernel size of each conv layer; as many entries as conv_features.
    kernel_sizes: tuple[int, ...] = (5, 3, 3)
    # Width of the dense layer that ends the torso.
    torso_dense: int = 64
    # Hidden widths of each head (actor and critic alike) after the torso.
    head_hidden: tuple[int, ...] = (64,)
    # "tanh" (the baseline's default) or "relu".
    activation: str = "tanh"


class CNNActorCritic(nn.Module):
    """(B, H, W, C) float -> logits (B, A), value (B,); torso shared by both heads."""

    action_dim: int
    config: CNNConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        act = activation_fn(c.activation)
        # Named as flax names JaxMARL's `CNN` submodule, so its checkpoints load.
        emb = ConvTorso(tuple(c.conv_features), tuple(c.kernel_sizes), c.torso_dense, c.activation, name="CNN_0")(x)
        logits = _tower(emb, tuple(c.head_hidden), self.action_dim, 0.01, act)
        value = _tower(emb, tuple(c.head_hidden), 1, 1.0, act)
        return logits, jnp.squeeze(value, axis=-1)


@register_arch
@dataclasses.dataclass(frozen=True)
class CNNActorCriticAgent(FeedForwardAgent):
    """Actor-critic for grid observations (H, W, C), e.g. overcooked v1 and v2."""

    arch = "cnn_actor_critic"
    Config = CNNConfig
    doc = "conv torso actor-critic for grid obs, param tree of JaxMARL's ippo_cnn_overcooked"

    @property
    def module(self) -> CNNActorCritic:
        return CNNActorCritic(self.num_actions, self.config)

    def validate(self) -> None:
        activation_fn(self.config.activation)
        if len(self.obs_shape) != 3:
            raise ValueError(f"needs grid observations (H, W, C); got obs_shape {self.obs_shape}")
        c = self.config
        check_widths("conv_features", c.conv_features)
        check_widths("kernel_sizes", c.kernel_sizes)
        check_widths("head_hidden", c.head_hidden)
        check_positive("torso_dense", c.torso_dense)
        if len(c.conv_features) != len(c.kernel_sizes):
            raise ValueError("conv_features and kernel_sizes must have the same length")
