"""Conformance of every registered env to core.py's interface, plus hand-checked games.

Every id gets the static checks (spec, shapes and dtypes of reset and step, traced with
`eval_shape`, no compilation). One id per family also runs real jitted episodes: a `scan`
over steps of a `vmap` over episodes with random actions, compiled once and reused by the
family's metric checks.
"""
from __future__ import annotations

import functools
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena.envs import UnknownEnv, make, registered_ids
from arena.envs.jaxmarl_import import FULL_IMPORT, jaxmarl_module
from arena.envs.matrix_games import MatrixGameState

v1_common = jaxmarl_module("jaxmarl.environments.overcooked.common")
v2_common = jaxmarl_module("jaxmarl.environments.overcooked_v2.common")

ALL_IDS = registered_ids()

# One id per family, with short step limits (where the adapter takes them) to keep episodes
# cheap. (random_reset would make random play deliver soups, but compiling its reset costs
# more than the rest of the family together; deliveries are checked by hand below.)
EPISODE_CASES = {
    "overcooked/cramped_room": dict(max_steps=30),
    "overcooked_v2/cramped_room": dict(max_steps=50),
    "mpe_tag": {},
    "mpe_tag_intent": dict(max_steps=10),
    "ipd": dict(rounds=10),
    "coord_game": dict(rounds=8),
}
N_EPISODES = 32


def test_every_family_has_an_episode_case():
    families = {i.split("/")[0] for i in ALL_IDS}
    assert families == {i.split("/")[0] for i in EPISODE_CASES}
    assert set(EPISODE_CASES) <= set(ALL_IDS)


# ---------------------------------------------------------------- static checks, every id


def check_timestep(spec, ts, batch=()):
    """ts: a TimeStep of arrays or ShapeDtypeStructs, with leading `batch` axes."""
    assert len(ts.obs) == len(spec.teams)
    for obs, team in zip(ts.obs, spec.teams):
        assert obs.shape == (*batch, len(team.seats), *team.obs_shape), team.name
        assert obs.dtype == jnp.dtype(team.obs_dtype), team.name
    S = spec.num_seats
    assert (ts.reward.shape, ts.reward.dtype) == ((*batch, S), jnp.float32)
    assert (ts.shaped_reward.shape, ts.shaped_reward.dtype) == ((*batch, S), jnp.float32)
    for flag in (ts.terminated, ts.truncated):
        assert (flag.shape, flag.dtype) == (batch, jnp.bool_)
    assert sorted(ts.metrics) == sorted(m.name for m in spec.metrics)
    for value in ts.metrics.values():
        assert (value.shape, value.dtype) == (batch, jnp.float32)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_spec_and_shapes(env_id):
    env = make(env_id)
    spec = env.spec
    assert spec.id == env_id and hash(spec) is not None
    assert sorted(s for t in spec.teams for s in t.seats) == list(range(spec.num_seats))
    for team in spec.teams:
        assert len(team.action_labels) == team.num_actions
    assert spec.cooperative == (len(spec.teams) == 1)
    assert spec.max_steps > 0
    assert {m.reduce for m in spec.metrics} <= {"sum", "mean"}

    state, first = jax.eval_shape(env.reset, jax.random.key(0))
    check_timestep(spec, first)
    actions = jax.ShapeDtypeStruct((spec.num_seats,), jnp.int32)
    next_state, ts = jax.eval_shape(env.step, jax.random.key(1), state, actions)
    check_timestep(spec, ts)
    # A step preserves the state's structure and abstract types exactly (weak types too): it
    # is a scan carry, and a jitted step fed states from reset and from step compiles once.
    assert jax.tree.structure(next_state) == jax.tree.structure(state)
    avals = lambda tree: [(x.shape, x.dtype, x.weak_type) for x in jax.tree.leaves(tree)]  # noqa: E731
    assert avals(next_state) == avals(state)
    assert avals(ts) == avals(first)


# ------------------------------------------------------------ jitted episodes, per family


