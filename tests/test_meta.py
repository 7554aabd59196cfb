"""Meta-episodes (arena.meta) and the in-match naive learner (agents/learners.py)."""
import dataclasses

import jax
import numpy as np
import pytest

from arena import meta, runner
from arena.agent import build_agent
from arena.env import make
from arena.replay import open_replay, write_replay
from arena.trace import SideInfo, traces_from_result, trimmed
from arena.verify import verify_traces


def _agent(arch, **config):
    return build_agent(arch, config, (5,), "float32", 2)


def _params(agents):
    return [a.init_params(jax.random.PRNGKey(0)) for a in agents]


def _learner_coop(result, shape):
    """(M,) the naive learner's (row seat) cooperation per inner episode, over units and lanes."""
    actions = result.steps.actions[:, :, 0]  # (T, R) with R = every inner episode
    return meta.inner_view((actions == 0).mean(axis=0), shape).mean(axis=(0, 2))


@pytest.mark.parametrize("persist, expected", [
    (True, [0, 1, 1, 0, 1, 1]),  # the cycle (0, 1, 1) runs on across the three 2-round episodes
    (False, [0, 1, 0, 1, 0, 1]),  # each inner episode starts the cycle afresh
])
def test_a_meta_episode_carry_persists_across_inner_episodes_when_asked(persist, expected):
    env = make("ipd", rounds=2)
    cyc = _agent("scripted", rule="cycle", sequence=(0, 1, 1), persist_carry=persist)
    other = _agent("scripted", rule="always_cooperate")
    shape = meta.MetaShape(units=2, inner=3, lanes=2)
    result = meta.run_meta_match(env, [cyc, other], [{}, {}], shape, seed=0, record=shape.episodes)
    actions = meta.inner_view(result.steps.actions[:, :, 0].T, shape)  # (U, M, B, T)
    for u in range(2):  # a new meta-episode (and a new match) starts the carry afresh
        for b in range(2):
            assert actions[u, :, b].ravel().tolist() == expected


def test_learner_state_resets_across_meta_episodes_and_matches():
    env = make("ipd", rounds=4)
    agents = [_agent("naive_learner", lr=2.0), _agent("scripted", rule="always_defect")]
    shape = meta.MetaShape(units=3, inner=4, lanes=4)
    runs = [meta.run_meta_match(env, agents, _params(agents), shape, seed=s, record=shape.episodes) for s in (0, 0, 5)]
    policy = meta.inner_view(runs[0].steps.extras[0]["policy"][0, :, 0], shape)  # (U, M, B, 5) at each episode start
    np.testing.assert_allclose(policy[:, 0], 0.5)  # every meta-episode starts from the initial policy
    assert (np.abs(policy[:, -1] - 0.5).max(axis=(1, 2)) > 0.05).all()  # and learned inside it
    np.testing.assert_array_equal(policy, np.broadcast_to(policy[:, :, :1], policy.shape))  # one policy for the B lanes
    np.testing.assert_array_equal(runs[0].returns, runs[1].returns)  # nothing leaks from one match to the next
    assert not np.array_equal(runs[0].returns, runs[2].returns)


def test_agents_that_do_not_ask_play_a_meta_episode_as_independent_episodes():
    """With one lane, inner episode m of meta-episode u is the runner's episode u * M + m, with
    the same keys: the same actions and returns as an ordinary match."""
    env = make("ipd", rounds=6)
    agents = [_agent("random"), _agent("scripted", rule="tit_for_tat")]
    shape = meta.MetaShape(units=2, inner=3, lanes=1)
    got = meta.run_meta_match(env, agents, [{}, {}], shape, seed=4, record=6)
    want = runner.run_match(env, agents, [{}, {}], episodes=6, seed=4, record=6)
    np.testing.assert_array_equal(got.steps.actions, want.steps.actions)
    np.testing.assert_array_equal(got.returns, want.returns)
    np.testing.assert_array_equal(got.metrics["cooperation"], want.metrics["cooperation"])
    np.testing.assert_array_equal(got.length, want.length)


def test_a_naive_learner_facing_always_defect_learns_to_defect_within_eight_updates():
    env = make("ipd", rounds=10)
    agents = [_agent("naive_learner", lr=3.0), _agent("scripted", rule="always_defect")]
    shape = meta.MetaShape(units=4, inner=12, lanes=8)
    result = meta.run_meta_match(env, agents, _params(agents), shape, seed=0, record=shape.episodes)
    # p(cooperate | DD) at the start of each inner episode, (U, M): DD is where it mostly is.
    p_dd = meta.inner_view(result.steps.extras[0]["policy"][0, :, 0], shape)[:, :, 0, 4]
    np.testing.assert_allclose(p_dd[:, 0], 0.5)
    assert (p_dd[:, 8:] < 0.15).all(), p_dd
    coop = _learner_coop(result, shape)
    assert coop[0] > 0.35 and coop[8:].mean() < 0.2, coop
    # Against always-defect each defection pays 1 and each cooperation 0: the return follows.
    returns = meta.inner_view(result.returns[:, 0], shape).mean(axis=(0, 2))
    np.testing.assert_allclose(returns, 10 * (1 - coop), atol=1e-5)


