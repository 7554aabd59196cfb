"""The `mpe_tag_intent` env id: simple_tag where the prey has a hidden corner it wants to reach.

JaxMARL's MPE simple_tag (3 predators, 1 prey, 25 steps, +10 to every predator and -10 to the
prey per capture), plus a per-episode secret: at reset the prey is assigned one of the four
corners (state leaf `intent`, int32, index order NE NW SE SW, the corners at (+-0.75, +-0.75)),
and the prey earns, every step, a bonus for being near it:

    bonus = CORNER_BONUS * max(0, 1 - d / CORNER_RANGE),  d = |prey - its corner|
    CORNER_BONUS = 1.0, CORNER_RANGE = 1.5

so at most +1 a step (+25 an episode on the corner from step one), felt from anywhere but the
far side of the arena. The magnitude makes the corner worth about two captures over an
episode: a trained prey heads for its corner, which its trajectory then reveals, yet still
breaks away from predators (a capture costs 10). (At 0.5 a step a co-trained prey ended
nearest its own corner in only 72% of episodes.) The seed does not give its reward; this one
is arena's.

The prey observes its corner: its obs is simple_tag's (14,) plus the one-hot intent (18,).
Predators observe simple_tag's (16,) and nothing of the intent, unless the static option
`intent_obs` appends a 4-vector `hint` (a state leaf, so replays hold it):

- `"none"` (default): nothing appended, predators obs (16,);
- `"true"`: the oracle, one-hot of the true corner;
- `"random"`: one-hot of a corner drawn uniformly per episode, independent of the truth (the
  seed's "oracle fed a random corner": right a quarter of the time);
- `"soft"`: a belief centred on the true corner, `s * onehot(intent) + (1 - s) / 4` with the
  sharpness `s ~ U(0, 1)` drawn per episode, so p(true) is uniform on [0.25, 1]: what a
  belief-conditioned predator trains on, to hedge when flat and commit when sharp.

Obstacles (JaxMARL's two landmarks) are placed at random each reset (`obstacles="random"`,
JaxMARL's behaviour) or pinned (`obstacles="pinned"`, at `pinned_positions`, by default
(0.5, 0.5) and (-0.5, -0.5), the seed's Exp 2 layout).

The env exposes `spec.truth = TruthSpec("intent", ("NE", "NW", "SE", "SW"))`, observed by the
prey (and by the predators too under `intent_obs="true"`). Metric and scores are mpe_tag's.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from arena.env import TruthSpec, register
from arena.envs.jaxmarl_adapter import JaxMARLEnv, build_jaxmarl_env, option_text
from arena.envs.jaxmarl_import import jaxmarl_module
from arena.envs.mpe_tag import SIMPLE, SIMPLE_TAG, tag_env

CORNER_LABELS = ("NE", "NW", "SE", "SW")
CORNERS = ((0.75, 0.75), (-0.75, 0.75), (0.75, -0.75), (-0.75, -0.75))  # (x, y), label order
CORNER_BONUS = 1.0  # the prey's reward a step on its corner
CORNER_RANGE = 1.5  # distance at which the bonus falls to zero
INTENT_OBS = ("none", "true", "random", "soft")
OBSTACLES = ("random", "pinned")
# The prey observes its corner; predators only under the oracle option (`intent_obs="true"`):
# a soft or random hint is evidence, not the truth.
TRUTH = TruthSpec("intent", CORNER_LABELS, observed_by=("prey",))
ORACLE_TRUTH = TruthSpec("intent", CORNER_LABELS, observed_by=("predators", "prey"))

_DEFAULTS = {
    "intent_obs": "none",
    "obstacles": "random",
    "pinned_positions": [[0.5, 0.5], [-0.5, -0.5]],
    "max_steps": 25,
}


def options() -> dict[str, str]:
    """The options with their defaults as --env-kw takes them (JSON)."""
    return {name: option_text(value) for name, value in _DEFAULTS.items()}


def corner_bonus(prey_pos: jax.Array, intent: jax.Array) -> jax.Array:
    """() float32: the prey's per-step reward for being near its corner."""
    d = jnp.linalg.norm(prey_pos - jnp.asarray(CORNERS, jnp.float32)[intent])
    return CORNER_BONUS * jnp.maximum(0.0, 1.0 - d / CORNER_RANGE)


