"""The six shaping features on Overcooked v2: each fires on its event in a scripted game on the
real env, the events agree with JaxMARL v2's own shaping, distances are hand-computed shortest
paths, zero weights leave the sparse reward, and the weights reach the reward and nothing else."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena.env import make
from arena.envs import overcooked_v2_shaping as sh2
from arena.envs.jaxmarl_import import jaxmarl_module
from arena.envs.overcooked_shaping import FEATURES, UNREACHABLE, with_shaping

RIGHT, DOWN, LEFT, UP, STAY, ACT = range(6)  # v2's action order
U = UNREACHABLE
F = {name: k for k, name in enumerate(FEATURES)}


@pytest.fixture(scope="module")
def cramped():
    return make("overcooked_v2/cramped_room")


@functools.partial(jax.jit, static_argnums=0)
def scripted(env, actions, params):
    def body(state, x):
        t, acts = x
        new, ts = env.step(jax.random.key(t), state, acts, params)
        return new, (sh2.features(env._tables, state, new), ts)

    state, _ = env.reset(jax.random.key(0))
    return jax.lax.scan(body, state, (jnp.arange(len(actions)), actions))[1]


def play(env, script, params=None):
    """Step the env through `script` [(a0, a1), ...] in one scan:
    -> (features (T, S, 6), timesteps stacked over T)."""
    params = env.default_params if params is None else params
    feats, steps = scripted(env, jnp.asarray(script, jnp.int32), params)
    return np.asarray(feats), steps


def one_soup():
    """cramped_room (v2), a soup start to finish. Cook 0 starts at (3,1), cook 1 at (1,1); the
    pot is at (2,0) (used from (2,1)), onion piles at (0,1) and (4,1), the plate pile at (1,3)
    (used from (1,2)), the serving counter at (3,3) (used from (3,2)).
    -> (script, {(step, seat, feature): value})."""
    script, expect = [(RIGHT, STAY)], {}  # cook 0 faces the onion pile at (4,1)
    for i in range(3):
        script += [(ACT, STAY), (LEFT, STAY), (UP, STAY), (ACT, STAY)]  # an onion into the pot
        expect[(len(script) - 1, 0, F["placement_in_pot"])] = 1.0
        if i < 2:
            script.append((RIGHT, STAY))
    # The third onion started the pot. Empty-handed cooks, no plate out: the plate pile pulls.
    script.append((RIGHT, DOWN))  # cook 0 (2,1) -> (3,1): 2 -> 3, away; cook 1 -> (1,2): 1 -> 0
    expect[(len(script) - 1, 0, F["dish_distance"])] = -1.0
    expect[(len(script) - 1, 1, F["dish_distance"])] = 1.0
    script.append((ACT, ACT))  # cook 1 takes a plate: a pot holds soup, no plate out: useful
    expect[(len(script) - 1, 1, F["dish_pickup"])] = 1.0
    script.append((LEFT, LEFT))  # cook 0 back to (2,1) with a 4th onion; cook 1 faces (0,2)
    script.append((UP, ACT))  # cook 1 puts its plate on the counter at (0,2)
    script.append((ACT, DOWN))  # the pot is cooking: the 4th onion stays in hand
    script.append((RIGHT, ACT))  # a plate from the pile while one lies on a counter: not useful
    script.append((STAY, UP))  # cook 1 with a plate, (1,2) -> (1,1): 2 -> 1 to the pot
    expect[(len(script) - 1, 1, F["pot_distance"])] = 1.0
    script.append((STAY, RIGHT))  # (1,1) -> (2,1): 1 -> 0
    expect[(len(script) - 1, 1, F["pot_distance"])] = 1.0
    script.append((STAY, UP))  # faces the pot
    script += [(STAY, STAY)] * 10  # started at step 14, the pot is cooked after step 33
    script.append((STAY, ACT))  # the soup onto the plate
    expect[(len(script) - 1, 1, F["soup_pickup"])] = 1.0
    script.append((STAY, DOWN))  # (2,1) -> (2,2): 2 -> 1 to the serving counter
    expect[(len(script) - 1, 1, F["soup_distance"])] = 1.0
    script.append((STAY, UP))  # a step back costs what the step forward paid
    expect[(len(script) - 1, 1, F["soup_distance"])] = -1.0
    script.append((STAY, DOWN))
    expect[(len(script) - 1, 1, F["soup_distance"])] = 1.0
    script.append((STAY, RIGHT))  # (2,2) -> (3,2): 1 -> 0
    expect[(len(script) - 1, 1, F["soup_distance"])] = 1.0
    script += [(STAY, DOWN), (STAY, ACT)]  # faces the counter, serves
    return script, expect


def test_codes_are_jaxmarls():
    common = jaxmarl_module("jaxmarl.environments.overcooked_v2.common")
    S, D = common.StaticObject, common.DynamicObject
    assert (sh2.EMPTY_CELL, sh2.WALL, sh2.GOAL, sh2.POT, sh2.PLATE_PILE) == (S.EMPTY, S.WALL, S.GOAL, S.POT, S.PLATE_PILE)
    assert (sh2.EMPTY, sh2.PLATE, sh2.COOKED) == (D.EMPTY, D.PLATE, D.COOKED)


def test_each_feature_fires_on_its_event_only(cramped):
    script, expect = one_soup()
    feats, steps = play(cramped, script)
    want = np.zeros_like(feats)
    for (t, seat, k), v in expect.items():
        want[t, seat, k] = v
    np.testing.assert_allclose(feats, want, atol=1e-6)
    assert float(steps.metrics["soups"][-1]) == 1.0  # the script really served a soup
    # Zero weights (the default): the reward is the sparse reward alone, 20 a soup to both cooks.
    np.testing.assert_array_equal(steps.reward, np.repeat(20.0 * np.asarray(steps.metrics["soups"])[:, None], 2, 1))


def test_weights_add_to_the_reward_per_seat_and_features_are_metrics(cramped):
    script, _ = one_soup()
    w = np.array([[0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]], np.float32)
    feats, steps = play(cramped, script, with_shaping(cramped.default_params, w))
    sparse = 20.0 * np.asarray(steps.metrics["soups"])[:, None]
    np.testing.assert_allclose(steps.reward, sparse + (feats * w).sum(-1), atol=1e-6)  # (T, 2)
    assert feats[:, 1].any() and np.array_equal(steps.reward[:, 0], sparse[:, 0])  # seat 0 unshaped
    totals = {k: float(v.sum()) for k, v in steps.metrics.items()}
    assert {m.name for m in cramped.spec.metrics} == {"soups", *(f"{f}/agent_{s}" for f in FEATURES for s in (0, 1))}
    assert totals["placement_in_pot/agent_0"] == 3.0 and totals["placement_in_pot/agent_1"] == 0.0
    assert totals["dish_pickup/agent_1"] == 1.0 and totals["soup_pickup/agent_1"] == 1.0
    assert totals["soup_distance/agent_1"] == 2.0 and totals["dish_distance/agent_0"] == -1.0


def test_a_plate_is_useful_after_the_cooks_before_it_in_seat_order(cramped):
    # One step: one cook puts the first onion into the empty pot while the other takes a plate.
    # Cooks interact in seat order, so the plate is useful when seat 0 filled the pot first and
    # not when seat 1 did (random play almost never meets this; JaxMARL agrees either way).
    seat0_fills = [(RIGHT, DOWN), (ACT, STAY), (LEFT, STAY), (UP, STAY), (ACT, ACT)]
    seat1_fills = [(DOWN, LEFT), (LEFT, ACT), (LEFT, RIGHT), (DOWN, UP), (ACT, ACT)]
    for script, taker, useful in ((seat0_fills, 1, 1.0), (seat1_fills, 0, 0.0)):
        feats, steps = play(cramped, script)
        assert feats[4, 1 - taker, F["placement_in_pot"]] == 1.0
        assert np.asarray(steps.shaped_reward)[4, taker] == 3.0 * useful  # JaxMARL's PLATE_PICKUP
        assert feats[4, taker, F["dish_pickup"]] == useful and feats[:4, :, :3].sum() == 0


def test_a_pot_waiting_for_its_start_takes_no_fourth_ingredient_and_the_start_is_no_feature():
    # With start_cooking_interaction a full pot waits for an empty-handed interaction: a 4th
    # onion does not go in, and the start (JaxMARL's POT_START_COOKING, 5) is none of the six.
    env = make("overcooked_v2/cramped_room", start_cooking_interaction=True)
    script = [(RIGHT, STAY)]
    for _ in range(3):
        script += [(ACT, STAY), (LEFT, STAY), (UP, STAY), (ACT, STAY), (RIGHT, STAY)]
    script += [(ACT, STAY), (LEFT, STAY), (UP, STAY), (ACT, STAY)]  # a 4th onion: refused at 19
    script += [(RIGHT, STAY), (UP, STAY), (ACT, STAY)]  # onto the counter at (3,0) instead
    script += [(LEFT, STAY), (UP, STAY), (ACT, STAY)]  # empty-handed at the full pot: it starts
    feats, steps = play(env, script)
    placed = np.flatnonzero(feats[:, 0, F["placement_in_pot"]])
    np.testing.assert_array_equal(placed, [4, 9, 14])  # three onions, not the 4th
    start = len(script) - 1
    assert float(steps.shaped_reward[start, 0]) == 5.0  # JaxMARL's start-cooking bonus...
    assert not feats[start].any()  # ...is not a shaping feature
    assert not feats[:, :, 3:].any()  # nothing cooked until the last step: no approach terms


def test_events_equal_jaxmarl_v2_shaping_and_zero_weights_its_reward_on_random_play():
    # On a one-ingredient layout with pots that start themselves, JaxMARL v2 pays 3 per
    # placement (every one is useful), 3 per useful plate pickup and 5 per soup lifted: the
    # events recomputed here must give its shaped reward step for step. Random resets start
    # pots part-filled or cooked and hands and counters full, so random play meets every event.
    env = make("overcooked_v2/cramped_room", random_reset=True)
    w = jnp.asarray([0.5, 1.0, 2.0, 3.0, 4.0, 5.0], jnp.float32)

    def roll(key):
        state, _ = env.reset(key)

        def body(st, k):
            ka, ks = jax.random.split(k)
            acts = jax.random.randint(ka, (2,), 0, 6)
            new, ts = env.step(ks, st, acts)
            shaped = env.step(ks, st, acts, with_shaping(env.default_params, w))[1].reward
            raw = env.env.step_env(ks, st, {"agent_0": acts[0], "agent_1": acts[1]})[2]["agent_0"]
            return new, (sh2.features(env._tables, st, new), ts.shaped_reward, ts.reward, shaped, raw)
        return jax.lax.scan(body, state, jax.random.split(key, 400))[1]

    f, jaxmarl_shaped, reward, shaped, raw = map(np.asarray, jax.jit(jax.vmap(roll))(jax.random.split(jax.random.key(1), 64)))
    assert (f[..., :3].sum(axis=(0, 1, 2)) > 10).all()
    assert (np.abs(f[..., 3:]).sum(axis=(0, 1, 2)) > 10).all()
    np.testing.assert_allclose(3 * f[..., 0] + 3 * f[..., 1] + 5 * f[..., 2], jaxmarl_shaped, atol=1e-6)
    assert raw.any()  # soups were served
    np.testing.assert_array_equal(reward, np.repeat(raw[..., None], 2, -1))  # exactly the sparse reward
    np.testing.assert_allclose(shaped, reward + f @ np.asarray(w), atol=1e-5)


def test_distance_tables_are_hand_computed_shortest_paths():
    # forced_coord: two rooms split by a counter column (x=2); the left one (x=1) reaches the
    # plate pile at (0,3), the right one (x=3) the pots at (3,0), (4,1) and the counter at (3,4).
    forced = make("overcooked_v2/forced_coord")._tables
    np.testing.assert_array_equal(np.asarray(forced.pots), [[3, 0], [4, 1]])
    np.testing.assert_array_equal(np.asarray(forced.to_plates)[1:4, 1], [2, 1, 0])
    assert (np.asarray(forced.to_plates)[1:4, 3] == U).all()
    np.testing.assert_array_equal(np.asarray(forced.to_goal)[1:4, 3], [2, 1, 0])
    np.testing.assert_array_equal(np.asarray(forced.to_pot)[:, 1:4, 3], [[0, 1, 2], [0, 1, 2]])
    assert (np.asarray(forced.to_pot)[:, 1:4, 1] == U).all()
    # counter_circuit: a ring round a counter block. From (3,3) the pot at (3,0) is used from
    # (3,1), two cells up as the crow flies, six on foot round the left end of the block.
    ring = make("overcooked_v2/counter_circuit")._tables
    to_pot = np.asarray(ring.to_pot)[0]  # the pot at (3,0)
    np.testing.assert_array_equal(to_pot[3, 1:7], [4, 5, 6, 7, 6, 5])
    np.testing.assert_array_equal(to_pot[1, 1:7], [2, 1, 0, 1, 2, 3])
    np.testing.assert_array_equal(np.asarray(ring.to_goal)[1, 1:7], [6, 5, 4, 3, 2, 1])  # (7,2) from (6,2)
    assert np.asarray(ring.to_plates)[2, 1] == 0 and np.asarray(ring.to_plates)[3, 6] == 6  # (0,2)


def test_one_cook_layouts_take_one_row_of_weights():
    env = make("overcooked_v2/long_room")
    assert env.default_params.features.shape == (1, len(FEATURES))
    assert {m.name for m in env.spec.metrics} == {"soups", *(f"{f}/agent_0" for f in FEATURES)}