def test_a_naive_learner_facing_tit_for_tat_learns_to_cooperate():
    env = make("ipd", rounds=10)
    agents = [_agent("naive_learner", lr=3.0), _agent("scripted", rule="tit_for_tat")]
    shape = meta.MetaShape(units=4, inner=12, lanes=8)
    result = meta.run_meta_match(env, agents, _params(agents), shape, seed=0, record=shape.episodes)
    coop = _learner_coop(result, shape)
    assert coop[0] < 0.6 and coop[-3:].mean() > 0.7, coop


def test_a_meta_episode_replay_verifies(tmp_path):
    env = make("ipd", rounds=5, stop_prob=0.1)
    agents = [_agent("naive_learner"), _agent("random")]
    shape = meta.MetaShape(units=1, inner=3, lanes=2)
    result = meta.run_meta_match(env, agents, _params(agents), shape, seed=2, record=shape.episodes)
    sides = tuple(SideInfo(name=s.name, seats=s.seats, agent=a.arch, arch=a.arch) for s, a in zip(env.spec.sides, agents))
    traces = [trimmed(t) for t in traces_from_result(result, sides, {"rounds": 5, "stop_prob": 0.1}, env.spec.seats)]
    assert [t.episode for t in traces] == list(range(6))
    assert any(t.length < 5 for t in traces)  # the geometric stop ends some inner episodes early
    path = write_replay(tmp_path / "meta.replay", traces)
    report = verify_traces(open_replay(path).episodes)
    assert report.ok and report.episodes == 6
    # A replay whose actions were changed in a later inner episode does not verify.
    actions = traces[3].actions.copy()
    actions[0] = 1 - actions[0]
    assert not verify_traces([dataclasses.replace(traces[3], actions=actions)]).ok


def test_a_meta_match_compiles_once_for_new_params_and_seeds():
    env = make("ipd", rounds=3)
    agents = (_agent("naive_learner", lr=0.3), _agent("scripted", rule="tit_for_tat"))
    shape = meta.MetaShape(units=2, inner=2, lanes=2)
    first, _ = meta.compiled_meta_match(env, agents, ({}, {}), shape)
    again, built = meta.compiled_meta_match(env, agents, ({}, {}), shape)
    assert again is first and not built
    meta.run_meta_match(env, agents, [{}, {}], shape, seed=1)
    assert meta.run_meta_match(env, agents, [{}, {}], shape, seed=2).compile_seconds == 0.0


def test_arena_match_plays_meta_episodes_and_their_replay_verifies(tmp_path, monkeypatch, capsys):
    import json

    from arena.cli import main

    monkeypatch.chdir(tmp_path)
    main(["new-agent", "--arch", "naive_learner", "--env", "ipd", "-o", "learner.ckpt"])
    main(["new-agent", "--arch", "scripted", "--config", 'rule="always_defect"', "--env", "ipd", "-o", "ad.ckpt"])
    capsys.readouterr()
    main(["match", "learner.ckpt", "ad.ckpt", "--env", "ipd", "--env-kw", "rounds=10", "--episodes", "4",
          "--inner-episodes", "10", "--lanes", "8", "--record", "meta.replay", "--record-episodes", "320", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["episodes"] == 320 and report["meta"] == {"meta_episodes": 4, "inner": 10, "lanes": 8}
    learner, ad = report["orders"][0]["sides"]
    # The learner learns to defect against always-defect: its return (1 per defection) rises.
    curve = learner["return_per_inner_episode"]
    assert len(curve) == 10 and curve[0] < 7 and curve[-1] > 8, curve
    assert report["replay"]["episodes"] == 320
    main(["replay", "verify", "meta.replay"])  # a divergence would exit non-zero
    assert capsys.readouterr().out.startswith("ok: 320 episodes")


def test_arena_match_refuses_empty_meta_episodes_in_one_line(tmp_path, monkeypatch, capsys):
    from arena.cli import main

    monkeypatch.chdir(tmp_path)
    main(["new-agent", "--arch", "naive_learner", "--env", "ipd", "-o", "learner.ckpt"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["match", "learner.ckpt", "learner.ckpt", "--lanes", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "lanes" in err and "\n" not in err