def draw_hint(key: jax.Array, intent: jax.Array, intent_obs: str) -> jax.Array:
    """(4,) float32: what predators are shown of the corner under `intent_obs`."""
    k_corner, k_sharp = jax.random.split(key)
    truth = jax.nn.one_hot(intent, 4, dtype=jnp.float32)
    if intent_obs == "random":
        return jax.nn.one_hot(jax.random.randint(k_corner, (), 0, 4), 4, dtype=jnp.float32)
    if intent_obs == "soft":
        s = jax.random.uniform(k_sharp, ())
        return s * truth + (1.0 - s) / 4.0
    return truth  # "true"; "none" stores it too but never shows it


@functools.cache
def _intent_class():
    """SimpleTagMPE with the intent in its state; built on first use so JaxMARL loads lazily."""
    from flax import struct

    base_state = jaxmarl_module(SIMPLE).State
    tag = jaxmarl_module(SIMPLE_TAG).SimpleTagMPE

    @struct.dataclass
    class IntentState(base_state):
        intent: jax.Array = None  # () int32, the prey's corner, index into CORNER_LABELS
        hint: jax.Array = None  # (4,) float32, what `intent_obs` shows the predators

    class SimpleTagIntentMPE(tag):
        def __init__(self, intent_obs="none", obstacles="random", pinned_positions=None, **kwargs):
            super().__init__(**kwargs)
            self.intent_obs = intent_obs
            self.obstacles = obstacles
            self.pinned = jnp.asarray(pinned_positions, jnp.float32)

        def reset(self, key):
            # SimpleMPE.reset's draws (agents and landmarks uniform in [-1, 1]^2), written out
            # because it builds a plain State and observes it before the intent exists.
            k_agents, k_landmarks, k_intent, k_hint = jax.random.split(key, 4)
            agents = jax.random.uniform(k_agents, (self.num_agents, 2), minval=-1.0, maxval=1.0)
            landmarks = jax.random.uniform(k_landmarks, (self.num_landmarks, 2), minval=-1.0, maxval=1.0)
            if self.obstacles == "pinned":
                landmarks = self.pinned
            intent = jax.random.randint(k_intent, (), 0, 4, dtype=jnp.int32)
            state = IntentState(
                p_pos=jnp.concatenate([agents, landmarks]),
                p_vel=jnp.zeros((self.num_entities, self.dim_p)),
                c=jnp.zeros((self.num_agents, self.dim_c)),
                done=jnp.array(False),
                step=jnp.array(0),
                intent=intent,
                hint=draw_hint(k_hint, intent, self.intent_obs),
            )
            return self.get_obs(state), state

        def get_obs(self, state):
            obs = super().get_obs(state)
            corner = jax.nn.one_hot(state.intent, 4, dtype=jnp.float32)
            out = {a: jnp.concatenate([obs[a], corner]) for a in self.good_agents}
            for a in self.adversaries:
                out[a] = obs[a] if self.intent_obs == "none" else jnp.concatenate([obs[a], state.hint])
            return out

        def rewards(self, state):
            rew = super().rewards(state)
            for i, a in enumerate(self.good_agents):
                rew[a] = rew[a] + corner_bonus(state.p_pos[self.num_adversaries + i], state.intent)
            return rew

    return SimpleTagIntentMPE


def make_mpe_tag_intent(**kwargs) -> JaxMARLEnv:
    unknown = sorted(set(kwargs) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unexpected options {unknown}")
    opts = {**_DEFAULTS, **kwargs}
    if opts["intent_obs"] not in INTENT_OBS:
        raise TypeError(f"intent_obs must be one of {', '.join(INTENT_OBS)}, not {opts['intent_obs']!r}")
    if opts["obstacles"] not in OBSTACLES:
        raise TypeError(f"obstacles must be one of {', '.join(OBSTACLES)}, not {opts['obstacles']!r}")
    pinned = jnp.asarray(opts["pinned_positions"], jnp.float32)
    if pinned.shape != (2, 2):
        raise TypeError(f"pinned_positions must be two [x, y] pairs, not {opts['pinned_positions']!r}")
    env = build_jaxmarl_env("mpe_tag_intent", _intent_class(), **opts)
    return tag_env("mpe_tag_intent", env, kwargs, truth=ORACLE_TRUTH if opts["intent_obs"] == "true" else TRUTH)


register("mpe_tag_intent", make_mpe_tag_intent, options)
