"""The six Overcooked shaping features: each fires on its event in a scripted game on the real
env, the events agree with JaxMARL's own shaping, distances are hand-computed shortest paths,
and the weights reach the reward and nothing else."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena.env import make
from arena.envs import overcooked_shaping as sh
from arena.errors import UserError

UP, DOWN, RIGHT, LEFT, STAY, ACT = range(6)
U = sh.UNREACHABLE
F = {name: k for k, name in enumerate(sh.FEATURES)}


@pytest.fixture(scope="module")
def forced():
    return make("overcooked/forced_coord")


@functools.partial(jax.jit, static_argnums=0)
def scripted(env, actions, params):
    def body(state, x):
        t, acts = x
        new, ts = env.step(jax.random.key(t), state, acts, params)
        return new, (sh.features(env._tables, env.env.height, state, new), ts)

    state, _ = env.reset(jax.random.key(0))
    return jax.lax.scan(body, state, (jnp.arange(len(actions)), actions))[1]


def play(env, script, params=None):
    """Step the env through `script` [(a0, a1), ...] in one scan (compiled once per env and
    script length): -> (features (T, 2, 6), timesteps stacked over T)."""
    params = env.default_params if params is None else params
    feats, steps = scripted(env, jnp.asarray(script, jnp.int32), params)
    return np.asarray(feats), steps


def one_soup():
    """forced_coord, a soup start to finish: cook 0 (left, at (1,2)) hands three onions and a
    plate over the counter at (2,2); cook 1 (right, at (3,1)) fills the pot at (3,0), plates
    the soup and serves it at (3,4). -> (script, {(step, seat, feature): value})."""
    script, expect = [], {}
    script.append((LEFT, DOWN))  # cook 0 faces an onion pile; cook 1 steps to (3,2)
    script.append((STAY, LEFT))  # cook 1 faces the counter at (2,2)
    for _ in range(3):
        script += [(ACT, STAY), (RIGHT, STAY), (ACT, STAY), (LEFT, ACT), (STAY, UP)]
        script.append((STAY, ACT))  # the onion goes into the pot above (3,1)
        expect[(len(script) - 1, 1, F["placement_in_pot"])] = 1.0
        script += [(STAY, DOWN), (STAY, LEFT)]
    # The pot cooks (20 steps). Cook 0, empty-handed, walks to the plate pile: closer to it.
    script.append((DOWN, STAY))  # (1,2) -> (1,3): distance 1 -> 0
    expect[(len(script) - 1, 0, F["dish_distance"])] = 1.0
    script.append((LEFT, STAY))
    script.append((ACT, STAY))  # a plate from the pile, one pot cooking, none in hand: useful
    expect[(len(script) - 1, 0, F["dish_pickup"])] = 1.0
    script += [(UP, STAY), (RIGHT, STAY), (ACT, STAY), (STAY, ACT)]  # over the counter
    script.append((STAY, UP))  # cook 1 with the plate: (3,2) -> (3,1), beside the pot
    expect[(len(script) - 1, 1, F["pot_distance"])] = 1.0
    script += [(STAY, STAY)] * 9  # the pot, full at step 23, is cooked after step 42
    script.append((STAY, ACT))  # the soup, cooked, onto the plate
    expect[(len(script) - 1, 1, F["soup_pickup"])] = 1.0
    script.append((STAY, DOWN))  # towards the serving counter at (3,4): 2 -> 1
    expect[(len(script) - 1, 1, F["soup_distance"])] = 1.0
    script.append((STAY, UP))  # a step back costs what the step forward paid: no farming
    expect[(len(script) - 1, 1, F["soup_distance"])] = -1.0
    script.append((STAY, DOWN))
    expect[(len(script) - 1, 1, F["soup_distance"])] = 1.0
    script.append((STAY, DOWN))  # 1 -> 0
    expect[(len(script) - 1, 1, F["soup_distance"])] = 1.0
    script.append((STAY, DOWN))  # faces the counter, does not move: no term
    script.append((STAY, ACT))
    return script, expect


def test_each_feature_fires_on_its_event_only(forced):
    script, expect = one_soup()
    feats, steps = play(forced, script)
    want = np.zeros_like(feats)
    for (t, seat, k), v in expect.items():
        want[t, seat, k] = v
    np.testing.assert_allclose(feats, want, atol=1e-6)
    assert float(steps.metrics["soups"][-1]) == 1.0  # the script really played a whole soup
    # Default params: the reward is JaxMARL's sparse reward alone, 20 a soup to both cooks.
    np.testing.assert_allclose(steps.reward, np.repeat(20.0 * np.asarray(steps.metrics["soups"])[:, None], 2, axis=1))


def test_events_equal_jaxmarl_shaping_on_random_play():
    # JaxMARL pays 3 per placement, 3 per useful plate pickup, 5 per soup pickup: the same
    # events recomputed here must give its shaped reward step for step. Random resets start
    # pots part-cooked and hands full, so random play meets every event often.
    env = make("overcooked/cramped_room", random_reset=True)

    def roll(key):
        state, _ = env.reset(key)

        def body(st, k):
            ka, ks = jax.random.split(k)
            new, ts = env.step(ks, st, jax.random.randint(ka, (2,), 0, 6))
            return new, (sh.features(env._tables, env.env.height, st, new), ts.shaped_reward)
        return jax.lax.scan(body, state, jax.random.split(key, 400))[1]

    f, shaped = jax.jit(jax.vmap(roll))(jax.random.split(jax.random.key(1), 16))
    assert (np.asarray(f[..., :3]).sum(axis=(0, 1, 2)) > 10).all()
    np.testing.assert_allclose(3 * f[..., 0] + 3 * f[..., 1] + 5 * f[..., 2], shaped, atol=1e-6)


def test_distance_table_is_the_hand_computed_shortest_path():
    # . . . . .    T (x=2, y=2) is the target counter, X counters. A cook stands beside T to
    # . X X X .    use it: (1,2) or (3,2) are 0. The top middle cell is 2 steps from T as
    # . . T . .    the crow flies but 5 on foot, round the counters.
    walkable = np.array([[1, 1, 1, 1, 1],
                         [1, 0, 0, 0, 1],
                         [1, 1, 0, 1, 1]], bool)
    got = sh.distance_table(walkable, np.array([[2, 2]]))
    np.testing.assert_array_equal(got, [[3, 4, 5, 4, 3],
                                        [2, U, U, U, 2],
                                        [1, 0, U, 0, 1]])


def test_forced_coord_distances(forced):
    t = forced._tables
    # The left room (x=1) reaches the plate pile at (0,3); the right room (x=3) never does.
    np.testing.assert_array_equal(np.asarray(t.to_plates)[1:4, 1], [2, 1, 0])
    assert (np.asarray(t.to_plates)[1:4, 3] == U).all()
    np.testing.assert_array_equal(np.asarray(t.to_goal)[1:4, 3], [2, 1, 0])
    np.testing.assert_array_equal(np.asarray(t.to_pot)[:, 1:4, 3], [[0, 1, 2], [0, 1, 2]])
    assert (np.asarray(t.to_pot)[:, 1:4, 1] == U).all()


def test_weights_add_to_the_reward_per_seat(forced):
    script, _ = one_soup()
    w = np.array([[1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]], np.float32)
    feats, steps = play(forced, script, sh.with_shaping(forced.default_params, w))
    sparse = 20.0 * np.asarray(steps.metrics["soups"])[:, None]  # v1 pays 20 a soup to both cooks
    np.testing.assert_allclose(steps.reward, sparse + (feats * w).sum(-1), atol=1e-6)  # (T, 2)
    assert feats[:, 0].sum() > 0 and np.allclose(steps.reward[:, 1], sparse[:, 0])  # seat 1 unshaped
    # Metrics count the features per seat, unweighted.
    totals = {k: float(v.sum()) for k, v in steps.metrics.items()}
    assert totals["placement_in_pot/agent_1"] == 3.0 and totals["placement_in_pot/agent_0"] == 0.0
    assert totals["dish_pickup/agent_0"] == 1.0 and totals["soup_pickup/agent_1"] == 1.0


def test_weights_map_round_trips_and_rejects_unknown_names():
    w = sh.weights_array({"dish_pickup": 2.5, "soup_distance": 10})
    assert sh.weights_dict(w) == {**dict.fromkeys(sh.FEATURES, 0.0), "dish_pickup": 2.5, "soup_distance": 10.0}
    with pytest.raises(UserError, match="unknown shaping feature"):
        sh.weights_array({"onion_love": 1.0})