def random_inputs(spec, seed):
    """Host-made episode inputs: reset keys (E,), step keys (E, T), actions (E, T, S) int32.

    Made with numpy rather than inside the jitted episode: on CPU, compiling jax.random's
    draws (randint, multi-dimensional splits) costs more than compiling a small env.
    """
    rng = np.random.default_rng(seed)
    E, T = N_EPISODES, spec.max_steps
    num_actions = np.zeros(spec.num_seats, np.int64)
    for team in spec.teams:
        num_actions[list(team.seats)] = team.num_actions
    reset_keys = jax.random.wrap_key_data(rng.integers(0, 2**32, (E, 2), dtype=np.uint32))
    step_keys = jax.random.wrap_key_data(rng.integers(0, 2**32, (E, T, 2), dtype=np.uint32))
    actions = rng.integers(0, num_actions, (E, T, spec.num_seats)).astype(np.int32)
    return reset_keys, step_keys, actions


TRACES = {}


@functools.cache
def compiled(env_id):
    """Jitted (reset over a batch of keys, run over a batch of states), one compile each.

    Split in two so hand-made start states (the delivery test) reuse the same compiled run.
    """
    env = make(env_id, **EPISODE_CASES[env_id])

    def reset(keys):
        TRACES[env_id, "reset"] = TRACES.get((env_id, "reset"), 0) + 1  # runs once per trace
        return jax.vmap(env.reset)(keys)

    def episode(state, step_keys, actions):
        def body(state, x):
            key, action = x
            return env.step(key, state, action)

        return jax.lax.scan(body, state, (step_keys, actions))

    def run(states, step_keys, actions):
        TRACES[env_id, "run"] = TRACES.get((env_id, "run"), 0) + 1
        return jax.vmap(episode)(states, step_keys, actions)

    return jax.jit(reset), jax.jit(run)


@functools.cache
def rollout(env_id: str, seed: int):
    """Host copies of (actions, first TimeStep, trajectory) of random play."""
    reset_keys, step_keys, actions = random_inputs(make(env_id, **EPISODE_CASES[env_id]).spec, seed)
    reset, run = compiled(env_id)
    states, first = reset(reset_keys)
    _, traj = run(states, step_keys, actions)
    return actions, *jax.device_get((first, traj))


@pytest.mark.parametrize("env_id", sorted(EPISODE_CASES))
def test_episode(env_id):
    env = make(env_id, **EPISODE_CASES[env_id])
    spec, T = env.spec, env.spec.max_steps
    actions, first, traj = rollout(env_id, 0)

    check_timestep(spec, first, (N_EPISODES,))
    check_timestep(spec, traj, (N_EPISODES, T))
    assert actions.shape == (N_EPISODES, T, spec.num_seats)
    assert np.all(np.isfinite(traj.reward)) and np.all(np.isfinite(traj.shaped_reward))
    for value in traj.metrics.values():
        assert np.all(np.isfinite(value))
    # No env here ends early: the episode is cut by the step limit, at exactly max_steps.
    assert not first.truncated.any() and not first.terminated.any()
    assert not traj.terminated.any()
    np.testing.assert_array_equal(traj.truncated, np.broadcast_to(np.arange(T) == T - 1, (N_EPISODES, T)))

    # Deterministic for a fixed key, different for another, and compiled once for both.
    again = rollout.__wrapped__(env_id, 0)
    jax.tree.map(np.testing.assert_array_equal, (actions, first, traj), again)
    other_actions = rollout(env_id, 1)[0]
    assert not np.array_equal(actions, other_actions)
    assert TRACES[env_id, "reset"] == TRACES[env_id, "run"] == 1


def test_overcooked_soups_agree_with_reward_in_random_play():
    # Only deliveries earn sparse reward in cramped_room (one recipe, no indicator button),
    # DELIVERY_REWARD = 20 each, in both versions.
    for env_id in ("overcooked/cramped_room", "overcooked_v2/cramped_room"):
        _, _, traj = rollout(env_id, 0)
        np.testing.assert_array_equal(traj.metrics["soups"], traj.reward[..., 0] / 20.0)
        np.testing.assert_array_equal(traj.reward[..., 0], traj.reward[..., 1])  # shared reward


def hold_v1(state, wrong):
    """The cook at (3, 1) holds a soup (or, if `wrong`, an onion)."""
    cook = jnp.argmax((state.agent_pos[:, 0] == 3) & (state.agent_pos[:, 1] == 1))
    item = jnp.where(wrong, v1_common.OBJECT_TO_INDEX["onion"], v1_common.OBJECT_TO_INDEX["dish"])
    return state.replace(agent_inv=state.agent_inv.at[cook].set(item)), cook


