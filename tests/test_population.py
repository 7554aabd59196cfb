"""Populations: N PPO runs (members differing by seed and env params) in one compiled call
equal the N runs trained alone; their files, provenance, results and resume.

coord_game (16 rounds) with tiny settings, as in test_train.py; member 1 plays a game whose
second convention pays double, so members differ by env params as well as by seed.
"""
from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from arena.agents.trainers import driver, runfiles
from arena.agents.trainers.population import (
    PopulationSpec,
    build_population,
    recorded_population,
    run_files,
    train_population,
)
from arena.checkpoint import load_agent
from arena.errors import UserError

DOUBLE = [[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [2.0, 2.0]]]
SETTINGS = {"num_envs": 8, "num_steps": 8, "update_epochs": 2, "num_minibatches": 2, "lr": 3e-3,
            "shaping_horizon": 0, "total_steps": 4 * 8 * 8}
SPEC = PopulationSpec("coord_game", seed=7, seeds=(3, 5), env_kwargs={"rounds": 16}, config=SETTINGS,
                      env_params=({}, {"payoffs": DOUBLE}), provenance=({"note": "a"}, {"note": "b"}))


@pytest.fixture(scope="module")
def pop_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pop") / "pop"
    spec = dataclasses.replace(SPEC, out=str(out))
    return out, train_population(spec, chunk=2, checkpoint_every=2, progress=False, results={"selection": "test"})


def test_a_population_equals_its_members_trained_alone(pop_run):
    state = pop_run[1].state  # after 4 updates, in chunks of 2
    pop, members = build_population(SPEC)
    for i in range(2):
        alone = driver.compiled_init(pop.inner)(members.keys[i], jax.tree.map(lambda x, i=i: x[i], members.env_params))
        for _ in range(2):
            alone, _ = driver.compiled_chunk(pop.inner, 2)(alone)
        together = jax.tree.map(lambda x, i=i: x[i], state.members)
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(together)):
            a, b = np.asarray(a), np.asarray(b)
            if np.issubdtype(a.dtype, np.floating):
                # To float tolerance, not bit for bit: XLA batches the vmapped matmuls into
                # other kernels, whose sums round in another order (measured: 1e-7 after 4
                # updates). Keys, env states and counters are integers and match exactly.
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            else:
                np.testing.assert_array_equal(a, b)
    # the members really trained under their own params: member 1's games pay 2 per agreement
    assert float(state.members.env_params.payoffs[1, 1, 1, 0]) == 2.0


def test_a_population_writes_one_checkpoint_per_member_and_its_results(pop_run):
    out, result = pop_run
    assert [p.name for p in result.outputs] == ["member-00.ckpt", "member-01.ckpt"]
    rows = runfiles.read_metrics(run_files(out).metrics)
    assert [r["update"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["return"] == pytest.approx((rows[-1]["return/member-00"] + rows[-1]["return/member-01"]) / 2)
    doc = json.loads((out / "population.json").read_text())
    assert doc["format"] == "arena.population" and doc["selection"] == "test" and doc["seed"] == 7
    for i, (seed, note) in enumerate([(3, "a"), (5, "b")]):
        m = load_agent(out / f"member-{i:02d}.ckpt").manifest
        prov = m.provenance
        assert m.name == f"pop-{i:02d}" and prov["seed"] == seed and prov["note"] == note
        assert prov["population"] == {"name": "pop", "member": i, "size": 2}
        assert prov["reward_shaping"] == {"kind": "none"}  # payoffs are not a shaping
        assert prov["final_training_return"] == rows[-1][f"return/member-{i:02d}"]
        assert prov["final_training_metrics"]["agreement"] == rows[-1][f"agreement/member-{i:02d}"]
        assert doc["members"][i]["seed"] == seed and doc["members"][i]["sparse_return"] == prov["best_return"]
    assert doc["members"][1]["env_params"] == {"payoffs": DOUBLE}
    assert run_files(out).curves.read_bytes()[:4] == b"\x89PNG"


def test_a_resumed_population_ends_like_an_uninterrupted_one(pop_run, tmp_path, monkeypatch):
    from tests.test_train import interrupt_at_chunk

    ref_out, ref = pop_run
    out = tmp_path / "pop"
    spec = dataclasses.replace(SPEC, out=str(out))
    with monkeypatch.context() as m:
        interrupt_at_chunk(m, 2)
        stopped = train_population(spec, chunk=2, checkpoint_every=2, progress=False)
    assert stopped.interrupted and stopped.updates == 2
    resumed = train_population(recorded_population(out), resume=True, chunk=2, checkpoint_every=2, progress=False)
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), resumed.state, ref.state)
    assert all(jax.tree.leaves(same)), "resumed population diverged from the uninterrupted one"
    for i in range(2):
        name = f"member-{i:02d}.ckpt"
        assert load_agent(out / name).manifest.params.sha256 == load_agent(ref_out / name).manifest.params.sha256


