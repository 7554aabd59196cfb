"""Overcooked env ids: `overcooked/<layout>` (JaxMARL v1) and `overcooked_v2/<layout>`.

Both versions are one cooperative team, "cooks", with a seat per JaxMARL agent (two in every
layout but v2's `long_room`, which has one). Observations keep JaxMARL's native layout and
dtype: v1 (height, width, 26) uint8, v2 (height, width, C) int32 with C depending on the
layout's ingredients (or (2k+1, 2k+1, C) with `agent_view_size=k`). Metric `soups` counts
correct soups delivered in a step; `shaped_reward` is JaxMARL's per-agent shaping.

Both take the six shaping features (`overcooked_shaping` for v1, `overcooked_v2_shaping` for
v2; their params are `ShapingWeights`): reward = sparse + sum_k w_k f_k per seat, the weights
traced and zero by default, and each feature summed per seat as a metric `<feature>/<seat>`
(events counted, approach terms summed), so a tournament shows how each agent plays.

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
from arena.envs import overcooked_shaping as shaping
from arena.envs import overcooked_v2_shaping as v2_shaping
from arena.envs.jaxmarl_adapter import JaxMARLEnv, TeamLayout, build_jaxmarl_env, signature_options
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


def feature_metrics(seats) -> tuple[MetricSpec, ...]:
    return tuple(MetricSpec(f"{f}/{seat}", reduce="sum", detail=True) for f in shaping.FEATURES for seat in seats)


# (layout tables, state before the step, state after) -> (S, 6) float32 features
FeaturesFn = Callable[[shaping.LayoutTables, Any, Any], jax.Array]


class ShapedOvercookedEnv(JaxMARLEnv):
    """An Overcooked env with the six shaping features added to each seat's reward by its
    traced weights; `features` reads them off the version's states."""

    def __init__(self, *args, tables: shaping.LayoutTables, features: FeaturesFn, **kwargs):
        super().__init__(*args, **kwargs)
        self._tables = tables  # constants of the layout, closed over by step
        self._features = features

    @property
    def default_params(self) -> shaping.ShapingWeights:
        base = super().default_params
        S = self.spec.num_seats
        return shaping.ShapingWeights(reward=base.reward, shaped=base.shaped,
                                      features=jnp.zeros((S, len(shaping.FEATURES)), jnp.float32))

    def step(self, key: jax.Array, state: Any, actions: jax.Array, params: Any = None):
        params = self.default_params if params is None else params
        new_state, ts = super().step(key, state, actions, params)
        f = self._features(self._tables, state, new_state)  # (S, 6)
        metrics = dict(ts.metrics)
        for k, name in enumerate(shaping.FEATURES):
            for s, seat in enumerate(self.spec.seats):
                metrics[f"{name}/{seat}"] = f[s, k]
        return new_state, ts.replace(reward=ts.reward + jnp.sum(params.features * f, axis=1), metrics=metrics)


def overcooked_env(
    env_id: str,
    env: Any,
    actions_enum: type[IntEnum],
    soups: Callable[..., jax.Array],
    kwargs: dict,
    tables: shaping.LayoutTables,
    features: FeaturesFn,
) -> JaxMARLEnv:
    """What the two versions share: one team of cooks, the soups metric, shaped rewards and
    the six shaping features, each a per-seat metric."""
    cooks = TeamLayout("cooks", tuple(env.agents), action_labels(env, actions_enum))
    metrics = lambda *args: {SOUPS.name: soups(*args)}  # noqa: E731
    specs = (SOUPS, *feature_metrics(env.agents))
    return ShapedOvercookedEnv(env_id, env, (cooks,), specs, metrics, kwargs=kwargs, tables=tables, features=features)


def v1_features(tables: shaping.LayoutTables, prev: Any, state: Any, *, height: int) -> jax.Array:
    return shaping.features(tables, height, prev, state)


def make_v1(layout: str, **kwargs) -> JaxMARLEnv:
    env_id = f"overcooked/{layout}"
    v1 = jaxmarl_module(V1)
    with warnings.catch_warnings():
        # v1 warns that v2 exists on every construction; arena offers both on purpose
        # (published baselines and checkpoints were trained on v1).
        warnings.simplefilter("ignore", DeprecationWarning)
        env = build_jaxmarl_env(env_id, v1.Overcooked, layout=v1_layouts[layout], **kwargs)
    features = functools.partial(v1_features, height=env.height)
    return overcooked_env(env_id, env, v1.OvercookedActions, soups_v1, kwargs,
                          shaping.layout_tables(v1_layouts[layout]), features)


def make_v2(layout: str, **kwargs) -> JaxMARLEnv:
    env_id = f"overcooked_v2/{layout}"
    env = build_jaxmarl_env(env_id, jaxmarl_module(V2).OvercookedV2, layout=layout, **kwargs)
    return overcooked_env(env_id, env, v2_common.OvercookedActionsEnum, soups_v2, kwargs,
                          v2_shaping.layout_tables(env.layout.static_objects), v2_shaping.features)


v1_layouts = jaxmarl_module("jaxmarl.environments.overcooked.layouts").overcooked_layouts
v2_layouts = jaxmarl_module("jaxmarl.environments.overcooked_v2.layouts").overcooked_v2_layouts
def v1_options() -> dict[str, str]:
    return signature_options(jaxmarl_module(V1).Overcooked, skip=("layout",))


def v2_options() -> dict[str, str]:
    return signature_options(jaxmarl_module(V2).OvercookedV2, skip=("layout",))


for _name in v1_layouts:
    register(f"overcooked/{_name}", functools.partial(make_v1, _name), v1_options)
for _name in v2_layouts:
    register(f"overcooked_v2/{_name}", functools.partial(make_v2, _name), v2_options)