def hold_v2(state, wrong):
    """The cook at (3, 1) holds the recipe's soup (or, if `wrong`, a two-onion soup)."""
    pos, agents = state.agents.pos, state.agents
    cook = jnp.argmax((pos.x == 3) & (pos.y == 1))
    served = v2_common.DynamicObject.PLATE | v2_common.DynamicObject.COOKED
    other = v2_common.DynamicObject.get_recipe_encoding(jnp.array([0, 0]))
    item = jnp.where(wrong, other, state.recipe) | served
    return state.replace(agents=agents.replace(inventory=agents.inventory.at[cook].set(item))), cook


@pytest.mark.parametrize("env_id, hold", [("overcooked/cramped_room", hold_v1), ("overcooked_v2/cramped_room", hold_v2)])
def test_overcooked_soups_count_a_delivery(env_id, hold):
    # cramped_room (both versions):  WWPWW / OA AO / W   W / WBWXW. The cook at (3, 1) steps
    # down to (3, 2), facing the goal X at (3, 3), and interacts; then both stay. Actions
    # 1 = down, 4 = stay, 5 = interact in both versions. Odd episodes hold the wrong thing.
    spec = make(env_id, **EPISODE_CASES[env_id]).spec
    reset_keys, step_keys, _ = random_inputs(spec, 0)
    reset, run = compiled(env_id)
    states, _ = reset(reset_keys)
    wrong = np.arange(N_EPISODES) % 2 == 1
    states, cook = jax.vmap(hold)(states, wrong)
    actions = np.full((N_EPISODES, spec.max_steps, 2), 4, np.int32)
    actions[np.arange(N_EPISODES), 0, cook] = 1
    actions[np.arange(N_EPISODES), 1, cook] = 5
    _, traj = jax.device_get(run(states, step_keys, actions))

    expected = np.zeros((N_EPISODES, spec.max_steps))
    expected[:, 1] = np.where(wrong, 0.0, 1.0)
    np.testing.assert_array_equal(traj.metrics["soups"], expected)
    np.testing.assert_array_equal(traj.reward, 20.0 * np.stack([expected, expected], -1))
    assert TRACES[env_id, "run"] == 1


def test_mpe_tag_captures_match_predator_reward():
    env = make("mpe_tag")
    predators, prey = env.spec.teams
    assert (predators.name, predators.seats, prey.name, prey.seats) == ("predators", (0, 1, 2), "prey", (3,))
    assert (predators.obs_shape, prey.obs_shape, predators.num_actions) == ((16,), (14,), 5)
    _, _, traj = rollout("mpe_tag", 0)
    captures = traj.metrics["captures"]
    for seat in predators.seats:
        np.testing.assert_array_equal(captures, traj.reward[..., seat] / 10.0)
    assert captures.sum() > 0, "no capture in the random rollout, nothing checked"


# ------------------------------------------------------------------- hand-checked games


def play(env_id, rounds, joint_actions):
    env = make(env_id, rounds=rounds)
    state, ts = env.reset(jax.random.key(0))
    steps = [ts]
    for a in joint_actions:
        state, ts = env.step(jax.random.key(0), state, jnp.asarray(a, jnp.int32))
        steps.append(ts)
    return env, state, steps


@pytest.mark.parametrize(
    "joint, payoff, cooperation",
    [((0, 0), (3, 3), 1.0), ((0, 1), (0, 5), 0.5), ((1, 0), (5, 0), 0.5), ((1, 1), (1, 1), 0.0)],
)
def test_ipd_payoffs_and_observation(joint, payoff, cooperation):
    env, state, (first, ts) = play("ipd", 3, [joint])
    np.testing.assert_array_equal(ts.reward, np.asarray(payoff, np.float32))
    assert float(ts.metrics["cooperation"]) == cooperation
    # First round: no history, flag set.
    for obs in first.obs:
        np.testing.assert_array_equal(obs, [[0, 0, 0, 0, 1]])
    # Afterwards each seat sees (own, other) at index 2 * own + other.
    row, col = joint
    np.testing.assert_array_equal(ts.obs[0][0], np.eye(5)[2 * row + col])
    np.testing.assert_array_equal(ts.obs[1][0], np.eye(5)[2 * col + row])
    assert isinstance(state, MatrixGameState) and int(state.step) == 1