def test_a_population_refuses_bad_members_and_replacing_a_run(pop_run, tmp_path):
    out, _ = pop_run
    with pytest.raises(UserError, match="already there"):
        train_population(dataclasses.replace(SPEC, out=str(out)), progress=False)
    with pytest.raises(UserError, match="no param 'payof'"):
        build_population(dataclasses.replace(SPEC, env_params=({}, {"payof": DOUBLE})))
    with pytest.raises(UserError, match=r"has shape \[2, 2, 2\], got \[2\]"):
        build_population(dataclasses.replace(SPEC, env_params=({}, {"payoffs": [1, 2]})))
    with pytest.raises(UserError, match=r"records another run \(seeds differs\)"):
        train_population(dataclasses.replace(SPEC, out=str(out), seeds=(3, 6)), resume=True, progress=False)


@pytest.mark.slow  # the default suite keeps its 5 minutes; `make test-all` runs it
def test_cli_trains_a_population_and_resumes_it(pop_run, tmp_path, arena_cli):
    out = tmp_path / "cli"
    args = ["train", "population", "--env", "coord_game", "--env-kw", "rounds=16", "--n", "2", "--seed", "3",
            "--steps", str(SETTINGS["total_steps"]), "--checkpoint-every", "2", "-o", str(out), "--quiet",
            *(f"--set={k}={v}" for k, v in SETTINGS.items() if k != "total_steps")]
    run = arena_cli(*args)
    assert run.code == 0, run.err
    assert f"wrote {out / 'member-01.ckpt'}" in run.out
    doc = json.loads((out / "population.json").read_text())
    assert [m["seed"] for m in doc["members"]] == [3, 4] and "diversity" not in doc  # --shaping none
    assert load_agent(out / "member-01.ckpt").manifest.provenance["seed"] == 4
    again = arena_cli(*args)
    assert again.code == 2 and "a population is already there" in again.err and "--resume" in again.err
    done = arena_cli("train", "population", "--resume", str(out), "--quiet")
    assert done.code == 0, done.err


@pytest.mark.parametrize("argv, message", [
    (["--env", "coord_game", "--shaping", "lhs", "-o", "p"], "takes no shaping weights"),
    (["--env", "overcooked/forced_coord", "--shaping", "surrogate", "-o", "p"], "needs earlier populations' results"),
    (["--env", "coord_game", "--n", "0", "-o", "p"], "--n must be at least 1"),
    (["--resume", "nowhere"], "no training state"),
])
def test_cli_bad_population_input_is_one_line_and_exit_2(argv, message, tmp_path, monkeypatch, arena_cli):
    monkeypatch.chdir(tmp_path)
    run = arena_cli("train", "population", *argv)
    err = run.err.strip()
    assert run.code == 2 and err.startswith("error: ") and message in err and "\n" not in err


