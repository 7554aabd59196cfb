"""The six reward-shaping features of Overcooked (v1 here), per step and per cook, and the traced
weights that turn them into reward (the design of ZSC-Eval's overcooked, which the
diverse-reward-shapings study used).

Features, in weight order (`FEATURES`):

- `placement_in_pot`: the cook put an onion into a pot that was not full (1 per onion).
- `dish_pickup`: the cook took a plate from the plate pile while it was useful: no plate lay
  on a counter and fewer plates were in hands than pots had onions in them (JaxMARL's own
  condition, which stops a cook farming the bonus by dropping and retaking a plate).
- `soup_pickup`: the cook lifted a cooked soup out of a pot onto its plate.
- `dish_distance`, `pot_distance`, `soup_distance`: approach terms. Each has a condition on
  what the cooks hold and a target (ZSC-Eval's): empty-handed while a pot cooks and no plate
  is in hand -> the plate pile; holding a plate while at least as many pots hold onions as
  plates are in hand -> the nearest such pot; holding a soup -> the serving counter. While
  the condition holds after the step, the term is the decrease in the cook's distance to the
  target this step (+1 a step closer, -1 a step away, 0 otherwise). ZSC-Eval pays
  1 - min(d / 8, 1) on every step that ends closer and nothing for a step away, so a cook
  can farm it by stepping back and forth (with a weight of 10 that outpays delivering
  soups); the decrease is a potential difference, so a cycle nets nothing. Note ZSC-Eval's
  SOUP_DISTANCE_REW, which the paper calls "close to soup", is this: carrying a soup
  towards the serving counter.

JaxMARL computes the three events but returns only their weighted sum (3, 3, 5), so they are
recomputed here from the state before and after the step; the cooks interact in seat order,
so the second cook sees the first cook's effect, as JaxMARL does.

Distances are shortest paths over the layout's walkable cells (4-neighbour moves), to the
nearest walkable cell beside the target, where a cook stands to use it: 0 there, never
through counters (ZSC-Eval uses Euclidean distance, which on forced_coord would call a cook
"near" a pot across a counter it cannot cross). They are computed once per layout by BFS in
numpy and closed over as constant tables; an unreachable target is `UNREACHABLE` away, so
its term is 0 (one step changes a distance by at most 1).

What both versions share lives here: the feature names, the weights (`ShapingWeights`,
traced env params of both), the BFS tables (`build_tables`) and the approach term. Overcooked
v2 reads the same six off its own states in `overcooked_v2_shaping`, which says where its
rules map differently.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from arena.envs.jaxmarl_adapter import RewardWeights
from arena.errors import UserError

FEATURES = ("placement_in_pot", "dish_pickup", "soup_pickup", "dish_distance", "pot_distance", "soup_distance")
WEIGHT_RANGE = (0.0, 10.0)  # the study's range for every weight
UNREACHABLE = 10_000

# JaxMARL v1's object indices and pot statuses (common.OBJECT_TO_INDEX, overcooked.POT_*).
EMPTY, ONION, PLATE, PLATE_PILE, POT, DISH = 1, 3, 5, 6, 8, 9
POT_EMPTY, POT_FULL = 23, 20


@struct.dataclass
class ShapingWeights(RewardWeights):
    """Overcooked's traced env params (v1 and v2): JaxMARL's reward weights plus each seat's weight for
    each of the six features. Zeros (the default) leave the reward exactly JaxMARL's sparse
    reward; the weights are constants of a run (nothing anneals them)."""

    features: jax.Array  # (S, 6) float32, columns in FEATURES order


def weights_dict(weights) -> dict[str, float]:
    """One seat's six weights as the named map recorded in `provenance.shaping`."""
    w = np.asarray(weights, np.float64).reshape(-1)
    if w.shape != (len(FEATURES),):
        raise ValueError(f"a shaping has {len(FEATURES)} weights, got {w.shape[0]}")
    return {name: round(float(v), 6) for name, v in zip(FEATURES, w)}


def weights_array(shaping: Mapping[str, float]) -> np.ndarray:
    """(6,) float32 from a named map (missing features weigh 0); unknown names are a user error."""
    unknown = sorted(set(shaping) - set(FEATURES))
    if unknown:
        raise UserError(f"unknown shaping feature(s) {', '.join(unknown)}: the features are {', '.join(FEATURES)}")
    return np.array([float(shaping.get(name, 0.0)) for name in FEATURES], np.float32)


def with_shaping(params: ShapingWeights, per_seat) -> ShapingWeights:
    """`params` with every seat's feature weights set: per_seat (6,) for all seats or (S, 6)."""
    w = jnp.broadcast_to(jnp.asarray(per_seat, jnp.float32), params.features.shape)
    return params.replace(features=w)