def test_ipd_spec():
    spec = make("ipd").spec
    assert spec.seats == ("row", "col") and not spec.cooperative and spec.max_steps == 100
    assert [(t.name, t.seats, t.action_labels) for t in spec.teams] == [
        ("row", (0,), ("cooperate", "defect")),
        ("col", (1,), ("cooperate", "defect")),
    ]
    assert [s.seats for s in spec.sides] == [(0,), (1,)]


@pytest.mark.parametrize("joint, payoff", [((0, 0), 1.0), ((1, 1), 1.0), ((0, 1), 0.0), ((1, 0), 0.0)])
def test_coord_game_pays_on_agreement(joint, payoff):
    env, _, (_, ts) = play("coord_game", 2, [joint])
    assert env.spec.cooperative and env.spec.teams[0].action_labels == ("left", "right")
    np.testing.assert_array_equal(ts.reward, [payoff, payoff])
    assert float(ts.metrics["agreement"]) == payoff
    np.testing.assert_array_equal(ts.obs[0], np.eye(5)[[2 * joint[0] + joint[1], 2 * joint[1] + joint[0]]])


def test_matrix_game_truncates_at_rounds():
    _, _, steps = play("coord_game", 3, [(0, 0)] * 3)
    assert [bool(ts.truncated) for ts in steps] == [False, False, False, True]
    assert not any(bool(ts.terminated) for ts in steps)


# ------------------------------------------------------------------------ options, errors


def test_overcooked_v2_kwargs_pass_through():
    env = make("overcooked_v2/cramped_room", max_steps=50)
    assert env.spec.max_steps == 50 and env.env.max_steps == 50
    assert env.spec.kwargs == (("max_steps", 50),)
    _, _, traj = rollout("overcooked_v2/cramped_room", 0)  # this very env (EPISODE_CASES)
    assert traj.truncated.shape[1] == 50 and traj.truncated[:, -1].all() and not traj.truncated[:, :-1].any()
    assert make("overcooked_v2/cramped_room", random_reset=True).env.random_reset is True
    viewed = make("overcooked_v2/cramped_room", agent_view_size=2)
    assert viewed.spec.teams[0].obs_shape[:2] == (5, 5)
    _, ts = jax.eval_shape(viewed.reset, jax.random.key(0))
    assert ts.obs[0].shape[1:] == viewed.spec.teams[0].obs_shape


def test_action_labels_follow_each_version():
    v1 = make("overcooked/cramped_room").spec.teams[0].action_labels
    v2 = make("overcooked_v2/cramped_room").spec.teams[0].action_labels
    assert v1 == ("up", "down", "right", "left", "stay", "interact")
    assert v2 == ("right", "down", "left", "up", "stay", "interact")
    assert make("mpe_tag").spec.teams[0].action_labels == ("noop", "left", "right", "down", "up")


def test_make_caches_by_id_and_kwargs():
    assert make("ipd", rounds=5) is make("ipd", rounds=5)
    assert make("ipd", rounds=5) is not make("ipd", rounds=6)
    assert make("ipd").spec.kwargs == () and make("ipd", rounds=5).spec.kwargs == (("rounds", 5),)


def test_list_valued_options_keep_the_spec_hashable():
    # JaxMARL's other-play option is a list; the spec (a compile-cache key) records a tuple.
    env = make("overcooked_v2/cramped_room_v2", op_ingredient_permutations=[0, 1])
    assert env.spec.kwargs == (("op_ingredient_permutations", (0, 1)),)
    hash(env.spec)
    assert make("overcooked_v2/cramped_room_v2", op_ingredient_permutations=[0, 1]) is env


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("no_such_env", {}),
        ("overcooked/no_such_layout", {}),
        ("ipd", {"bogus": 1}),
        ("ipd", {"rounds": 0}),
        ("coord_game", {"rounds": 2.5}),
        ("mpe_tag", {"bogus": 1}),
        ("mpe_tag", {"action_type": "Continuous"}),
        ("overcooked/cramped_room", {"bogus": 1}),
        ("overcooked_v2/cramped_room", {"layout": "coord_ring"}),
        ("overcooked_v2/cramped_room", {"observation_type": "nonsense"}),
    ],
)
def test_unknown_env_and_bad_options(env_id, kwargs):
    with pytest.raises(UnknownEnv):
        make(env_id, **kwargs)


