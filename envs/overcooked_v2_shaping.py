"""The six reward-shaping features of `overcooked_shaping` on Overcooked v2, per step and per
cook. Names, weights (`ShapingWeights`), distance tables and the approach term are v1's; only
reading them off v2's state differs, and where v2's rules differ from v1's this says what was
chosen.

v2 keeps what a cell or a hand holds as bits: a plate, a cooked flag, and two bits per
ingredient (a count of 0-3), so a layout may have several ingredients and several recipes.
Its pots cook by themselves once a third ingredient goes in (the default) or, with
`start_cooking_interaction=True`, when an empty-handed cook interacts with a pot that holds
anything; its layouts have one or two cooks.

- `placement_in_pot`: the cook put an ingredient, any of them, into a pot that was neither
  full, cooking nor cooked (1 per ingredient). JaxMARL v2 pays only for an ingredient the
  current recipe still needs; v1's feature (and Overcooked-AI's, which the study used) counts
  every placement, and the recipe can change between deliveries, so the event is counted as
  it is and the weight does not depend on the recipe. On one-ingredient layouts (cramped_room,
  forced_coord, ...) every placement is a needed one and the two agree.
- `dish_pickup`: the cook took a plate from the plate pile while it was useful: no plate lay
  on a counter and fewer plates were in hands than pots held anything (cooked or not). This is
  v1's condition and JaxMARL v2's own PLATE_PICKUP, with v2's order of play: each cook sees
  the pots and counters as the cooks before it in seat order left them, but the hands as they
  were before the step (JaxMARL v2 reads every inventory once, before the interactions; v1
  updates them cook by cook). The guard against a cook farming the bonus by dropping and
  retaking a plate is the same: a plate on a counter stops it.
- `soup_pickup`: the cook lifted a cooked soup out of a pot onto its plate, whatever the
  recipe (JaxMARL v2 pays its DISH_PICKUP only for the current recipe; a wrong soup has to
  leave the pot too).
- `dish_distance`: empty-handed while a pot cooks or holds a cooked soup and no plate is in a
  hand -> the plate pile. `pot_distance`: holding a plate while at least as many pots hold
  anything as plates are in hands -> the nearest such pot. `soup_distance`: holding a plated
  soup -> the serving counter. As in v1, the term is the decrease in BFS distance over cells
  a cook can walk on (v2's EMPTY cells) to the nearest cell beside the target.

Not mapped: v2's POT_START_COOKING (an interaction that starts a pot) is not one of the six,
so it is neither counted nor paid; placing the third ingredient is a placement either way.
Recipe indicators and their buttons play no part.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from arena.envs.overcooked_shaping import UNREACHABLE, LayoutTables, approach, build_tables

# JaxMARL v2's codes (overcooked_v2.common): StaticObject in grid[..., 0]; DynamicObject bits
# in grid[..., 1] and in inventories, ingredients from bit 2 up; a pot's timer in grid[..., 2].
EMPTY_CELL, WALL, GOAL, POT, PLATE_PILE = 0, 1, 4, 5, 9
EMPTY, PLATE, COOKED = 0, 1, 2


def layout_tables(static: np.ndarray) -> LayoutTables:
    """BFS tables of a v2 layout's (H, W) static object grid (`Layout.static_objects`)."""
    static = np.asarray(static)

    def cells(obj: int) -> np.ndarray:
        return np.argwhere(static == obj)[:, ::-1]  # (K, 2) x, y

    return build_tables(static == EMPTY_CELL, cells(POT), cells(PLATE_PILE), cells(GOAL))


def is_ingredient(inv: jax.Array) -> jax.Array:
    return ((inv >> 2) != 0) & ((inv & PLATE) == 0)


def features(tables: LayoutTables, prev, state) -> jax.Array:
    """(S, 6) float32: each cook's six features for the step prev -> state (JaxMARL v2 states)."""
    inv0, inv1 = prev.agents.inventory, state.agents.inventory  # (S,)
    # Interacting cooks do not move, so the cell faced before the step is the one used; it is
    # indexed as JaxMARL indexes it. get_fwd_pos reads one cook, not a batch of them.
    fwd = jax.vmap(lambda agent: agent.get_fwd_pos())(prev.agents)
    faced = prev.grid[fwd.y, fwd.x, 0]  # (S,) static object
    pots = tables.pots  # (P, 2) x, y
    at_pot = (pots[None, :, 0] == fwd.x[:, None]) & (pots[None, :, 1] == fwd.y[:, None])  # (S, P)

    placement = is_ingredient(inv0) & (inv1 == EMPTY) & (faced == POT)
    soup = (inv0 == PLATE) & ((inv1 & COOKED) != 0)
    from_pile = (inv0 == EMPTY) & (inv1 == PLATE) & (faced == PLATE_PILE)
    # A plate reaches or leaves a counter only by a drop from, or a pickup into, a hand.
    onto_counter = ((inv0 == PLATE) & (inv1 == EMPTY)).astype(jnp.int32) - ((inv0 == EMPTY) & (inv1 == PLATE))
    plate_moves = jnp.where(faced == WALL, onto_counter, 0)
    # The dish-pickup condition as each cook meets it in its turn (seat order, a static
    # count of one or two): pots and counters as the cooks before it left them.
    filled = prev.grid[pots[:, 1], pots[:, 0], 1] != 0  # (P,)
    counter_plates = jnp.sum(prev.grid[:, :, 1] == PLATE)
    in_hands = jnp.sum(inv0 == PLATE)
    dish = []
    for i in range(inv0.shape[0]):
        dish.append(from_pile[i] & (counter_plates == 0) & (in_hands < jnp.sum(filled)))
        filled = jnp.where(at_pot[i] & placement[i], True, jnp.where(at_pot[i] & soup[i], False, filled))
        counter_plates = counter_plates + plate_moves[i]

    # Approach terms read the state after the step.
    x0, y0 = prev.agents.pos.x, prev.agents.pos.y
    x1, y1 = state.agents.pos.x, state.agents.pos.y
    pot_cells = state.grid[pots[:, 1], pots[:, 0]]  # (P, 3)
    holds = pot_cells[:, 1] != 0
    cooking = jnp.any((pot_cells[:, 2] > 0) | ((pot_cells[:, 1] & COOKED) != 0))
    plates_out = jnp.sum(inv1 == PLATE)
    dish_term = approach((inv1 == EMPTY) & cooking & (plates_out == 0),
                         tables.to_plates[y0, x0], tables.to_plates[y1, x1])
    to_pots = jnp.where(holds[:, None, None], tables.to_pot, UNREACHABLE).min(axis=0)
    pot_term = approach((inv1 == PLATE) & jnp.any(holds) & (jnp.sum(holds) >= plates_out),
                        to_pots[y0, x0], to_pots[y1, x1])
    soup_term = approach((inv1 & COOKED) != 0, tables.to_goal[y0, x0], tables.to_goal[y1, x1])
    events = jnp.stack([placement, jnp.stack(dish), soup], axis=1).astype(jnp.float32)
    return jnp.concatenate([events, jnp.stack([dish_term, pot_term, soup_term], axis=1)], axis=1)
