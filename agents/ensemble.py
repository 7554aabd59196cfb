"""Mode-action ensemble: every member acts, the ensemble plays the most-voted action.

From the zero-shot-coordination-with-diverse-reward-shapings seed, which combines best
responses trained under different shapings as

    pi_ensemble(o) = argmax_a sum_i 1[BR_i(o) = a]

Ties are broken by the members' summed probabilities of the tied actions, then by the lowest
action index. Members may be of any architecture (recurrent ones keep their own carries); they
share the ensemble's observation shape and action count. Every member acts with the
ensemble's own key (common random numbers): each still samples its own policy, and an
ensemble of copies of one agent plays exactly that agent.

`ensemble_of(loaded members)` makes the checkpoint of an ensemble of trained agents
(`arena ensemble`).

A member is described as `(arch, config)` where config is a tuple of (field, value) pairs, or
as the frozen form of a TOML table `{arch = "...", config = {...}}`, which `build_agent`
turns into (("arch", ...), ("config", ((field, value), ...))). In a manifest:

    [architecture.config]
    members = [
      {arch = "mlp_actor_critic", config = {hidden = [64, 64]}},
      {arch = "scripted", config = {rule = "constant", action = 0}},
    ]
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from arena.agent import Agent, ArchError, ExtraSpec, build_agent, register_arch
from arena.checkpoint import LoadedAgent, manifest_for, params_to_bytes
from arena.errors import UserError
from arena.manifest import Manifest


def _as_dict(pairs: Any, what: str) -> dict:
    if isinstance(pairs, dict):
        return dict(pairs)
    try:
        out = dict(pairs)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a table or (key, value) pairs, got {pairs!r}") from None
    if not all(isinstance(k, str) for k in out):
        raise ValueError(f"{what} must have string keys, got {pairs!r}")
    return out


def member_spec(member: Any) -> tuple[str, dict]:
    """(arch, config dict) of one member, from either accepted form."""
    if isinstance(member, tuple) and len(member) == 2 and isinstance(member[0], str) \
            and member[0] not in ("arch", "config"):
        arch, config = member
        return arch, _as_dict(config, f"config of member {arch!r}")
    table = _as_dict(member, "an ensemble member")
    unknown = set(table) - {"arch", "config"}
    if "arch" not in table or unknown:
        raise ValueError(f"an ensemble member needs 'arch' and optional 'config', got {member!r}")
    return table["arch"], _as_dict(table.get("config", ()), f"config of member {table['arch']!r}")


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """The member agents, in order (member i's params live under "member_i")."""

    # Each member: (arch, ((field, value), ...)), or {arch = ..., config = {...}} from TOML.
    members: tuple = ()


@register_arch
@dataclasses.dataclass(frozen=True)
class EnsembleAgent(Agent):
    """Plays the mode of its members' actions; params {"member_i": ...}, carry a tuple."""

    arch = "ensemble"
    Config = EnsembleConfig
    doc = "mode-action ensemble of member agents (majority vote)"
    extras_names = ("votes (A,)", "probs (A,)")  # for `arena archs`: the default has no members

    @functools.cached_property
    def members(self) -> tuple[Agent, ...]:
        out = []
        for i, member in enumerate(self.config.members):
            arch, config = member_spec(member)
            try:
                member = build_agent(arch, config, self.obs_shape, self.obs_dtype, self.num_actions)
            except (ValueError, ArchError) as err:
                raise ValueError(f"member {i}: {err}") from None
            if member.privileged:  # the ensemble itself is not, so it could not pass the world on
                raise ValueError(f"member {i}: {arch!r} is privileged (it reads the env state); members must not be")
            out.append(member)
        return tuple(out)

    def extras(self) -> tuple[ExtraSpec, ...]:
        a = self.num_actions
        return (
            ExtraSpec("votes", (a,)),  # how many members chose each action
            ExtraSpec("probs", (a,)),  # vote fractions
        )

    def validate(self) -> None:
        if not self.config.members:
            raise ValueError("an ensemble needs at least one member")
        _ = self.members  # builds (and so validates) every member

    def init_params(self, key):
        keys = jax.random.split(key, len(self.members))
        return {f"member_{i}": m.init_params(k) for i, (m, k) in enumerate(zip(self.members, keys))}

    def init_carry(self, params, batch: int):
        return tuple(m.init_carry(params[f"member_{i}"], batch) for i, m in enumerate(self.members))

    def act(self, params, carry, obs, key):
        new_carry, votes, prob_sum = [], 0.0, 0.0
        for i, m in enumerate(self.members):
            c, action, extras = m.act(params[f"member_{i}"], carry[i], obs, key)
            new_carry.append(c)
            onehot = jax.nn.one_hot(action, self.num_actions, dtype=jnp.float32)
            votes = votes + onehot
            prob_sum = prob_sum + extras.get("probs", onehot)
        n = len(self.members)
        # prob_sum / n < 1, scaled by 0.5 it can only reorder actions with equal votes.
        score = votes + 0.5 * prob_sum / n
        action = jnp.argmax(score, axis=-1).astype(jnp.int32)
        return tuple(new_carry), action, {"votes": votes, "probs": votes / n}


def ensemble_of(members: Sequence[LoadedAgent], *, name: str) -> tuple[Manifest, dict]:
    """(manifest, params) of the mode-action ensemble of trained `members`, which must share
    env, env options, observation, actions and sides (a UserError names the first that does
    not). Provenance lists each member (name, params sha256, seed, shaping); the ensemble's
    training partners are its members' together."""
    if not members:
        raise UserError("an ensemble needs at least one member checkpoint")
    first = members[0].manifest
    for m in members[1:]:
        mf = m.manifest
        for what, mine, theirs in (
            ("env", mf.env, first.env), ("env options", mf.env_kwargs, first.env_kwargs),
            ("observation", (list(mf.obs_shape), mf.obs_dtype), (list(first.obs_shape), first.obs_dtype)),
            ("action count", mf.num_actions, first.num_actions), ("sides", list(mf.plays), list(first.plays)),
        ):
            if mine != theirs:
                raise UserError(f"{m.source}: its {what} {mine} differ from {members[0].source}'s {theirs}; "
                                "an ensemble's members must play the same env the same way")
    config = {"members": [{"arch": m.manifest.arch, "config": m.manifest.arch_config} for m in members]}
    agent = build_agent("ensemble", config, first.obs_shape, first.obs_dtype, first.num_actions)
    params = {f"member_{i}": m.params for i, m in enumerate(members)}
    partners = sorted({p for m in members for p in m.manifest.provenance.get("partners", [])})
    provenance = {
        "algorithm": "mode-action ensemble",
        "members": [{"name": m.name, "source": Path(m.source).name, "sha256": m.manifest.params.sha256,
                     **{k: m.manifest.provenance[k] for k in ("seed", "shaping") if k in m.manifest.provenance}}
                    for m in members],
        "partners": partners,
    }
    manifest = manifest_for(
        agent, name=name, env=first.env, params_bytes=params_to_bytes(params), plays=first.plays,
        env_kwargs=dict(first.env_kwargs), preprocess=first.preprocess, provenance=provenance,
        description=f"mode-action ensemble of {len(members)}: {', '.join(m.name for m in members)}",
    )
    return manifest, params
