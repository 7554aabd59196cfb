"""COALA-PG (agents/trainers/coala.py): Algorithm 1's returns by hand, and a run that trains
against naive learners, resumes exactly, and writes agents arena plays in meta-episodes."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train import interrupt_at_chunk

from arena.agents.trainers import RunSpec, build_trainer, recorded_spec, runfiles, train
from arena.agents.trainers.coala import batch_lambda_returns
from arena.checkpoint import load_agent
from arena.errors import UserError
from arena.meta import MetaShape, run_meta_match

# Two lanes, two inner episodes of two steps; discount 0.5, lambda 0.5.
REWARDS = [[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 0.0, 4.0]]
NEXT_VALUES = [[0.0, 1.0, 0.0, 2.0], [0.0, 3.0, 0.0, 4.0]]


def _returns(**flags):
    return np.asarray(batch_lambda_returns(jnp.asarray(REWARDS), jnp.asarray(NEXT_VALUES), 0.5, 0.5, 2, **flags))


def test_batch_lambda_returns_equal_a_hand_computed_example():
    # Worked back from t = 3 (norm = B = 2; `glob` starts at mean(v[:, 3]) = 3):
    #   t=3 ends an episode: acc = glob = 3;  acc = r/2 + .5 (.5 v + .5 acc) = [1.25, 3.75];  glob -> 3.5
    #   t=2: acc = [1, 0] + .5 (.5 [1.25, 3.75]) = [1.3125, 0.9375];                          glob -> 1.875
    #   t=1 ends an episode: acc = 1.875;  acc = .5 (.5 [1, 3] + .5 1.875) = [0.71875, 1.21875]; glob -> 0.96875
    #   t=0: acc = [0.5, 1.5] + .5 (.5 [0.71875, 1.21875]) = [0.6796875, 1.8046875]
    np.testing.assert_allclose(_returns(), [[0.6796875, 0.71875, 1.3125, 1.25],
                                            [1.8046875, 1.21875, 0.9375, 3.75]])


def test_batch_unaware_returns_are_ordinary_lambda_returns():
    # acc = r + .5 (.5 v + .5 acc) from acc = v[:, 3], each lane on its own:
    #   t=3: [1, 6]; t=2: [2.25, 1.5]; t=1: [0.8125, 1.125]; t=0: [1.203125, 3.28125]
    plain = _returns(average_future=False, normalize_current=False)
    np.testing.assert_allclose(plain, [[1.203125, 0.8125, 2.25, 1.0], [3.28125, 1.125, 1.5, 6.0]])
    # ... and with lambda = 1 the discounted sum of rewards plus the discounted bootstrap.
    mc = np.asarray(batch_lambda_returns(jnp.asarray(REWARDS), jnp.asarray(NEXT_VALUES), 0.5, 1.0, 2, False, False))
    r, v_end = np.asarray(REWARDS), np.asarray(NEXT_VALUES)[:, -1]
    np.testing.assert_allclose(mc[:, 0], r[:, 0] + 0.5 * r[:, 1] + 0.25 * r[:, 2] + 0.125 * r[:, 3] + 0.0625 * v_end)


SETTINGS = {"units": 4, "lanes": 4, "inner": 4, "update_epochs": 2, "num_minibatches": 2}
STEPS = 6 * 4 * 4 * 4 * 4  # 6 updates of 4 x 4 x 4 inner episodes of 4 rounds
SPEC = RunSpec("ipd", seed=1, env_kwargs={"rounds": 4}, arch_config={"gru_width": 8, "hidden": 8},
               config={**SETTINGS, "total_steps": STEPS})


def _run(out, **kw):
    return train("coala", dataclasses.replace(SPEC, out=str(out)), chunk=2, checkpoint_every=2, progress=False, **kw)


@pytest.fixture(scope="module")
def coala_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("coala") / "la.ckpt"
    return out, _run(out)


def test_a_coala_run_writes_agents_that_play_meta_episodes(coala_run):
    out, result = coala_run
    assert result.updates == 6 and result.env_steps == STEPS
    rows = runfiles.read_metrics(runfiles.RunFiles.of(out).metrics)
    assert [r["update"] for r in rows] == list(range(1, 7))
    for key in ("return", "return/naive", "cooperation/naive_first", "cooperation/naive_last", "value_loss"):
        assert all(np.isfinite(r[key]) for r in rows), key
    row, col = (load_agent(out.with_name(f"la-{seat}.ckpt")) for seat in ("row", "col"))
    assert row.manifest.params.sha256 == col.manifest.params.sha256  # one policy, either seat
    prov = row.manifest.provenance
    assert prov["algorithm"] == "coala-pg" and "batch lambda returns" in prov["trained_with"]
    # arena plays it in a meta-episode against a naive learner, its carry persisting.
    from arena.agents import build_agent
    learner = build_agent("naive_learner", {}, (5,), "float32", 2)
    env = build_trainer("coala", SPEC).env
    shape = MetaShape(units=2, inner=3, lanes=4)
    res = run_meta_match(env, [row.agent, learner], [row.params, {}], shape, seed=0)
    assert res.returns.shape == (24, 2) and (res.faults == 0).all()


def test_a_coala_run_resumes_to_the_uninterrupted_params(coala_run, tmp_path, monkeypatch):
    ref_out, ref = coala_run
    out = tmp_path / "la.ckpt"
    with monkeypatch.context() as m:
        interrupt_at_chunk(m, 2)
        assert _run(out).interrupted
    resumed = train("coala", recorded_spec("coala", out), resume=True, chunk=2, checkpoint_every=2, progress=False)
    assert resumed.updates == 6
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), resumed.state, ref.state)
    assert all(jax.tree.leaves(same))


def test_the_batch_unaware_baseline_is_a_setting():
    trainer = build_trainer("coala", dataclasses.replace(SPEC, config={**SPEC.config, "batch_aware": False}))
    assert "plain lambda returns" in trainer.trained_with and trainer.title.startswith("batch-unaware PPO")


@pytest.mark.parametrize("change, message", [
    ({"env": "coord_game"}, "not ipd"),
    ({"arch": "mlp_actor_critic", "arch_config": {}}, "trains history_gru"),
    ({"config": {"units": 3, "lanes": 1}}, "divisible by num_minibatches"),
])
def test_coala_refuses_what_it_cannot_train(change, message):
    with pytest.raises(UserError, match=message):
        build_trainer("coala", dataclasses.replace(SPEC, **change))


def test_the_study_refuses_bad_settings_in_one_line(capsys):
    from arena.agents.zoo import coala_study

    assert coala_study.main(["--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


@pytest.mark.slow
def test_the_study_reports_every_pairing_with_cis_over_seeds():
    from arena.agents.zoo import coala_study

    result = coala_study.study(seeds=3, updates=1, rounds=2, units=2, lanes=4, inner=2)
    assert set(result["pairings"]) == {
        f"{m} vs {o}" for m in ("coala", "unaware") for o in (m, "naive", "tit_for_tat", "always_defect")
    } | {"naive vs naive"}
    ad = result["pairings"]["coala vs always_defect"]
    assert ad["coop_col_first"]["mean"] == 0.0 and ad["reward_col"]["mean"] >= 1.0  # defection pays 1 or 5
    for row in result["pairings"].values():
        assert row["reward_row"]["n"] == 3 and row["reward_row"]["low"] <= row["reward_row"]["mean"] <= row["reward_row"]["high"]
