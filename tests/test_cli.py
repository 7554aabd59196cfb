"""The CLI as a user meets it: instant help, listings, and one-line errors with exit code 2."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import COMMANDS, cli


def test_help_is_instant_and_does_not_import_jax():
    code = "import sys; from arena.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('jax' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "match" in proc.stdout and proc.stdout.strip().endswith("False")


def test_every_command_has_help_with_an_example():
    for name in COMMANDS:
        out = CliRunner().invoke(cli, [name, "--help"])
        assert out.exit_code == 0, (name, out.output)
        assert "arena " + name.split()[0] in out.output, f"{name} --help shows no example"


def test_envs_lists_every_family_with_shapes():
    out = CliRunner().invoke(cli, ["envs", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["id"]: r for r in json.loads(out.output)}
    assert {"mpe_tag", "ipd", "coord_game", "overcooked/cramped_room", "overcooked_v2/cramped_room"} <= set(rows)
    tag = rows["mpe_tag"]
    assert [t["obs_shape"] for t in tag["teams"]] == [[16], [14]]
    assert tag["sides"] == ["predators", "prey"]


HEAVY = "sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'jaxmarl', 'flax'))"


def _heavy_modules_after(argv):
    """(stdout without its last line, heavy modules imported) of `arena argv` in a fresh process."""
    code = f"import json, sys\nfrom arena.cli import main\nmain({argv!r})\nprint(json.dumps({HEAVY}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    *out, heavy = proc.stdout.strip().splitlines()
    return "\n".join(out), json.loads(heavy)


def test_envs_listing_is_cached_without_jax_and_matches_real_envs():
    from arena.commands.env_catalogue import catalogue_path
    from arena.envs import make, registered_ids

    assert CliRunner().invoke(cli, ["envs"]).exit_code == 0  # builds the cache, or finds it
    out, heavy = _heavy_modules_after(["envs", "--json"])
    assert heavy == []  # read from the cache
    rows = {r["id"]: r for r in json.loads(out)}
    for env_id in ("overcooked/cramped_room", "overcooked_v2/cramped_room_v2", "overcooked_v2/long_room", "mpe_tag", "ipd"):
        spec = make(env_id).spec
        row = rows[env_id]
        assert row["seats"] == list(spec.seats) and row["max_steps"] == spec.max_steps
        assert row["cooperative"] == spec.cooperative and row["sides"] == [s.name for s in spec.sides]
        assert row["metrics"] == [m.name for m in spec.metrics]
        assert [(t["name"], t["obs_shape"], t["obs_dtype"], t["num_actions"], t["action_labels"]) for t in row["teams"]] == [
            (t.name, list(t.obs_shape), t.obs_dtype, t.num_actions, list(t.action_labels)) for t in spec.teams]
    assert set(rows) == set(registered_ids())
    # A cache file that does not parse is rebuilt, not trusted.
    catalogue_path().write_text("{not json")
    again = CliRunner().invoke(cli, ["envs", "overcooked_v2", "--json"])
    assert again.exit_code == 0
    assert json.loads(again.output) == [r for r in json.loads(out) if r["id"].startswith("overcooked_v2")]
    assert json.loads(catalogue_path().read_text()) == json.loads(out)


def test_tournament_list_imports_no_jax():
    out, heavy = _heavy_modules_after(["tournament", "list", "--json"])
    assert heavy == [] and isinstance(json.loads(out), list)


def test_archs_lists_builtins_with_extras():
    out = CliRunner().invoke(cli, ["archs", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["arch"]: r for r in json.loads(out.output)}
    assert {"random", "scripted", "mlp_actor_critic", "cnn_actor_critic", "softmoe_gru", "ensemble"} <= set(rows)
    assert any(e.startswith("routing") for e in rows["softmoe_gru"]["extras"])


def test_new_agent_then_inspect(tmp_path):
    path = tmp_path / "moe.ckpt"
    out = CliRunner().invoke(cli, ["new-agent", "--arch", "softmoe_gru", "--env", "overcooked_v2/cramped_room", "-o", str(path)])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, ["inspect", str(path), "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["manifest"]["arch"] == "softmoe_gru"
    assert info["manifest"]["extras"]["routing"]["labels"] == ["gathering", "cooking", "recipe", "partner"]
    assert info["param_count"] > 100_000


def test_user_errors_are_one_line_exit_2(tmp_path, arena_cli):
    cases = [
        (["match", str(tmp_path / "missing.ckpt"), "x.ckpt"], "no such file"),
        (["new-agent", "--arch", "random", "--env", "chess", "-o", str(tmp_path / "a.ckpt")], "unknown env id 'chess'"),
        (["new-agent", "--arch", "nope", "--env", "ipd", "-o", str(tmp_path / "a.ckpt")], "unknown architecture 'nope'"),
        (["inspect", "zoo:does-not-exist"], "no such zoo agent"),
    ]
    for argv, message in cases:
        run = arena_cli(*argv)
        assert run.code == 2, (argv, run.err)
        assert len(run.err_lines) == 1 and message in run.err_lines[0], (argv, run.err)


def test_the_shell_sees_exit_2_and_one_line_for_a_user_error(tmp_path):
    """The one test through a real process: the installed `arena` console script, as a shell
    runs it (the CLI tests that need no fresh interpreter use the in-process `arena_cli`)."""
    script = shutil.which("arena", path=str(Path(sys.executable).parent))
    assert script, "the arena console script is not installed beside this python"
    proc = subprocess.run([script, "inspect", str(tmp_path / "missing.ckpt")], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"error: {tmp_path / 'missing.ckpt'}: no such file"]
    assert proc.stdout == ""


def test_unknown_env_for_match_is_refused(tmp_path, arena_cli):
    path = tmp_path / "r.ckpt"
    assert arena_cli("new-agent", "--arch", "random", "--env", "ipd", "-o", path).code == 0
    run = arena_cli("match", path, path, "--env", "ipd_v9")
    assert run.code == 2 and "unknown env id 'ipd_v9'" in run.err


def test_unknown_command_suggests_the_close_one(arena_cli):
    run = arena_cli("mach", "a.ckpt")
    assert run.code == 2
    assert run.err.strip() == "error: no command 'mach' (did you mean 'match'?); see `arena --help`"


@pytest.mark.parametrize("argv, message", [
    (["new-agent", "--arch", "random", "--env", "coord_gme", "-o", "x.ckpt"],
     "unknown env id 'coord_gme' (did you mean 'coord_game'?)"),
    (["envs", "overcoked_v2/cramped_room"], "(did you mean 'overcooked_v2/cramped_room'?)"),
    (["new-agent", "--arch", "mlp_actor_critic", "--env", "coord_game", "--config", "hiden=[8]", "-o", "x.ckpt"],
     "has no config field(s) hiden (did you mean 'hidden'?)"),
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--set", "lrr=0.1"], "no setting lrr (did you mean 'lr'?)"),
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--set", "lr=fast"], "lr must be a number, not 'fast'"),
    (["train", "iop", "--env", "coord_game", "-o", "x.ckpt", "--set", "top_k=2.5"], "top_k must be an int, not 2.5"),
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--set", "num_minibatches=0"],
     "num_minibatches must be at least 1, got 0"),  # was a ZeroDivisionError traceback
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--set", "num_envs=0"], "num_envs must be at least 1"),
    (["train", "iop", "--env", "coord_game", "-o", "x.ckpt", "--set", "gamma=1.5"], "gamma must be at most 1, got 1.5"),
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--set", "lr=0"], "lr must be positive, got 0"),
    (["train", "ppo", "--env", "coord_game", "-o", "x.ckpt", "--env-kw", "round=3"],
     "no option round (did you mean 'rounds'?); `arena envs coord_game` lists its options"),
    (["train", "ppo", "--env", "overcooked_v2/cramped_room", "-o", "x.ckpt", "--env-kw", "max_step=3"],
     "no option max_step (did you mean 'max_steps'?)"),
    (["train", "ppo", "--env", "overcooked_v2/cramped_room", "-o", "x.ckpt", "--env-kw", "max_steps=long"],
     "max_steps must be an int (default 400), not 'long'"),
    (["train", "ppo", "--env", "mpe_tag", "-o", "x.ckpt", "--env-kw", "num_adversary=2"],
     "(did you mean 'num_adversaries'?)"),
])
def test_typos_get_one_line_with_the_close_name(argv, message, tmp_path, monkeypatch, capsys):
    """No traceback, no Python internals (`PPOConfig.__init__() got an unexpected keyword`)."""
    from arena.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert message in err and "__init__" not in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # refused before writing anything


@pytest.mark.parametrize("env_id, option, default", [
    ("coord_game", "rounds", "32"), ("mpe_tag", "num_adversaries", "3"),
    ("overcooked_v2/cramped_room", "max_steps", "400"), ("overcooked/cramped_room", "random_reset", "false"),
])
def test_envs_of_one_id_lists_its_options_with_defaults(env_id, option, default):
    from arena.envs import make

    out = CliRunner().invoke(cli, ["envs", env_id], env={"COLUMNS": "100"})
    assert out.exit_code == 0, out.output
    assert f"{env_id} options" in out.output
    line = next(x for x in out.output.splitlines() if x.startswith(f"│ {option} "))
    assert [c.strip() for c in line.strip("│").split("│")] == [option, default]
    rows = {r["id"]: r for r in json.loads(CliRunner().invoke(cli, ["envs", env_id, "--json"]).output)}
    assert rows[env_id]["options"][option] == default
    make(env_id, **{option: json.loads(default)})  # the listed default is one make takes


@pytest.mark.parametrize("kind", ["ppo", "iop"])
def test_train_lists_its_settings(kind):
    import dataclasses

    from arena.agents.trainers import TRAINERS

    out = CliRunner().invoke(cli, ["train", kind, "--list-settings", "--json"])
    assert out.exit_code == 0, out.output
    config = TRAINERS[kind].Config()
    assert [(r["name"], r["default"]) for r in json.loads(out.output)] == [
        (f.name, getattr(config, f.name)) for f in dataclasses.fields(config)]
    text = CliRunner().invoke(cli, ["train", kind, "--list-settings"], env={"COLUMNS": "80"}).output
    assert "│ num_steps " in text and "--list-settings" in CliRunner().invoke(cli, ["train", kind, "--help"]).output


def _complete(words: str) -> list[tuple[str, str]]:
    """What bash gets from `arena`'s completion for the command line `words` (the last word
    being completed), as click's bash script asks for it."""
    env = {**os.environ, "_ARENA_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    proc = subprocess.run([sys.executable, "-m", "arena.cli"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [tuple(line.split(",", 1)) for line in proc.stdout.splitlines()]


def test_shell_completion_of_commands_modes_envs_and_zoo_agents():
    from arena.agents.zoo import zoo_names
    from arena.envs import registered_ids

    script = subprocess.run([sys.executable, "-m", "arena.cli"], env={**os.environ, "_ARENA_COMPLETE": "bash_source"}, capture_output=True, text=True).stdout
    assert "_arena_completion()" in script and "complete -o nosort -F _arena_completion arena" in script
    assert _complete("arena ma") == [("plain", "match")]
    assert _complete("arena tournament --mode ") == [("plain", m) for m in
                                                      ("selfplay", "crossplay", "zeroshot", "roundrobin", "human")]
    assert _complete("arena tournament run --mode ro") == [("plain", "roundrobin")]
    v2 = [i for i in registered_ids() if i.startswith("overcooked_v2/cr")]
    assert v2 and _complete("arena match a.ckpt --env overcooked_v2/cr") == [("plain", i) for i in v2]
    assert _complete("arena train ppo --env mpe") == [("plain", "mpe_tag"), ("plain", "mpe_tag_intent")]
    assert _complete("arena envs coord") == [("plain", "coord_game")]
    ppo = [n for n in zoo_names() if n.startswith("ppo-")]
    assert ppo and _complete("arena match zoo:ppo-") == [*(("plain", f"zoo:{n}") for n in ppo), ("file", "zoo:ppo-")]
    # Anything else is a path: the shell completes files.
    assert _complete("arena inspect runs/a") == [("file", "runs/a")]
