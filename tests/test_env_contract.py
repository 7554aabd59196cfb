"""The env contract: traced params, the terminated path, derived cooperation, spec identity.

Envs take their params (payoffs, reward weights) as an argument of every step, so a population
rewarded differently is one vmap; a game that ends before the clock ends by `terminated`, and
the runner, the recorder and `replay verify` all follow it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena import runner
from arena.agent import build_agent
from arena.env import make
from arena.envs.jaxmarl_adapter import JaxMARLEnv, TeamLayout
from arena.envs.matrix_games import IPD, MatrixGameParams, make_game
from arena.errors import FieldError


def scripted(env, rule):
    team = env.spec.teams[0]
    return build_agent("scripted", {"rule": rule}, team.obs_shape, team.obs_dtype, team.num_actions)


def test_cooperative_is_derived_from_the_teams():
    assert make("coord_game").spec.cooperative
    assert make("overcooked_v2/cramped_room").spec.cooperative
    assert not make("ipd").spec.cooperative
    assert not make("mpe_tag").spec.cooperative


def test_envs_built_alike_are_equal_and_share_one_compiled_match():
    a, b = make_game(IPD, rounds=7), make_game(IPD, rounds=7)
    assert a is not b and a == b and hash(a) == hash(b)
    assert a != make_game(IPD, rounds=8)
    agents = [scripted(a, "tit_for_tat"), scripted(a, "always_defect")]
    runner.run_match(a, agents, [{}, {}], episodes=4)
    before = runner.compile_count()
    runner.run_match(b, agents, [{}, {}], episodes=4)
    assert runner.compile_count() == before


def test_payoffs_are_traced_params_one_vmap_over_a_population():
    env = make("ipd", rounds=10)
    agents = (scripted(env, "always_cooperate"), scripted(env, "always_defect"))
    base = env.default_params
    # Three payoff tables: Axelrod's, doubled, and one where the sucker is paid 2.
    tables = jnp.stack([base.payoffs, 2 * base.payoffs, base.payoffs.at[0, 1, 0].set(2.0)])
    population = MatrixGameParams(payoffs=tables, stop_prob=jnp.zeros((3,), jnp.float32))
    run = runner.match_fn(env, agents, episodes=2, record=0, observer=None)
    out = jax.jit(jax.vmap(lambda p: run(({}, {}), jax.random.PRNGKey(0), p)))(population)
    returns = np.asarray(out.returns)[:, 0]  # (3 tables, 2 seats), episode 0
    # Row always cooperates and column always defects: row gets S, column gets T each round.
    np.testing.assert_array_equal(returns, [[0.0, 50.0], [0.0, 100.0], [20.0, 50.0]])
    one = runner.run_match(env, agents, [{}, {}], episodes=2, env_params=jax.tree.map(lambda x: x[1], population))
    np.testing.assert_array_equal(one.returns[0], returns[1])


def test_matrix_game_options_are_checked():
    with pytest.raises(Exception, match="payoffs must be a 2x2x2"):
        make("ipd", payoffs=[[1, 2], [3, 4]])
    with pytest.raises(Exception, match=r"stop_prob must be a number in \[0, 1\)"):
        make("coord_game", stop_prob=1.0)


def test_a_game_that_stops_early_ends_by_terminated():
    env = make("ipd", rounds=50, stop_prob=0.25)
    state, ts = env.reset(jax.random.PRNGKey(0))
    ended = []
    for t in range(50):
        state, ts = env.step(jax.random.PRNGKey(t), state, jnp.array([0, 0]))
        ended.append((bool(ts.terminated), bool(ts.truncated)))
        if ts.done:
            break
    assert ended[-1] == (True, False), "a stop before the horizon is a termination, not a truncation"
    agents = [scripted(env, "always_cooperate")] * 2
    result = runner.run_match(env, agents, [{}, {}], episodes=256, seed=3)
    lengths = result.length
    assert lengths.min() >= 1 and lengths.max() < 50
    # Geometric stopping: mean length 1 / 0.25 = 4 rounds (a generous 5-sigma band).
    assert abs(lengths.mean() - 4.0) < 5 * np.sqrt(12 / 256)
    # Returns stop accumulating when the episode ends: R = 3 per round of mutual cooperation.
    np.testing.assert_array_equal(result.returns[:, 0], 3.0 * lengths)


def test_a_terminated_episode_replays_and_verifies(tmp_path):
    from arena.replay import open_replay, write_replay
    from arena.trace import SideInfo, traces_from_result, trimmed
    from arena.verify import verify_traces

    env = make("ipd", rounds=40, stop_prob=0.2)
    agents = [scripted(env, "tit_for_tat"), build_agent("random", {}, (5,), "float32", 2)]
    result = runner.run_match(env, agents, [{}, {}], episodes=8, seed=1, record=8)
    sides = tuple(SideInfo(name=s.name, seats=s.seats, agent=a.arch, arch=a.arch) for s, a in zip(env.spec.sides, agents))
    traces = [trimmed(t) for t in traces_from_result(result, sides, {"rounds": 40, "stop_prob": 0.2}, env.spec.seats)]
    assert [t.length for t in traces] == result.length.tolist()
    assert any(t.length < 40 for t in traces)
    path = write_replay(tmp_path / "stop.replay", traces)
    report = verify_traces(open_replay(path).episodes)
    assert report.ok and report.episodes == 8


def test_jaxmarl_dones_pass_through_as_terminated():
    """A JaxMARL env whose own `dones` end the game before the clock (JaxMARL's MPE tag with a
    rule of its own: the game is over after 3 steps) ends by terminated, not truncated."""
    from jaxmarl.environments.mpe.simple_tag import SimpleTagMPE

    from arena.envs.mpe_tag import ACTION_LABELS, CAPTURES, captures

    class ShortTag(SimpleTagMPE):
        def step_env(self, key, state, actions):
            obs, state, rewards, dones, info = super().step_env(key, state, actions)
            over = state.step >= 3
            return obs, state, rewards, {k: v | over for k, v in dones.items()}, info

    inner = ShortTag()
    env = JaxMARLEnv("short_tag", inner,
                     (TeamLayout("predators", tuple(inner.adversaries), ACTION_LABELS),
                      TeamLayout("prey", tuple(inner.good_agents), ACTION_LABELS)),
                     (CAPTURES,), lambda *a: {CAPTURES.name: captures(*a)}, kwargs={})
    state, ts = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    seen = []
    for t in range(4):
        state, ts = step(jax.random.PRNGKey(t), state, jnp.array([2, 2, 2, 0]))
        seen.append((bool(ts.terminated), bool(ts.truncated)))
    assert seen == [(False, False), (False, False), (True, False), (True, False)]
    # The unmodified game ends by the clock alone.
    tag = make("mpe_tag")
    state, _ = tag.reset(jax.random.PRNGKey(0))
    step = jax.jit(tag.step)
    for t in range(tag.spec.max_steps):
        state, ts = step(jax.random.PRNGKey(t), state, jnp.zeros(4, jnp.int32))
        assert not bool(ts.terminated)
    assert bool(ts.truncated)


def test_field_errors_name_fields_for_python_and_flags_for_the_cli():
    from arena.cli import as_flags
    from arena.tournaments.spec import TournamentSpec

    with pytest.raises(FieldError) as info:
        TournamentSpec(mode="crossplay", agents=("a", "b"), env="coord_game", pool=("c",))
    assert str(info.value) == "`pool` is for zeroshot tournaments, not crossplay"
    assert as_flags(info.value) == "--pool is for zeroshot tournaments, not crossplay"
    err = FieldError("`record_episodes` must be at least 1")
    assert as_flags(err) == "--record-episodes must be at least 1"
