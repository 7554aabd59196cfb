"""Overcooked env ids: `overcooked/<layout>` (JaxMARL v1) and `overcooked_v2/<layout>`.

Both versions are one cooperative team, "cooks", with a seat per JaxMARL agent (two in every
layout but v2's `long_room`, which has one). Observations keep JaxMARL's native layout and
dtype: v1 (height, width, 26) uint8, v2 (height, width, C) int32 with C depending on the
layout's ingredients (or (2k+1, 2k+1, C) with `agent_view_size=k`). Metric `soups` counts
correct soups delivered in a step; `shaped_reward` is JaxMARL's per-agent shaping.

Registering the ids reads only JaxMARL's layout tables; a version's env module is imported
when one of its envs is first built, through `jaxmarl_module` (never JaxMARL's package
`__init__`, which imports every env).
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import jax
import jax.numpy as jnp

from arena.env import MetricSpec, register
from arena.envs.jaxmarl_adapter import JaxMARLEnv, TeamLayout, build_jaxmarl_env
from arena.envs.jaxmarl_import import jaxmarl_module

V1 = "jaxmarl.environments.overcooked.overcooked"
V2 = "jaxmarl.environments.overcooked_v2.overcooked"
# v2's layouts import its `common` module anyway: the soups metric reads it.
v2_common = jaxmarl_module("jaxmarl.environments.overcooked_v2.common")

SOUPS = MetricSpec("soups", reduce="sum")  # correct soups delivered


def action_labels(env: Any, actions_enum: type[IntEnum]) -> tuple[str, ...]:
    # The two versions order their actions differently (v1: up, down, right, left, ...;
    # v2: right, down, left, up, ...), so names are read from the env's own action table.
    return tuple(actions_enum(int(a)).name for a in env.action_set)


def soups_v1(env, prev_state, actions, state, reward) -> jax.Array:
    # v1's sparse reward is DELIVERY_REWARD per delivered soup and nothing else, shared by
    # both cooks, so one seat's reward counts the soups exactly.
    return reward[0] / jaxmarl_module(V1).DELIVERY_REWARD


def soups_v2(env, prev_state, actions, state, reward) -> jax.Array:
    # v2's reward also carries recipe-indicator costs and (optionally) penalties for wrong
    # dishes, so the count is read from the state: a cook delivers a correct soup when it
    # interacts facing a goal while holding the current recipe, cooked and plated. Cooks
    # that interact do not move, so the pre-step position and facing are the ones used.
    agents = prev_state.agents
    fwd = jax.vmap(lambda agent: agent.get_fwd_pos())(agents)
    facing_goal = prev_state.grid[fwd.y, fwd.x, 0] == v2_common.StaticObject.GOAL
    dish = prev_state.recipe | v2_common.DynamicObject.PLATE | v2_common.DynamicObject.COOKED
    interact = actions == v2_common.OvercookedActionsEnum.interact
    return jnp.sum(interact & facing_goal & (agents.inventory == dish))


def overcooked_env(
    env_id: str,
    env: Any,
    actions_enum: type[IntEnum],
    soups: Callable[..., jax.Array],
    kwargs: dict,
) -> JaxMARLEnv:
    """What the two versions share: one team of cooks, the soups metric, shaped rewards."""
    cooks = TeamLayout("cooks", tuple(env.agents), action_labels(env, actions_enum))
    metrics = lambda *args: {SOUPS.name: soups(*args)}  # noqa: E731
    return JaxMARLEnv(env_id, env, (cooks,), (SOUPS,), metrics, kwargs=kwargs)


def make_v1(layout: str, **kwargs) -> JaxMARLEnv:
    env_id = f"overcooked/{layout}"
    v1 = jaxmarl_module(V1)
    with warnings.catch_warnings():
        # v1 warns that v2 exists on every construction; arena offers both on purpose
        # (published baselines and checkpoints were trained on v1).
        warnings.simplefilter("ignore", DeprecationWarning)
        env = build_jaxmarl_env(env_id, v1.Overcooked, layout=v1_layouts[layout], **kwargs)
    return overcooked_env(env_id, env, v1.OvercookedActions, soups_v1, kwargs)


def make_v2(layout: str, **kwargs) -> JaxMARLEnv:
    env_id = f"overcooked_v2/{layout}"
    env = build_jaxmarl_env(env_id, jaxmarl_module(V2).OvercookedV2, layout=layout, **kwargs)
    return overcooked_env(env_id, env, v2_common.OvercookedActionsEnum, soups_v2, kwargs)


v1_layouts = jaxmarl_module("jaxmarl.environments.overcooked.layouts").overcooked_layouts
v2_layouts = jaxmarl_module("jaxmarl.environments.overcooked_v2.layouts").overcooked_v2_layouts
for _name in v1_layouts:
    register(f"overcooked/{_name}", functools.partial(make_v1, _name))
for _name in v2_layouts:
    register(f"overcooked_v2/{_name}", functools.partial(make_v2, _name))