# ---------------------------------------------------------------- importing JaxMARL


JAXMARL_CLASSES = {  # env id -> (installed file, class) of the JaxMARL env it wraps
    "overcooked/cramped_room": ("jaxmarl/environments/overcooked/overcooked.py", "Overcooked"),
    "overcooked_v2/cramped_room": ("jaxmarl/environments/overcooked_v2/overcooked.py", "OvercookedV2"),
    "mpe_tag": ("jaxmarl/environments/mpe/simple_tag.py", "SimpleTagMPE"),
}


@pytest.mark.parametrize("env_id", list(JAXMARL_CLASSES))
def test_envs_wrap_jaxmarls_own_classes(env_id):
    file, name = JAXMARL_CLASSES[env_id]
    cls = type(make(env_id).env)
    assert cls.__name__ == name
    # The installed distribution's file, located without Python's import machinery.
    installed = Path(importlib.metadata.distribution("jaxmarl").locate_file(file)).resolve()
    assert Path(inspect.getfile(cls)).resolve() == installed


IMPORT_PROBE = """
import json, sys
import jax
from arena.envs import make
env = make(sys.argv[1])
state, ts = env.reset(jax.random.key(0))
env.step(jax.random.key(1), state, jax.numpy.zeros(env.spec.num_seats, jax.numpy.int32))
loaded = sorted(m for m in sys.modules if m.startswith("jaxmarl"))
ran_init = "make" in vars(sys.modules["jaxmarl"])
import jaxmarl.environments
print(json.dumps({"loaded": loaded, "ran_init": ran_init,
                  "same_class": getattr(jaxmarl.environments, sys.argv[2]) is type(env.env)}))
"""


@pytest.mark.parametrize("env_id, family, other", [
    # The mechanism is one; the second family is the default suite's (10 s a process on 2 cores).
    pytest.param("overcooked_v2/cramped_room", "jaxmarl.environments.overcooked_v2", "jaxmarl.environments.mpe",
                 marks=pytest.mark.slow),
    ("mpe_tag", "jaxmarl.environments.mpe", "jaxmarl.environments.overcooked_v2.overcooked"),
])
def test_building_one_family_imports_only_that_family(env_id, family, other):
    name = JAXMARL_CLASSES[env_id][1]
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, env_id, name], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert not got["ran_init"]  # neither jaxmarl's nor jaxmarl.environments' __init__ ran...
    assert "jaxmarl.environments.storm" not in got["loaded"] and other not in got["loaded"]
    assert any(m.startswith(family + ".") for m in got["loaded"])
    # ...and the package, asked for a name only its __init__ defines, still has it: the same class.
    assert got["same_class"]


def test_making_a_matrix_game_imports_no_other_family_and_no_jaxmarl():
    """Env families register lazily: `make("ipd")` (as `arena new-agent --env ipd` does) imports
    the matrix games alone, never the overcooked module that reads JaxMARL's layout tables."""
    code = ("import json, sys\nfrom arena.envs import make\nmake('ipd')\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('jaxmarl', 'arena.envs.')))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["arena.envs.matrix_games"]


def test_every_builtin_id_is_registered_by_the_module_its_family_names():
    from arena.env import _REGISTRY, BUILTIN_FAMILIES

    ids = registered_ids()
    assert len(ids) > 20
    for env_id in ids:
        factory = _REGISTRY[env_id]
        assert getattr(factory, "func", factory).__module__ == BUILTIN_FAMILIES[env_id.split("/")[0]], env_id
    with pytest.raises(UnknownEnv, match="unknown env id 'ipd/v9'"):
        make("ipd/v9")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["overcooked_v2/cramped_room", "mpe_tag"])
def test_the_whole_package_path_still_works(env_id):
    """The old path (the whole package first), as benchmarks/cli_latency.py times it: slow,
    since it imports every JaxMARL family."""
    name = JAXMARL_CLASSES[env_id][1]
    full = subprocess.run([sys.executable, "-c", IMPORT_PROBE, env_id, name], capture_output=True, text=True,
                          env={**os.environ, FULL_IMPORT: "1"})
    assert full.returncode == 0, full.stderr
    got = json.loads(full.stdout)
    assert got["ran_init"] and "jaxmarl.environments.storm" in got["loaded"] and got["same_class"]
