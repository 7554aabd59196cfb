"""The match runner and `arena match`: reproducible, compiled once, honest about who plays what."""
import json

import jax
import numpy as np
import pytest
from click.testing import CliRunner

from arena import runner
from arena.checkpoint import load_agent
from arena.cli import cli
from arena.envs import make
from arena.errors import IncompatibleAgents
from arena.match import play_match

V2 = "overcooked_v2/cramped_room"
SHORT = {"max_steps": 40}


def _run(paths, env_id=V2, episodes=8, seed=0, **kw):
    loaded = [load_agent(p) for p in paths]
    env = make(env_id, **SHORT) if env_id.startswith("overcooked") else make(env_id)
    return runner.run_match(env, [a.agent for a in loaded], [a.params for a in loaded], episodes=episodes, seed=seed, **kw)


def test_same_seed_same_numbers_other_seed_differs(make_ckpt):
    a, b = make_ckpt("random", V2, seed=0), make_ckpt("mlp_actor_critic", V2, seed=1)
    r1, r2 = _run([a, b], seed=5), _run([a, b], seed=5)
    np.testing.assert_array_equal(r1.returns, r2.returns)
    np.testing.assert_array_equal(r1.metrics["soups"], r2.metrics["soups"])
    rec1, rec3 = _run([a, b], seed=5, record=1), _run([a, b], seed=6, record=1)
    assert not np.array_equal(rec1.steps.actions, rec3.steps.actions)


def test_episode_does_not_depend_on_batch_size(make_ckpt):
    # The lineup and the 8-episode shape of test_same_seed_same_numbers_other_seed_differs:
    # its compiled match is reused (one test file runs in one worker), so one compile here.
    a, b = make_ckpt("random", V2, seed=0), make_ckpt("mlp_actor_critic", V2, seed=1)
    small, large = _run([a, b], episodes=3, record=1, seed=5), _run([a, b], episodes=8, record=1, seed=5)
    np.testing.assert_array_equal(small.steps.actions, large.steps.actions)
    np.testing.assert_array_equal(small.returns, large.returns[:3])


def test_second_match_of_same_architectures_does_not_compile_again(make_ckpt):
    a0, a1 = make_ckpt("softmoe_gru", V2, seed=0), make_ckpt("softmoe_gru", V2, seed=1)
    b0, b1 = make_ckpt("mlp_actor_critic", V2, seed=2), make_ckpt("mlp_actor_critic", V2, seed=3)
    first = _run([a0, b0], episodes=3, record=1)
    before = runner.compile_count()
    second = _run([a1, b1], episodes=3, record=1)
    assert runner.compile_count() == before
    assert second.compile_seconds == 0.0 < first.compile_seconds
    # the cached function really used the new params
    assert not np.allclose(first.steps.extras[1]["value"], second.steps.extras[1]["value"])
    _run([b0, a0], episodes=3, record=1)  # another lineup of architectures is a new function
    assert runner.compile_count() == before + 1


def test_scan_equals_python_loop_of_play_step(make_ckpt):
    """The compiled scan is the same computation as stepping play_step by hand."""
    loaded = [load_agent(make_ckpt("softmoe_gru", V2, seed=s)) for s in (0, 1)]
    env = make(V2, **SHORT)
    agents, params = [a.agent for a in loaded], [a.params for a in loaded]
    result = runner.run_match(env, agents, params, episodes=1, seed=9, record=1)
    key = jax.random.fold_in(jax.random.PRNGKey(9), 0)
    carry = runner.episode_start(env, agents, params, jax.random.fold_in(key, 0))
    step = jax.jit(lambda c, k: runner.play_step(env, agents, params, c, k))
    actions = []
    for t in range(env.spec.max_steps):
        carry, rec = step(carry, jax.random.fold_in(key, t + 1))
        actions.append(np.asarray(rec.actions))
    np.testing.assert_array_equal(np.stack(actions), result.steps.actions[:, 0])
    np.testing.assert_allclose(np.asarray(carry.returns), result.returns[0])
    routing = result.steps.extras[0]["routing"]
    assert routing.shape == (env.spec.max_steps, 1, 1, 4)
    np.testing.assert_allclose(routing.sum(-1), 1.0, atol=1e-5)


