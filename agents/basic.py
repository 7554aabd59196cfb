"""Agents without learned weights: uniform random and scripted rules.

Both obey the full agent protocol (params are an empty dict, carries are arrays or ()), so a
tournament treats them exactly like trained agents: as partners, opponents or baselines.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from arena.agent import Agent, ExtraSpec, register_arch
from arena.envs.mpe_tag_intent import CORNERS


@dataclasses.dataclass(frozen=True)
class RandomConfig:
    """The random agent has no settings."""


@register_arch
@dataclasses.dataclass(frozen=True)
class RandomAgent(Agent):
    """Uniform over all actions, whatever it observes."""

    arch = "random"
    Config = RandomConfig
    doc = "uniform random actions; the floor every agent should beat"

    def extras(self) -> tuple[ExtraSpec, ...]:
        return (ExtraSpec("probs", (self.num_actions,)),)  # uniform

    def act(self, params, carry, obs, key):
        batch = obs.shape[0]
        action = jax.random.randint(key, (batch,), 0, self.num_actions, dtype=jnp.int32)
        probs = jnp.full((batch, self.num_actions), 1.0 / self.num_actions, jnp.float32)
        return carry, action, {"probs": probs}


# Rule name -> the fixed action it plays, for the rules that ignore the observation.
# In the matrix games (ipd, coord_game) action 0 is cooperate and 1 is defect.
_FIXED_RULES = {"always_cooperate": 0, "always_defect": 1}
RULES = ("constant", "always_cooperate", "always_defect", "tit_for_tat", "cycle", "stochastic", "seek_corner", "chase")
# seek_corner reads mpe_tag_intent's prey observation: position at [2:4], its corner one-hot last.
SEEK_CORNER_OBS = 18
# chase reads an mpe_tag predator's observation, the prey's offset at [12:14] (after its
# velocity, position, the landmarks and the two other predators); mpe_tag_intent's corner hint
# (intent_obs other than none) makes it 20 long.
CHASE_OBS = (16, 20)


def step_toward(gap: jax.Array) -> jax.Array:
    """(B, 2) offsets to a target -> (B,) int32 mpe actions along the axis of the larger gap
    (mpe actions: 1 -x, 2 +x, 3 -y, 4 +y)."""
    along_x = jnp.abs(gap[:, 0]) >= jnp.abs(gap[:, 1])
    return jnp.where(along_x, jnp.where(gap[:, 0] < 0, 1, 2), jnp.where(gap[:, 1] < 0, 3, 4)).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class ScriptedConfig:
    """Which hand-written rule to play."""

    # One of RULES: constant (always `action`), always_cooperate (0), always_defect (1),
    # tit_for_tat (matrix games: cooperate first, then copy the partner's last action),
    # cycle (play `sequence` in a loop, one entry per step), stochastic (sample `probs`
    # every step, whatever it observes: the biased data collectors of offline datasets),
    # seek_corner (mpe_tag_intent's prey: step straight for its corner along the axis of the
    # larger gap, ignoring predators), chase (an mpe_tag predator: step toward the prey's
    # observed position the same way).
    rule: str = "constant"
    # The action `constant` plays; ignored by the other rules.
    action: int = 0
    # The actions `cycle` loops through; empty means 0, 1, ..., num_actions - 1.
    sequence: tuple[int, ...] = ()
    # The action distribution `stochastic` samples, one probability per action (summing to 1),
    # e.g. [0.1, 0.9] in coord_game is p(right) = 0.9; ignored by the other rules.
    probs: tuple[float, ...] = ()
    # In a meta-episode (`arena.meta`), `cycle` keeps counting across inner episodes.
    persist_carry: bool = False


@register_arch
@dataclasses.dataclass(frozen=True)
class ScriptedAgent(Agent):
    """A fixed rule; `cycle` is the only rule with memory (a per-row step counter)."""

    arch = "scripted"
    Config = ScriptedConfig
    doc = "hand-written rules: constant, always_cooperate, always_defect, tit_for_tat, cycle, stochastic, seek_corner, chase"

    def extras(self) -> tuple[ExtraSpec, ...]:
        return (ExtraSpec("probs", (self.num_actions,)),)  # the rule's distribution: one-hot but for stochastic

    @property
    def cycle_sequence(self) -> tuple[int, ...]:
        return tuple(self.config.sequence) or tuple(range(self.num_actions))

    def validate(self) -> None:
        rule = self.config.rule
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
        if rule == "constant" and not 0 <= self.config.action < self.num_actions:
            raise ValueError(
                f"action {self.config.action} is out of range for {self.num_actions} actions"
            )
        if (rule in _FIXED_RULES or rule == "tit_for_tat") and self.num_actions < 2:
            raise ValueError(f"rule {rule!r} needs at least 2 actions (cooperate, defect)")
        if rule == "tit_for_tat" and tuple(self.obs_shape) != (5,):
            raise ValueError(
                "rule 'tit_for_tat' reads the matrix-game observation (5,) = one-hot previous "
                f"joint action + first-round flag; got obs_shape {tuple(self.obs_shape)}"
            )
        if rule == "seek_corner" and (tuple(self.obs_shape) != (SEEK_CORNER_OBS,) or self.num_actions != 5):
            raise ValueError(f"rule 'seek_corner' plays mpe_tag_intent's prey (obs ({SEEK_CORNER_OBS},), 5 actions); "
                             f"got obs_shape {tuple(self.obs_shape)}, {self.num_actions} actions")
        if rule == "chase" and (len(self.obs_shape) != 1 or self.obs_shape[0] not in CHASE_OBS or self.num_actions != 5):
            raise ValueError(f"rule 'chase' plays mpe_tag's predators (obs (16,) or (20,), 5 actions); "
                             f"got obs_shape {tuple(self.obs_shape)}, {self.num_actions} actions")
        if rule == "cycle":
            bad = [a for a in self.cycle_sequence if not 0 <= a < self.num_actions]
            if bad:
                raise ValueError(f"sequence entries {bad} are out of range for {self.num_actions} actions")
        if rule == "stochastic":
            probs = tuple(self.config.probs)
            if (len(probs) != self.num_actions or not all(isinstance(p, (int, float)) and 0 <= p <= 1 for p in probs)
                    or abs(sum(probs) - 1) > 1e-6):
                raise ValueError(f"rule 'stochastic' needs probs: {self.num_actions} probabilities summing to 1, "
                                 f"got {list(probs)}")

    def as_data(self, params):
        """The fixed-action rules (constant, always_cooperate, always_defect) are one step
        that plays `params["fixed_action"]`: they share a compiled call whatever the action."""
        rule = self.config.rule
        if rule != "constant" and rule not in _FIXED_RULES:
            return self, params
        action = _FIXED_RULES.get(rule, self.config.action)
        shared = dataclasses.replace(self, config=ScriptedConfig(rule="constant", action=0))
        return shared, {**params, "fixed_action": jnp.int32(action)}

    def init_carry(self, params, batch: int):
        if self.config.rule == "cycle":
            return jnp.zeros((batch,), jnp.int32)  # steps taken so far, per row
        return ()

    def act(self, params, carry, obs, key):
        batch = obs.shape[0]
        rule = self.config.rule
        if rule == "tit_for_tat":
            # obs[:4] is one-hot over the previous joint action, index = 2 * own + other;
            # obs[4] is 1 on the first round, when there is nothing to copy.
            other_last = jnp.argmax(obs[:, :4], axis=-1) % 2
            action = jnp.where(obs[:, 4] > 0.5, 0, other_last).astype(jnp.int32)
        elif rule == "stochastic":
            probs = jnp.broadcast_to(jnp.asarray(self.config.probs, jnp.float32), (batch, self.num_actions))
            action = jax.random.categorical(key, jnp.log(probs), axis=-1).astype(jnp.int32)
            return carry, action, {"probs": probs}
        elif rule == "seek_corner":
            action = step_toward(jnp.asarray(CORNERS, jnp.float32)[jnp.argmax(obs[:, -4:], axis=-1)] - obs[:, 2:4])
        elif rule == "chase":
            action = step_toward(obs[:, 12:14].astype(jnp.float32))
        elif rule == "cycle":
            seq = jnp.asarray(self.cycle_sequence, jnp.int32)
            action = seq[carry % seq.shape[0]]
            carry = carry + 1
        elif "fixed_action" in params:  # as_data's: the action is data, not part of the compiled step
            action = jnp.broadcast_to(params["fixed_action"], (batch,)).astype(jnp.int32)
        else:
            fixed = _FIXED_RULES.get(rule, self.config.action)
            action = jnp.full((batch,), fixed, jnp.int32)
        probs = jax.nn.one_hot(action, self.num_actions, dtype=jnp.float32)
        return carry, action, {"probs": probs}
