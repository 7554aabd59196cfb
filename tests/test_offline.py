"""Offline datasets and learners: datasets from matches and replays hold what was played and what
the env showed; a bad dataset is one line; on unfavourable coordination data independent BC
miscoordinates while centralised IQL and MOMA-PPO-lite agree (measured in arena matches)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from arena.agents import ArchError, build_agent
from arena.dataset import DatasetError, load_dataset
from arena.envs import make
from arena.match import play_match
from arena.replay import open_replay, write_replay
from arena.runner import run_match

ROUNDS_4 = {"rounds": 4}
ONE_SHOT = {"rounds": 1}


@pytest.fixture
def stochastic(make_ckpt):
    """stochastic(p_right) -> checkpoint path of a coord_game agent going right with p_right."""
    return lambda p: make_ckpt("scripted", "coord_game", config={"rule": "stochastic", "probs": [1 - p, p]},
                               name=f"right{p}")


def test_stochastic_rule_plays_its_probabilities_and_refuses_bad_ones():
    env = make("coord_game", **ONE_SHOT)
    team = env.spec.teams[0]
    agents = [build_agent("scripted", {"rule": "stochastic", "probs": p}, team.obs_shape, team.obs_dtype, 2)
              for p in ([0.2, 0.8], [1.0, 0.0])]
    result = run_match(env, agents, [{}, {}], episodes=4000, seed=1, record=4000)
    actions = np.asarray(result.steps.actions)[0]  # (episodes, seats)
    assert abs(actions[:, 0].mean() - 0.8) < 0.03  # 4000 draws: sd 0.006
    assert (actions[:, 1] == 0).all()
    for bad in ([0.5], [0.7, 0.7], [1.5, -0.5]):
        with pytest.raises(ArchError, match="probs"):
            build_agent("scripted", {"rule": "stochastic", "probs": bad}, team.obs_shape, team.obs_dtype, 2)


def _expected_obs(actions: np.ndarray, seat: int) -> np.ndarray:
    """What coord_game shows `seat` before each step, worked out from the actions alone: a
    one-hot of the previous joint action (own first), or the first-round flag."""
    T = actions.shape[0]
    obs = np.zeros((T, 5), np.float32)
    obs[0, 4] = 1.0
    for t in range(1, T):
        own, other = actions[t - 1, seat], actions[t - 1, 1 - seat]
        obs[t, 2 * own + other] = 1.0
    return obs


def test_match_dataset_and_replay_export_hold_the_played_steps(stochastic, tmp_path, arena_cli):
    a, b = stochastic(0.7), stochastic(0.4)
    data, replay = tmp_path / "data", tmp_path / "m.replay"
    code, out, err = arena_cli("match", str(a), str(b), "--env-kw", "rounds=4", "--episodes", "64", "--no-swap",
                           "--dataset", str(data), "--record", str(replay), "--record-episodes", "8")
    assert code == 0, err
    assert "dataset: " in out and "64 episodes, 256 steps" in out
    ds = load_dataset(data)
    assert ds.env_id == "coord_game" and ds.env_kwargs == ROUNDS_4 and ds.seat_names == ("row", "col")
    assert [s["manifest"]["arch_config"]["probs"] for s in ds.meta["sides"]] == [[0.30000000000000004, 0.7], [0.6, 0.4]]
    assert [s["sha256"] for s in ds.meta["sides"]] == [s.sha256 for s in open_replay(replay).episodes[0].sides]
    # Its actions are the replay's, episode by episode, and its observations what the env gave.
    rep = open_replay(replay)
    for trace in rep.episodes:
        rows = ds.episodes["episode"] == trace.episode
        k = int(np.flatnonzero(rows)[0])
        sel = ds.seats["row"].episode == k
        assert np.array_equal(ds.joint_actions()[sel], trace.actions)
        assert np.array_equal(ds.joint_rewards()[sel], trace.rewards)
        for s, seat in enumerate(ds.seat_names):
            assert np.array_equal(ds.seats[seat].observations[sel], _expected_obs(trace.actions, s))
            assert np.array_equal(ds.seats[seat].step[sel], np.arange(4))
        assert ds.seats["row"].truncations[sel].tolist() == [False, False, False, True]
        assert not ds.seats["row"].terminals[sel].any()
    # `arena dataset export` of the replay gives the same steps for the episodes it holds.
    code, out, err = arena_cli("dataset", "export", str(replay), "-o", str(tmp_path / "exported"))
    assert code == 0, err
    assert "8 episodes, 32 steps" in out
    ex = load_dataset(tmp_path / "exported")
    first = ds.seats["row"].episode < 8
    for seat in ds.seat_names:
        for field in ("observations", "next_observations", "actions", "rewards", "truncations"):
            assert np.array_equal(getattr(ex.seats[seat], field), getattr(ds.seats[seat], field)[first]), field
    assert ex.meta["sources"][0]["sha256"] == hashlib.sha256(replay.read_bytes()).hexdigest()


def test_export_refuses_a_replay_whose_actions_do_not_replay(stochastic, tmp_path, arena_cli):
    replay = tmp_path / "m.replay"
    play_match([str(stochastic(0.9)), str(stochastic(0.1))], env_kwargs=ONE_SHOT, episodes=8, swap=False,
               record_path=str(replay), record_episodes=8)
    traces = list(open_replay(replay).episodes)
    t = traces[3]
    flipped = dataclasses.replace(t, actions=np.array([[1 - t.actions[0, 0], t.actions[0, 1]]], np.int32))
    write_replay(tmp_path / "forged.replay", traces[:3] + [flipped])
    code, _, err = arena_cli("dataset", "export", str(tmp_path / "forged.replay"), "-o", str(tmp_path / "d"))
    assert code == 1
    assert err.strip().splitlines() == [f"error: {tmp_path / 'd'}: episode 3 re-simulates differently at step 0 "
                                        "(reward); check it with `arena replay verify`"]
    assert not (tmp_path / "d" / "dataset.json").exists()


def _rewrite(folder, file: str, arrays: dict) -> None:
    """Replace an array file and fix its sha256 in dataset.json, so the check after the hash runs."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / file).write_bytes(buf.getvalue())
    meta = json.loads((folder / "dataset.json").read_text())
    ref = meta["files"]["episodes"] if file == "episodes.npz" else meta["files"]["seats"][file[:-4]]
    ref["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (folder / "dataset.json").write_text(json.dumps(meta))


def _seat(folder) -> dict:
    with np.load(folder / "row.npz") as z:
        return {k: z[k] for k in z.files}


def test_malformed_datasets_are_one_line(stochastic, tmp_path):
    good = tmp_path / "good"
    play_match([str(stochastic(0.9)), str(stochastic(0.1))], env_kwargs=ONE_SHOT, episodes=16, swap=False,
               dataset_path=str(good))
    load_dataset(good)

    def broken(name, damage) -> str:
        folder = tmp_path / name
        import shutil

        shutil.copytree(good, folder)
        damage(folder)
        with pytest.raises(DatasetError) as err:
            load_dataset(folder)
        message = str(err.value)
        assert message.startswith(str(folder)) and "\n" not in message
        return message

    assert "no such dataset" in str(pytest.raises(DatasetError, load_dataset, tmp_path / "nope").value)
    assert "missing dataset.json" in broken("nojson", lambda f: (f / "dataset.json").unlink())
    assert "not JSON" in broken("badjson", lambda f: (f / "dataset.json").write_text("{"))
    assert "newer" in broken("version", lambda f: (f / "dataset.json").write_text(
        (f / "dataset.json").read_text().replace('"version": 1', '"version": 9')))
    assert "missing row.npz" in broken("nofile", lambda f: (f / "row.npz").unlink())

    def flip(f):
        data = bytearray((f / "col.npz").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (f / "col.npz").write_bytes(bytes(data))

    assert "col.npz: sha256 mismatch" in broken("flipped", flip)
    assert "not a numpy .npz" in broken("notnpz", lambda f: _rewrite_raw(f, b"not a zip at all"))
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("observations.npy", b"")
        z.writestr("run_me.py", b"print('no')")
    assert "member 'run_me.py' is no .npy array" in broken("member", lambda f: _rewrite_raw(f, other.getvalue()))
    assert "pickled objects" in broken("pickle", lambda f: _rewrite(
        f, "row.npz", {**_seat(f), "actions": np.array([{"a": 1}] * 16, dtype=object)}))
    assert "array 'rewards' is float64" in broken("dtype", lambda f: _rewrite(
        f, "row.npz", {**_seat(f), "rewards": _seat(f)["rewards"].astype(np.float64)}))
    assert "missing array 'observations'" in broken("noobs", lambda f: _rewrite(
        f, "row.npz", {k: v for k, v in _seat(f).items() if k != "observations"}))
    assert "shape [15]" in broken("short", lambda f: _rewrite(
        f, "row.npz", {**_seat(f), "actions": _seat(f)["actions"][:15]}))
    assert "actions outside [0, 2)" in broken("range", lambda f: _rewrite(
        f, "row.npz", {**_seat(f), "actions": _seat(f)["actions"] + 2}))


def _rewrite_raw(folder, data: bytes) -> None:
    (folder / "row.npz").write_bytes(data)
    meta = json.loads((folder / "dataset.json").read_text())
    meta["files"]["seats"]["row"]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "dataset.json").write_text(json.dumps(meta))


def test_cli_bad_dataset_is_one_line_exit_2(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dataset.json").write_text('{"format": "something else"}')
    for argv in (["dataset", "info", str(tmp_path / "d")],
                 ["train", "offline", "--method", "bc", "--data", str(tmp_path / "d"), "-o", str(tmp_path / "x.ckpt")]):
        proc = subprocess.run([sys.executable, "-m", "arena.cli", *argv], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: {tmp_path / 'd'}: dataset.json is not an arena dataset manifest (format must be 'arena.dataset')"]


def _agreement(paths, seed=5) -> float:
    report, _ = play_match([str(p) for p in paths], env_kwargs=ONE_SHOT, episodes=256, seed=seed, swap=False)
    return report["orders"][0]["metrics"]["agreement"]["mean"]


def test_unfavourable_data_bc_miscoordinates_iql_and_moma_agree(stochastic, tmp_path, arena_cli):
    data = tmp_path / "unfavourable"
    # Seat row goes right 90% of the time, seat col left 90%: the data mostly miscoordinates.
    play_match([str(stochastic(0.9)), str(stochastic(0.1))], env_kwargs=ONE_SHOT, episodes=500, seed=0,
               swap=False, dataset_path=str(data))
    assert np.mean(load_dataset(data).joint_actions()[:, 0] == load_dataset(data).joint_actions()[:, 1]) < 0.25
    scores = {}
    for method in ("bc", "iql", "moma"):
        code, out, err = arena_cli("train", "offline", "--method", method, "--data", str(data), "--seed", "1",
                               "--set", "ppo_updates=60", "-o", str(tmp_path / f"{method}.ckpt"))
        assert code == 0, err
        paths = [tmp_path / f"{method}-row.ckpt", tmp_path / f"{method}-col.ckpt"]
        assert out.split() == ["wrote", str(paths[0]), "wrote", str(paths[1])]
        scores[method] = _agreement(paths)
    assert scores["bc"] == 0.0  # each seat copies its own habit: row right, col left
    assert scores["iql"] == 1.0 and scores["moma"] == 1.0
    # The checkpoints say where they came from.
    from arena.checkpoint import load_agent

    m = load_agent(tmp_path / "moma-col.ckpt").manifest
    assert m.plays == ("col",) and m.provenance["algorithm"] == "offline-moma"
    assert m.provenance["dataset"]["sha256"] == hashlib.sha256((data / "dataset.json").read_bytes()).hexdigest()


def test_iql_and_moma_refuse_multi_step_data(stochastic, tmp_path, arena_cli):
    data = tmp_path / "four"
    play_match([str(stochastic(0.5)), str(stochastic(0.5))], env_kwargs=ROUNDS_4, episodes=8, swap=False,
               dataset_path=str(data))
    code, _, err = arena_cli("train", "offline", "--method", "iql", "--data", str(data), "-o", str(tmp_path / "x.ckpt"))
    assert code == 2 and err.strip().splitlines() == [
        f"error: {data}: iql learns one-shot games (episodes of one step); this dataset's episodes last up to 4 "
        "steps (bc takes any dataset)"]


def test_learners_compile_once_for_every_seed_and_dataset_of_a_shape():
    """The jit boundary: new data and new keys of the same shapes reuse the compiled learner."""
    import jax

    from arena.agents.trainers.offline import OfflineConfig, compiled_fit

    env = make("coord_game", **ONE_SHOT)
    team = env.spec.teams[0]
    agent = build_agent("mlp_actor_critic", {"hidden": []}, team.obs_shape, team.obs_dtype, 2)
    config = OfflineConfig(steps=20)
    fn = compiled_fit("bc", config, agent)
    rng = np.random.default_rng(0)
    for seed in range(3):
        acts = rng.integers(0, 2, (64, 2)).astype(np.int32)
        data = {"obs": np.tile(np.eye(5, dtype=np.float32)[4], (64, 2, 1)), "actions": acts,
                "rewards": (acts[:, :1] == acts[:, 1:]).astype(np.float32).repeat(2, 1)}
        fn(data, jax.random.PRNGKey(seed))
    assert fn._cache_size() == 1
    assert compiled_fit("bc", config, agent) is fn


def test_export_refuses_replays_of_different_line_ups(stochastic, tmp_path, arena_cli):
    a, b = stochastic(0.9), stochastic(0.1)
    for name, pair in (("ab", [a, b]), ("ba", [b, a])):
        play_match([str(p) for p in pair], env_kwargs=ONE_SHOT, episodes=4, swap=False,
                   record_path=str(tmp_path / f"{name}.replay"), record_episodes=4)
    code, _, err = arena_cli("dataset", "export", str(tmp_path / "ab.replay"), str(tmp_path / "ba.replay"),
                         "-o", str(tmp_path / "d"))
    assert code == 2 and err.strip().splitlines() == [
        f"error: {tmp_path / 'd'}: episodes played by different agents cannot share a dataset; export them apart"]


@pytest.mark.slow
def test_offline_study_runs_end_to_end(tmp_path):
    from arena.agents.zoo.offline_study import StudyConfig, markdown, run_study

    results = run_study(StudyConfig(seeds=2, dataset_episodes=1000, eval_episodes=64, work=str(tmp_path)),
                        log=lambda *_: None)
    assert results["unfavourable"]["bc"]["mean"] == 0.0
    assert results["unfavourable"]["iql"]["mean"] == 1.0 and results["unfavourable"]["moma"]["mean"] == 1.0
    assert results["unfavourable"]["maiql"]["mean"] == 0.0  # per-seat regression copies each seat's habit
    assert results["favourable"]["bc"]["per_seed"] == [1.0, 1.0]
    assert len(list((tmp_path / "agents").rglob("*.ckpt"))) == 3 * 4 * 2 * 2
    assert "| unfavourable | " in markdown(results, 2)


def test_overcooked_dataset_observations_equal_a_step_by_step_replay(make_ckpt, tmp_path):
    """On a JaxMARL env the dataset's observations (one vmapped scan) are those a Python loop of
    env.reset / env.step with the runner's keys gives, step by step."""
    import jax

    from arena import keys

    kw = {"max_steps": 6}
    a = make_ckpt("random", "overcooked_v2/cramped_room")
    play_match([str(a), str(a)], env_kwargs=kw, episodes=3, seed=4, swap=False, dataset_path=str(tmp_path / "d"))
    ds = load_dataset(tmp_path / "d")
    env = make("overcooked_v2/cramped_room", **kw)
    step = jax.jit(env.step)
    for e in range(3):
        ep_key = keys.seed_episode_key(4, e)
        state, ts = env.reset(keys.reset_key(ep_key))
        rows = ds.seats["agent_0"].episode == e
        acts = ds.joint_actions()[rows]
        for t in range(int(rows.sum())):
            seen = np.asarray(ts.obs[0])  # one team: (2, H, W, C), seats in order
            for s, seat in enumerate(ds.seat_names):
                assert np.array_equal(ds.seats[seat].observations[rows][t], seen[s]), (e, t, seat)
            key_env, _ = keys.split_step_key(keys.step_key(ep_key, t), len(env.spec.sides))
            state, ts = step(key_env, state, acts[t])
            assert np.array_equal(ds.joint_rewards()[rows][t], np.asarray(ts.reward))
        assert np.array_equal(ds.seats["agent_1"].next_observations[rows][-1], np.asarray(ts.obs[0])[1])
    assert ds.seats["agent_0"].observations.dtype == np.int32 and ds.meta["obs_shape"] == list(env.spec.teams[0].obs_shape)