def test_a_shaped_population_gives_each_member_its_selected_shaping(tmp_path):
    from arena.agents.trainers import RunSpec, selection
    from arena.agents.trainers.population import (
        FIXED_SHAPING,
        member_outputs,
        normalized_population,
        read_history,
        shaped_population,
    )
    from arena.envs.overcooked_shaping import FEATURES, weights_dict

    base = RunSpec("overcooked/forced_coord", seed=4)
    spec = shaped_population(base, "lhs", 4)
    weights = np.round(selection.lhs_shapings(4, 4, 6), 3)  # as provenance records them
    assert spec.seeds == (4, 5, 6, 7) and spec.config == {"shaping_horizon": 0}  # JaxMARL's anneal off
    for w, params, prov in zip(weights, spec.env_params, spec.provenance):
        np.testing.assert_array_equal(params["features"], [w, w])  # both cooks
        assert list(prov["shaping"]) == list(FEATURES) and prov["shaping_selection"] == "lhs"
        np.testing.assert_array_equal(list(prov["shaping"].values()), w)  # exactly what it trains with
    pop, members = build_population(spec)
    np.testing.assert_allclose(members.env_params.features[2], [weights[2]] * 2, rtol=1e-6)
    kept = dataclasses.replace(base, config={"shaping_horizon": 1000})
    assert shaped_population(kept, "same", 2).config == {"shaping_horizon": 1000}

    # Each member's checkpoint says which shaping it trained with: its fixed weights, not "none"
    # (shaping_horizon 0 turns off only JaxMARL's annealed shaped reward).
    spec = dataclasses.replace(spec, out=str(tmp_path / "lhs"), name="lhs")
    for i, o in enumerate(member_outputs(pop, spec)):
        assert o.provenance["reward_shaping"] == {"kind": FIXED_SHAPING, "weights": spec.provenance[i]["shaping"]}
    both = dataclasses.replace(shaped_population(kept, "same", 2), out=str(tmp_path / "same"), name="same")
    shaped = member_outputs(build_population(both)[0], both)[0].provenance["reward_shaping"]
    assert shaped["anneal_steps"] == 1000 and shaped["kind"].startswith("env shaped_reward, coefficient annealed")
    assert shaped["kind"].endswith(FIXED_SHAPING) and shaped["weights"] == both.provenance[0]["shaping"]
    unshaped = normalized_population(dataclasses.replace(shaped_population(base, "none", 2), out=str(tmp_path / "n")))
    unshaped_pop = build_population(unshaped)[0]  # JaxMARL's default: its shaped reward annealed, no weights
    assert member_outputs(unshaped_pop, unshaped)[1].provenance["reward_shaping"] == unshaped_pop.reward_shaping()
    assert "weights" not in unshaped_pop.reward_shaping()
    reseeded = shaped_population(base, "lhs", 4, selection_seed=9)  # training seeds stay base.seed + i
    assert reseeded.seeds == spec.seeds and reseeded.provenance[0]["shaping"] == weights_dict(
        np.round(selection.lhs_shapings(9, 4, 6)[0], 3))

    # The surrogate learns from earlier populations' results (population.json).
    doc = {"format": "arena.population", "version": 1, "members": [
        {"shaping": dict(zip(FEATURES, map(float, w))), "sparse_return": float(10 * w[0])} for w in weights]}
    (tmp_path / "population.json").write_text(json.dumps(doc))
    hist_w, hist_r = read_history([tmp_path])
    np.testing.assert_allclose(hist_w, weights, rtol=1e-6)
    np.testing.assert_allclose(hist_r, 10 * weights[:, 0], rtol=1e-6)
    chosen = shaped_population(base, "surrogate", 3, history=[tmp_path / "population.json"])
    assert len(chosen.seeds) == 3 and all(p["shaping_selection"] == "surrogate" for p in chosen.provenance)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="not a population results file"):
        read_history([tmp_path / "bad.json"])


def test_a_shaped_population_takes_overcooked_v2_envs():
    from arena.agents.trainers import RunSpec
    from arena.agents.trainers.population import shaped_population

    spec = shaped_population(RunSpec("overcooked_v2/cramped_room", seed=2), "lhs", 3)
    _, members = build_population(spec)
    shown = np.array([list(p["shaping"].values()) for p in spec.provenance])
    np.testing.assert_allclose(members.env_params.features, np.stack([shown, shown], axis=1), rtol=1e-6)  # (3, 2, 6)
    one_cook = shaped_population(RunSpec("overcooked_v2/long_room"), "random", 2)
    assert [len(p["features"]) for p in one_cook.env_params] == [1, 1]  # a row per seat


@pytest.mark.slow
def test_a_tiny_overcooked_v2_population_trains_and_reports_its_features(tmp_path):
    from arena.agents.trainers import RunSpec
    from arena.agents.trainers.population import shaped_population

    tiny = {"num_envs": 4, "num_steps": 16, "update_epochs": 1, "num_minibatches": 1, "total_steps": 2 * 4 * 16}
    base = RunSpec("overcooked_v2/cramped_room", out=str(tmp_path / "p"), seed=0, config=tiny,
                   env_kwargs={"max_steps": 16, "random_reset": True})
    spec = shaped_population(base, "lhs", 2)
    train_population(spec, chunk=2, progress=False)
    last = json.loads(run_files(spec.out).metrics.read_text().splitlines()[-1])
    assert {f"{f}/agent_1/member-01" for f in spec.provenance[0]["shaping"]} <= set(last)
    doc = json.loads((tmp_path / "p" / "population.json").read_text())
    assert [m["shaping"] for m in doc["members"]] == [p["shaping"] for p in spec.provenance]
    assert load_agent(tmp_path / "p" / "member-01.ckpt").manifest.provenance["shaping"] == spec.provenance[1]["shaping"]
