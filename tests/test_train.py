"""The trainers: they learn (measured by arena matches), resume exactly, and their CLI.

Everything runs on coord_game (16 rounds), where a random pair agrees half the time and a
coordinated pair always; the settings are fixed per trainer so every test here reuses the
compiled training chunk of the first.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json

import jax
import numpy as np
import pytest

from arena.agents.trainers import RunSpec, driver, iop, pieces, recorded_spec, runfiles, train
from arena.checkpoint import load_agent
from arena.match import play_match

ENV_KW = {"rounds": 16}
PPO_SET = {"num_envs": 16, "num_steps": 16, "lr": 3e-3, "shaping_horizon": 0}
PPO_STEPS = 20 * 16 * 16  # 20 updates
IOP_ARCH = {"conv_features": [], "encoder_width": 16, "expert_width": 16, "gru_width": 16}
IOP_SET = {"num_cohorts": 4, "top_k": 2, "envs_per_cohort": 4, "num_steps": 16, "lr": 3e-3, "shaping_horizon": 0}
IOP_STEPS = 30 * 4 * 4 * 16  # 30 updates


PPO_SPEC = RunSpec("coord_game", seed=3, env_kwargs=ENV_KW, config={**PPO_SET, "total_steps": PPO_STEPS})
IOP_SPEC = RunSpec("coord_game", seed=0, env_kwargs=ENV_KW, arch_config=IOP_ARCH,
                   config={**IOP_SET, "total_steps": IOP_STEPS})
SPECS = {"ppo": PPO_SPEC, "iop": IOP_SPEC}
CHUNK = {"ppo": 5, "iop": 10}


def run(kind, out, **kw):
    return train(kind, dataclasses.replace(SPECS[kind], out=str(out)), chunk=CHUNK[kind],
                 checkpoint_every=CHUNK[kind], progress=False, **kw)


def train_ppo(out, **kw):
    return run("ppo", out, **kw)


def interrupt_at_chunk(monkeypatch, k: int) -> None:
    """Ctrl-C during the k-th compiled chunk of the next run."""
    real = driver.compiled_chunk
    calls = []

    def interrupting(trainer, n):
        fn = real(trainer, n)

        def call(state):
            calls.append(n)
            if len(calls) == k:
                raise KeyboardInterrupt
            return fn(state)

        return call

    monkeypatch.setattr(driver, "compiled_chunk", interrupting)


def agreement(path) -> float:
    report, _ = play_match([str(path), str(path)], episodes=32, seed=1)
    return report["orders"][0]["metrics"]["agreement"]["mean"]


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ppo") / "coord.ckpt"
    return out, train_ppo(out)


def test_ppo_learns_coord_game(ppo_run):
    out, result = ppo_run
    assert not result.interrupted and result.updates == 20 and result.env_steps == PPO_STEPS
    files = runfiles.RunFiles.of(out)
    rows = runfiles.read_metrics(files.metrics)
    assert [r["update"] for r in rows] == list(range(1, 21))
    # Training starts at chance (a random pair agrees half the time) ...
    assert rows[0]["agreement"] < 0.75
    # ... and the trained agent, played by arena, agrees almost always with itself.
    assert agreement(out) > 0.9
    m = load_agent(out).manifest
    prov = m.provenance
    assert prov["algorithm"] == "ippo" and prov["seed"] == 3 and prov["steps"] == PPO_STEPS
    assert prov["hyperparameters"]["lr"] == PPO_SET["lr"] and prov["wall_time_s"] > 0
    assert prov["final_training_return"] == rows[-1]["return"]
    assert m.env == "coord_game" and m.env_kwargs == ENV_KW
    assert files.curves.read_bytes()[:4] == b"\x89PNG"
    assert m.name == "coord" and m.description == "IPPO (mlp_actor_critic) on coord_game, seed 3"
    assert prov["trained_with"] == "self-play, one network shared by every seat"
    # re-running its numbers bit for bit needs the libraries that trained it
    assert prov["jax_version"] == importlib.metadata.version("jax")
    assert prov["jaxmarl_version"] == importlib.metadata.version("jaxmarl")
    assert prov["arena_version"] == importlib.metadata.version("arena")


def test_resume_after_ctrl_c_ends_like_an_uninterrupted_run(ppo_run, tmp_path, monkeypatch):
    ref_out, ref = ppo_run
    out = tmp_path / "coord.ckpt"
    with monkeypatch.context() as m:
        interrupt_at_chunk(m, 3)  # Ctrl-C during the third chunk (updates 11-15)
        stopped = train_ppo(out)
    assert stopped.interrupted and stopped.updates == 10
    assert load_agent(out).manifest.provenance["updates"] == 10  # the last checkpoint is kept

    resumed = train("ppo", recorded_spec("ppo", out), resume=True, chunk=5, checkpoint_every=5, progress=False)
    assert resumed.updates == 20
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), resumed.state, ref.state)
    assert all(jax.tree.leaves(same)), "resumed run diverged from the uninterrupted one"
    a, b = load_agent(out), load_agent(ref_out)
    assert a.manifest.params.sha256 == b.manifest.params.sha256
    rows = runfiles.read_metrics(runfiles.RunFiles.of(out).metrics)
    assert [r["update"] for r in rows] == list(range(1, 21))
    assert rows == runfiles.read_metrics(runfiles.RunFiles.of(ref_out).metrics)


def test_resume_refuses_a_missing_or_foreign_state(tmp_path):
    from arena.errors import UserError

    with pytest.raises(UserError, match="no training state"):
        recorded_spec("ppo", tmp_path / "none.ckpt")
    runfiles.save_state(tmp_path / "x.ckpt.state", {"trainer": "iop"}, {"a": np.zeros(2)})
    with pytest.raises(UserError, match="not ppo"):
        recorded_spec("ppo", tmp_path / "x.ckpt.state")
    with pytest.raises(UserError, match="not ppo"):
        train("ppo", dataclasses.replace(PPO_SPEC, out=str(tmp_path / "x.ckpt")), resume=True, progress=False)


def test_resume_refuses_a_state_of_other_settings(ppo_run):
    from arena.errors import UserError

    other = dataclasses.replace(PPO_SPEC, out=str(ppo_run[0]), seed=4)
    with pytest.raises(UserError, match=r"records another run \(seed differs\)"):
        train("ppo", other, resume=True, progress=False)


def test_the_run_description_is_what_the_state_records(ppo_run):
    out, _ = ppo_run
    meta, _ = runfiles.read_state(runfiles.state_path_for(out))
    spec = recorded_spec("ppo", out)
    assert meta == {**spec.meta("ppo"), "update": 20, "wall_time": meta["wall_time"]}
    assert spec.arch == "mlp_actor_critic" and spec.name == "coord" and spec.out == str(out)
    assert spec.config["total_steps"] == PPO_STEPS and spec.config["num_minibatches"] == 4  # defaults filled in


@pytest.fixture(scope="module")
def iop_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("iop") / "iop.ckpt"
    return out, run("iop", out)


@pytest.mark.parametrize("kind", ["ppo", "iop"])
@pytest.mark.parametrize("spelling", ["X.ckpt", "X.ckpt.state"])
def test_cli_resumes_either_spelling_of_the_run(kind, spelling, request, tmp_path, monkeypatch, capsys):
    """`arena train KIND --resume` takes the -o path or its state file, for every trainer."""
    from arena.cli import main

    ref_out, _ = request.getfixturevalue(f"{kind}_run")
    out = tmp_path / "sub" / "X.ckpt"
    with monkeypatch.context() as m:
        interrupt_at_chunk(m, 2)
        assert run(kind, out).updates == CHUNK[kind]
    monkeypatch.chdir(tmp_path)  # relative paths, as typed
    main(["train", kind, "--resume", f"sub/{spelling}", "--checkpoint-every", str(CHUNK[kind]), "--quiet", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["checkpoints"] == ["sub/X.ckpt"] and not summary["interrupted"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["X.ckpt", "X.ckpt.state", "X.curves.png", "X.metrics.jsonl"]
    assert load_agent(out).manifest.params.sha256 == load_agent(ref_out).manifest.params.sha256


def test_iop_learns_coord_game_and_logs_its_diagnostics(iop_run):
    out, result = iop_run
    assert result.updates == 30
    rows = runfiles.read_metrics(runfiles.RunFiles.of(out).metrics)
    assert rows[0]["agreement"] < 0.75
    for key in ("return", "cohort_return_std", "action_entropy", "routing_entropy",
                "expert_usage/0", "expert_usage/3"):
        assert key in rows[-1]
    usage = sum(rows[-1][f"expert_usage/{i}"] for i in range(4))
    assert usage == pytest.approx(1.0, abs=1e-4)
    loaded = load_agent(out)
    assert loaded.manifest.arch == "softmoe_gru"
    prov = loaded.manifest.provenance
    assert prov["algorithm"] == "iop" and prov["hyperparameters"]["top_k"] == 2
    assert prov["hyperparameters"]["kl_coef"] == 0.1 and len(prov["hyperparameters"]["cohort_sigma"]) == 4
    assert agreement(out) > 0.9


def test_cohort_perturbations_follow_the_seed():
    sigma, bias = iop.cohort_perturbations(iop.IOPConfig(), num_experts=4)
    np.testing.assert_allclose(sigma, np.linspace(0.05, 0.25, 8), rtol=1e-6)
    assert bias.shape == (8, 4)
    np.testing.assert_allclose(bias[0], [0.3, 0, 0, 0])
    np.testing.assert_allclose(bias[4], [0.3, 0.3, 0, 0])  # cohort 4: experts 0 + 1


def test_gae_by_hand():
    r = np.array([[1.0], [0.0], [2.0]], np.float32)
    v = np.array([[0.5], [0.5], [0.5]], np.float32)
    d = np.array([[0.0], [1.0], [0.0]], np.float32)
    adv, target = pieces.gae(r, v, d, np.array([1.0], np.float32), gamma=0.9, lam=0.5)
    # t=2: 2 + 0.9*1 - 0.5 = 2.4; t=1 ends the episode: 0 - 0.5 = -0.5;
    # t=0: delta = 1 + 0.9*0.5 - 0.5 = 0.95, plus 0.9*0.5*(-0.5) = 0.725
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [0.725, -0.5, 2.4], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(target), np.asarray(adv) + v)


def test_cli_trains_and_reports(ppo_run, tmp_path, capsys):
    from arena.cli import main

    out = tmp_path / "cli.ckpt"
    sets = [x for k, v in PPO_SET.items() for x in ("--set", f"{k}={v}")]
    main(["train", "ppo", "--env", "coord_game", "--env-kw", "rounds=16", "--seed", "3", "--steps", str(PPO_STEPS),
          "--checkpoint-every", "5", "--quiet", "--json", "-o", str(out), "--name", "ppo-coord-s3", *sets])
    summary = json.loads(capsys.readouterr().out)
    assert summary["checkpoints"] == [str(out)] and summary["updates"] == 20
    # Same seed and settings as the library call: the same agent, under the name given.
    assert load_agent(out).manifest.params.sha256 == load_agent(ppo_run[0]).manifest.params.sha256
    assert load_agent(out).name == "ppo-coord-s3" and load_agent(ppo_run[0]).name == "coord"


def test_a_finished_run_records_its_self_play_reference(ppo_run):
    """Zero-shot scores are normalised by a partner's provenance.best_return: a finished run
    writes it (self-play, 256 episodes, seed 0), and rewriting provenance leaves params alone."""
    from arena.agents.trainers.reference import REFERENCE_EPISODES

    path, result = ppo_run
    prov = load_agent(path).manifest.provenance
    assert (prov["best_return_episodes"], prov["best_return_seed"]) == (REFERENCE_EPISODES, 0) == (256, 0)
    report, _ = play_match([str(path), str(path)], episodes=256, seed=0, swap=False)
    sides = report["orders"][0]["sides"]
    assert prov["best_return"] == pytest.approx(np.mean([s["return"]["mean"] for s in sides]), abs=1e-4)
    assert prov["best_return"] > 8  # a random pair agrees on half of the 16 rounds
    # The params hash the manifest holds is still the params' own.
    from arena.checkpoint import params_to_bytes, read_checkpoint, sha256_hex

    manifest, params, _ = read_checkpoint(path)
    assert sha256_hex(params_to_bytes(params)) == manifest.params.sha256
    assert result.outputs == [path]


def test_cli_refuses_to_replace_a_run_unless_forced(ppo_run, tmp_path, capsys):
    from arena.cli import main

    ref_out, _ = ppo_run
    out = tmp_path / "coord.ckpt"
    for p in runfiles.RunFiles.of(ref_out).existing():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["coord.ckpt", "coord.ckpt.state", "coord.curves.png", "coord.metrics.jsonl"]
    sets = [x for k, v in PPO_SET.items() for x in ("--set", f"{k}={v}")]
    argv = ["train", "ppo", "--env", "coord_game", "--env-kw", "rounds=16", "--seed", "5", "--steps", str(PPO_STEPS),
            "--checkpoint-every", "5", "--quiet", "--json", "-o", str(out), *sets]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err
    assert err.startswith(f"error: {out}: a run is already there (coord.ckpt, coord.ckpt.state, ")
    assert err.endswith("continue it with --resume, or replace it with --force")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing touched
    main([*argv, "--force"])
    assert json.loads(capsys.readouterr().out)["updates"] == 20
    assert load_agent(out).manifest.provenance["seed"] == 5
    assert len(runfiles.read_metrics(runfiles.RunFiles.of(out).metrics)) == 20  # the old run's rows are gone


@pytest.mark.parametrize("argv, message", [
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--set", "nope=1"], "bad PPO setting"),
    (["train", "ppo", "--env", "mpe_tagg", "-o", "x.ckpt"], "unknown env id"),
    (["train", "iop", "--env", "mpe_tag", "-o", "x.ckpt"], "one cooperative team"),
    (["train", "ppo", "--env", "coord_game"], "needs --env and -o"),
    (["train", "ppo", "--resume", "missing.ckpt"], "no training state"),
    (["train", "coala", "--env", "coord_game", "-o", "x.ckpt"], "not ipd"),
    (["train", "coala", "--env", "ipd", "-o", "x.ckpt", "--set", "lanes=3", "--set", "units=3"], "divisible by num_minibatches"),
    (["train", "coala", "--env", "ipd", "-o", "x.ckpt", "--set", "nope=1"], "bad COALA-PG setting"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, monkeypatch, arena_cli):
    monkeypatch.chdir(tmp_path)
    run = arena_cli(*argv)
    assert run.code == 2
    err = run.err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


@pytest.mark.slow
def test_ppo_mpe_tag_writes_one_checkpoint_per_team(tmp_path):
    out = tmp_path / "tag.ckpt"
    spec = RunSpec("mpe_tag", out=str(out), config={"num_envs": 4, "num_steps": 25, "total_steps": 2 * 4 * 25})
    result = train("ppo", spec, progress=False, chunk=1, checkpoint_every=1)
    assert [p.name for p in result.outputs] == ["tag-predators.ckpt", "tag-prey.ckpt"]
    pred, prey = (load_agent(p) for p in result.outputs)
    assert pred.manifest.plays == ("predators",) and prey.manifest.plays == ("prey",)
    report, _ = play_match([str(p) for p in result.outputs], episodes=2, env_kwargs={"max_steps": 5})
    assert report["env"] == "mpe_tag"


@pytest.mark.slow  # a PPO compile and the reference match: about a minute on 2 busy cores
def test_ppo_trains_one_team_against_a_frozen_opponent(tmp_path):
    from arena.checkpoint import new_agent, save_checkpoint
    from arena.errors import UserError

    prey_path = tmp_path / "prey.ckpt"
    save_checkpoint(prey_path, *new_agent("mlp_actor_critic", "mpe_tag_intent", side="prey", seed=4,
                                          env_kwargs={"max_steps": 5}))
    out = tmp_path / "hunt.ckpt"
    spec = RunSpec("mpe_tag_intent", out=str(out), env_kwargs={"max_steps": 5}, opponent=str(prey_path),
                   config={"num_envs": 4, "num_steps": 5, "num_minibatches": 2, "total_steps": 2 * 4 * 5})
    result = train("ppo", spec, progress=False, chunk=1, checkpoint_every=1)
    assert [p.name for p in result.outputs] == ["hunt-predators.ckpt"]  # the prey is not rewritten
    prey = load_agent(prey_path)
    state_prey = result.state.params[1]
    for a, b in zip(jax.tree.leaves(state_prey), jax.tree.leaves(prey.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # frozen: never updated
    first = load_agent(out.parent / "hunt-predators.ckpt").manifest.provenance
    assert "against frozen prey" in first["trained_with"] and prey.name in first["trained_with"]
    assert first["best_return"] is not None  # measured against the frozen prey
    assert recorded_spec("ppo", out).opponent == str(prey_path)
    # A one-team env has no opponent to freeze.
    with pytest.raises(UserError, match="team game"):
        train("ppo", RunSpec("coord_game", out=str(tmp_path / "c.ckpt"), opponent=str(prey_path)), progress=False)


def test_the_progress_line_fits_80_columns_with_its_bar_and_main_metrics():
    import io

    from rich.console import Console

    from arena.agents.trainers import build_trainer

    # overcooked v1 has 13 metrics: the per-feature counts stay in the metrics file and curves.
    trainer = build_trainer("ppo", RunSpec("overcooked/forced_coord"))
    assert trainer.progress_keys == ("return", "soups")
    assert "placement_in_pot/agent_0" in trainer.curve_keys
    row = {k: 1234.5 for k in (*trainer.curve_keys, "entropy")}
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    bar = driver._progress(True, console)
    task = bar.add_task("ippo overcooked/forced_coord", total=2441, completed=1200, info="")
    bar.update(task, info=driver.progress_info(12345.6, row, trainer.progress_keys))
    console.print(bar.get_renderable())
    lines = console.file.getvalue().rstrip("\n").split("\n")
    assert all(len(line) <= 80 for line in lines), lines
    assert "ippo overcooked/forced_coord" in lines[0] and "━" in lines[0] and "1200/2441 updates" in lines[0]
    assert lines[1] == "12,346 steps/s  return 1234.50  soups 1234.50"
    # a metrics line longer than the terminal is cropped, never wrapped onto a third line
    bar.update(task, info=driver.progress_info(1.0, row, trainer.curve_keys))
    console.file.seek(0)
    console.file.truncate()
    console.print(bar.get_renderable())
    assert len(console.file.getvalue().rstrip("\n").split("\n")) == 2
