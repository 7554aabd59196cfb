"""mpe_tag_intent: the prey's hidden corner drives its reward and never reaches blind predators."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from arena.cli import cli
from arena.envs import UnknownEnv, make
from arena.envs.mpe_tag_intent import CORNER_LABELS, CORNERS

PREDATORS, PREY = 0, 1


def _reset(env, seed=0):
    return env.reset(jax.random.key(seed))


def test_spec_exposes_the_intent_as_truth_and_shapes_follow_intent_obs():
    env = make("mpe_tag_intent")
    assert env.spec.truth.leaf == "intent" and env.spec.truth.labels == CORNER_LABELS == ("NE", "NW", "SE", "SW")
    assert env.spec.teams[PREDATORS].obs_shape == (16,) and env.spec.teams[PREY].obs_shape == (18,)
    for option in ("true", "random", "soft"):
        assert make("mpe_tag_intent", intent_obs=option).spec.teams[PREDATORS].obs_shape == (20,)
    state, _ = _reset(env, 3)
    assert env.truth(state).dtype == jnp.int32 and int(env.truth(state)) == int(state.intent)


def test_prey_reward_depends_on_the_hidden_corner():
    env = make("mpe_tag_intent")
    state, _ = _reset(env)
    # The prey sits on the NE corner, far from every predator: only the corner bonus differs.
    pos = state.p_pos.at[3].set(jnp.asarray(CORNERS[0])).at[:3].set(jnp.asarray([[-0.8, -0.8]] * 3))
    state = state.replace(p_pos=pos)
    noop = jnp.zeros(4, jnp.int32)
    prey_reward = []
    for corner in range(4):
        _, ts = env.step(jax.random.key(1), state.replace(intent=jnp.int32(corner)), noop)
        prey_reward.append(float(ts.reward[3]))
        assert np.all(np.asarray(ts.reward[:3]) == 0.0)  # no capture: predators get nothing
    assert prey_reward[0] > 0.4 and prey_reward[0] > max(prey_reward[1:]) + 0.2
    assert prey_reward[3] == min(prey_reward)  # the opposite corner pays least


def test_prey_sees_its_corner_blind_predators_see_no_trace_of_it():
    env = make("mpe_tag_intent")
    state, _ = _reset(env, 5)
    obs = [env.step(jax.random.key(2), state.replace(intent=jnp.int32(c)), jnp.ones(4, jnp.int32))[1].obs
           for c in range(4)]
    for c in range(1, 4):
        np.testing.assert_array_equal(obs[c][PREDATORS], obs[0][PREDATORS])
    np.testing.assert_array_equal(np.asarray(obs[2][PREY][0, -4:]), [0, 0, 1, 0])


def test_intent_obs_options_show_true_random_and_soft_corners():
    keys = jax.random.split(jax.random.key(0), 256)

    def shown(option):
        env = make("mpe_tag_intent", intent_obs=option)
        states, ts = jax.vmap(env.reset)(keys)
        return np.asarray(states.intent), np.asarray(ts.obs[PREDATORS][:, 0, -4:])

    intent, hint = shown("true")
    np.testing.assert_array_equal(hint.argmax(-1), intent)
    intent, hint = shown("random")
    right = np.mean(hint.argmax(-1) == intent)
    assert 0.1 < right < 0.45  # about a quarter: the shown corner ignores the truth
    intent, hint = shown("soft")
    np.testing.assert_allclose(hint.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(hint.argmax(-1), intent)
    p_true = hint[np.arange(len(intent)), intent]
    assert p_true.min() >= 0.25 and p_true.max() <= 1.0 and p_true.std() > 0.15  # sharpness varies


def test_pinned_obstacles_stay_put_random_ones_move():
    pinned = make("mpe_tag_intent", obstacles="pinned", pinned_positions=[[0.3, -0.2], [-0.4, 0.6]])
    for seed in range(3):
        np.testing.assert_allclose(np.asarray(_reset(pinned, seed)[0].p_pos[4:]), [[0.3, -0.2], [-0.4, 0.6]])
    free = make("mpe_tag_intent")
    assert not np.allclose(_reset(free, 0)[0].p_pos[4:], _reset(free, 1)[0].p_pos[4:])


@pytest.mark.parametrize("kwargs", [{"intent_obs": "oracle"}, {"obstacles": "fixed"}, {"bogus": 1},
                                    {"pinned_positions": [[0.0, 0.0]]}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(UnknownEnv):
        make("mpe_tag_intent", **kwargs)


def test_a_match_runs_and_envs_lists_it():
    from arena.agents import build_agent
    from arena.runner import run_match

    env = make("mpe_tag_intent")
    agents = [build_agent("random", {}, t.obs_shape, t.obs_dtype, t.num_actions) for t in env.spec.teams]
    params = [a.init_params(jax.random.key(0)) for a in agents]
    result = run_match(env, agents, params, episodes=8, seed=0)
    assert np.asarray(result.metrics["captures"]).shape == (8,)
    out = CliRunner().invoke(cli, ["envs", "--json"])
    assert out.exit_code == 0, out.output
    assert "mpe_tag_intent" in json.dumps(json.loads(out.output))