def test_swap_reports_both_orders_and_xp(make_ckpt):
    a, b = make_ckpt("random", V2, seed=0), make_ckpt("mlp_actor_critic", V2, seed=1)
    # 8 episodes: the shape test_same_seed_same_numbers_other_seed_differs compiled for (a, b).
    report, results = play_match([str(a), str(b)], env_kwargs=SHORT, episodes=8, seed=1)
    assert len(report["orders"]) == 2
    assert report["orders"][0]["sides"][0]["agent"] == "random-0"
    assert report["orders"][1]["sides"][0]["agent"] == "mlp_actor_critic-1"
    expected = 0.5 * (results[0].returns.mean(1) + results[1].returns.mean(1)).mean()
    assert report["xp"]["mean"] == pytest.approx(expected)
    assert report["xp"]["low"] <= report["xp"]["mean"] <= report["xp"]["high"]


def test_team_game_puts_first_agent_on_first_team(make_ckpt):
    pred, prey = make_ckpt("mlp_actor_critic", "mpe_tag", side="predators"), make_ckpt("random", "mpe_tag", side="prey")
    report, results = play_match([str(pred), str(prey)], episodes=4)
    sides = report["orders"][0]["sides"]
    assert [s["side"] for s in sides] == ["predators", "prey"]
    assert sides[0]["seats"] == ["adversary_0", "adversary_1", "adversary_2"]
    assert len(report["orders"]) == 1 and report["xp"] is None
    assert results[0].returns.shape == (4, 4)
    with pytest.raises(IncompatibleAgents, match="cannot play mpe_tag"):
        play_match([str(prey), str(pred)], episodes=2)


def test_agents_for_another_env_are_refused(make_ckpt):
    v1 = make_ckpt("mlp_actor_critic", "overcooked/cramped_room")
    v2 = make_ckpt("mlp_actor_critic", V2)
    with pytest.raises(IncompatibleAgents, match=r"observes .*\(4, 5, 26\)"):
        play_match([str(v2), str(v1)], episodes=2)


def test_cli_match_json_is_reproducible(make_ckpt):
    a = make_ckpt("random", "coord_game")
    args = ["match", str(a), str(a), "--episodes", "16", "--seed", "4", "--json"]
    out1 = CliRunner().invoke(cli, args)
    out2 = CliRunner().invoke(cli, args)
    assert out1.exit_code == 0, out1.output
    r1, r2 = json.loads(out1.output), json.loads(out2.output)
    for r in (r1, r2):
        for o in r["orders"]:
            o.pop("seconds"), o.pop("steps_per_second"), o.pop("compile_seconds")
    assert r1 == r2
    assert 0.0 <= r1["orders"][0]["metrics"]["agreement"]["mean"] <= 1.0


def test_cli_match_table_names_sides(make_ckpt, tmp_path):
    a = make_ckpt("random", V2)
    out = CliRunner().invoke(cli, ["match", str(a), str(a), "--episodes", "4", "--env-kw", "max_steps=20"])
    assert out.exit_code == 0, out.output
    assert "agent_0" in out.output and "J_XP" in out.output and "soups" in out.output
    # The per-seat feature counts are left to --json, and the text says so.
    assert "placement_in_pot/" not in out.output and "(+12 per-seat metrics: --json)" in out.output
    rec = tmp_path / "v2.replay"
    as_json = json.loads(CliRunner().invoke(cli, ["match", str(a), str(a), "--episodes", "4", "--env-kw",
                                                  "max_steps=20", "--json", "--record", str(rec)]).output)
    assert "placement_in_pot/agent_0" in as_json["orders"][0]["metrics"] and as_json["headline_metrics"] == ["soups"]
    info = CliRunner().invoke(cli, ["replay", "info", str(rec)]).output
    assert "soups" in info and "placement_in_pot/" not in info and "(+12 per-seat metrics: --json)" in info
    episodes = json.loads(CliRunner().invoke(cli, ["replay", "info", str(rec), "--json"]).output)["episodes"]
    assert "placement_in_pot/agent_1" in episodes[0]["metrics"]


def test_record_refuses_to_replace_a_replay_unless_forced(make_ckpt, tmp_path, capsys):
    from arena.cli import main
    from arena.replay import open_replay

    a = make_ckpt("random", "coord_game")
    out = tmp_path / "m.replay"
    args = ["match", str(a), str(a), "--episodes", "4", "--record", str(out), "--record-episodes", "2", "--json"]
    main([*args, "--seed", "1"])
    first = out.read_bytes()
    assert open_replay(out).header["seed"] == 1 and (tmp_path / "m-swapped.replay").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--seed", "2"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err
    assert err == f"error: {out} exists; record to another path, or replace it with --force"
    assert out.read_bytes() == first  # refused before anything ran
    main([*args, "--seed", "2", "--force"])
    assert open_replay(out).header["seed"] == 2