def distance_table(walkable: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(H, W) int32 shortest-path distance from each cell to the nearest walkable cell beside a
    target (4-neighbourhood), moving over walkable cells only; UNREACHABLE where none is.

    walkable: (H, W) bool; targets: (K, 2) int (x, y) cells, usually counters."""
    h, w = walkable.shape
    dist = np.full((h, w), UNREACHABLE, np.int32)
    queue: deque[tuple[int, int]] = deque()
    for tx, ty in np.asarray(targets).reshape(-1, 2):
        for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            x, y = int(tx) + dx, int(ty) + dy
            if 0 <= x < w and 0 <= y < h and walkable[y, x] and dist[y, x]:
                dist[y, x] = 0
                queue.append((x, y))
    while queue:
        x, y = queue.popleft()
        for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            nx, ny = x + dx, y + dy
            if 0 <= nx < w and 0 <= ny < h and walkable[ny, nx] and dist[ny, nx] > dist[y, x] + 1:
                dist[ny, nx] = dist[y, x] + 1
                queue.append((nx, ny))
    return dist


def _cells(idx, width: int) -> np.ndarray:
    idx = np.asarray(idx, np.int64).reshape(-1)
    return np.stack([idx % width, idx // width], axis=1)


@struct.dataclass
class LayoutTables:
    """A layout's static facts the features read: constants, built once outside jit."""

    pots: jax.Array  # (P, 2) int32 (x, y)
    to_pot: jax.Array  # (P, H, W) int32
    to_plates: jax.Array  # (H, W) int32, to the nearest plate pile
    to_goal: jax.Array  # (H, W) int32, to the nearest serving counter


def build_tables(walkable: np.ndarray, pots: np.ndarray, plate_piles: np.ndarray, goals: np.ndarray) -> LayoutTables:
    """BFS tables of a layout: walkable (H, W) bool; pots, plate piles, goals (K, 2) int (x, y)."""
    return LayoutTables(
        pots=jnp.asarray(pots, jnp.int32),
        to_pot=jnp.asarray(np.stack([distance_table(walkable, p[None]) for p in pots]), jnp.int32),
        to_plates=jnp.asarray(distance_table(walkable, plate_piles), jnp.int32),
        to_goal=jnp.asarray(distance_table(walkable, goals), jnp.int32),
    )


def layout_tables(layout: Mapping) -> LayoutTables:
    """BFS tables of a JaxMARL v1 layout dict (wall_idx, pot_idx, plate_pile_idx, goal_idx)."""
    h, w = int(layout["height"]), int(layout["width"])
    walkable = np.ones(h * w, bool)
    walkable[np.asarray(layout["wall_idx"], np.int64)] = False
    return build_tables(walkable.reshape(h, w), _cells(layout["pot_idx"], w),
                        _cells(layout["plate_pile_idx"], w), _cells(layout["goal_idx"], w))


def approach(cond: jax.Array, d_old: jax.Array, d_new: jax.Array) -> jax.Array:
    """An approach term: where `cond`, the decrease in distance to the target, d_old - d_new."""
    # A target out of reach from both cells (the other room of forced_coord) pays nothing.
    decrease = jnp.where(d_old == UNREACHABLE, 0, d_old - d_new).astype(jnp.float32)
    return jnp.where(cond, decrease, 0.0)


def features(tables: LayoutTables, height: int, prev, state) -> jax.Array:
    """(2, 6) float32: each cook's six features for the step prev -> state (JaxMARL v1 states)."""
    pad = (prev.maze_map.shape[0] - height) // 2
    pos0 = prev.agent_pos.astype(jnp.int32)  # (2, 2) x, y
    pos1 = state.agent_pos.astype(jnp.int32)
    inv0, inv1 = prev.agent_inv, state.agent_inv  # (2,)
    # Interacting cooks do not move, so the cell faced before the step is the one used.
    fwd = pos0 + prev.agent_dir.astype(jnp.int32)
    faced = prev.maze_map[pad + fwd[:, 1], pad + fwd[:, 0]]  # (2, 3): object, colour, status
    pot_xy = tables.pots
    status0 = prev.maze_map[pad + pot_xy[:, 1], pad + pot_xy[:, 0], 2]  # (P,)
    status1 = state.maze_map[pad + pot_xy[:, 1], pad + pot_xy[:, 0], 2]

    placement = (inv0 == ONION) & (inv1 == EMPTY) & (faced[:, 0] == POT)
    soup = (inv0 == PLATE) & (inv1 == DISH)
    from_pile = (inv0 == EMPTY) & (inv1 == PLATE) & (faced[:, 0] == PLATE_PILE)
    # The dish-pickup condition as each cook meets it in its turn: the second cook sees the
    # first cook's inventory, counters and pots after the first cook's interaction.
    counter_plates = jnp.stack([
        jnp.sum(prev.maze_map[pad:pad + height, :, 0] == PLATE),
        jnp.sum(state.maze_map[pad:pad + height, :, 0] == PLATE),  # the second cook took from the pile
    ])
    plates_in_hand = jnp.stack([inv0[1] == PLATE, inv1[0] == PLATE]).astype(jnp.int32)
    filled_empty = placement[0] & (faced[0, 2] == POT_EMPTY)
    nonempty0 = jnp.sum(status0 != POT_EMPTY)
    nonempty = jnp.stack([nonempty0, nonempty0 + filled_empty - soup[0]])
    dish = from_pile & (counter_plates == 0) & (plates_in_hand < nonempty)

    # Approach terms read the state after the step (ZSC-Eval's conditions).
    x0, y0, x1, y1 = pos0[:, 0], pos0[:, 1], pos1[:, 0], pos1[:, 1]
    plates_out = jnp.sum(inv1 == PLATE)
    cooking = jnp.any(status1 <= POT_FULL)
    dish_term = approach((inv1 == EMPTY) & cooking & (plates_out == 0),
                          tables.to_plates[y0, x0], tables.to_plates[y1, x1])
    has_onions = status1 != POT_EMPTY  # (P,)
    to_pots = jnp.where(has_onions[:, None, None], tables.to_pot, UNREACHABLE).min(axis=0)
    pot_term = approach((inv1 == PLATE) & jnp.any(has_onions) & (jnp.sum(has_onions) >= plates_out),
                         to_pots[y0, x0], to_pots[y1, x1])
    soup_term = approach(inv1 == DISH, tables.to_goal[y0, x0], tables.to_goal[y1, x1])
    events = jnp.stack([placement, dish, soup], axis=1).astype(jnp.float32)
    return jnp.concatenate([events, jnp.stack([dish_term, pot_term, soup_term], axis=1)], axis=1)
