"""Tournaments on toy games whose answers are known by hand, resume after a crash,
determinism, the store, reports and the CLI's bad-spec errors.

Cheap agents (scripted, random) on short matrix games keep compiles small; fixtures are
module-scoped so compiled population calls are shared between tests.
"""
import csv
import json
import re
import struct

import numpy as np
import pytest

from arena.checkpoint import new_agent, save_checkpoint
from arena.tournaments.spec import make_spec, spec_from_toml
from arena.tournaments.stored import show_tournament
from arena.tournaments.tournament import prepare, run_tournament


@pytest.fixture(scope="module")
def agents_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("agents")


def ckpt(folder, arch, env_id, name, config=None, seed=0, side=None, provenance=None):
    manifest, params = new_agent(arch, env_id, seed=seed, side=side, config=config or {}, name=name)
    if provenance:
        manifest = manifest.replace(provenance={**manifest.provenance, **provenance})
    path = folder / f"{name}.ckpt"
    save_checkpoint(path, manifest, params)
    return str(path)


@pytest.fixture(scope="module")
def coord(agents_dir, tmp_path_factory):
    """coord_game cross-play of always-left and always-right, one round an episode."""
    left = ckpt(agents_dir, "scripted", "coord_game", "left", {"rule": "constant", "action": 0})
    right = ckpt(agents_dir, "scripted", "coord_game", "right", {"rule": "constant", "action": 1})
    db = str(tmp_path_factory.mktemp("coord") / "t.sqlite")
    spec = make_spec("crossplay", [left, right], env_kwargs={"rounds": 1}, episodes=4)
    report, info = run_tournament(spec, db=db)
    return {"spec": spec, "report": report, "info": info, "db": db, "refs": [left, right]}


def means(matrix):
    return np.array([[c["mean"] for c in row] for row in matrix])


def test_coord_game_crossplay_is_identity(coord):
    xp = coord["report"]["crossplay"]
    np.testing.assert_array_equal(means(xp["matrix"]), [[1.0, 0.0], [0.0, 1.0]])
    for row in xp["per_agent"]:
        assert (row["sp"]["mean"], row["xp"]["mean"], row["gap"]["mean"]) == (1.0, 0.0, 1.0)
        assert row["xp"]["low"] == row["xp"]["high"] == 0.0
    assert coord["info"].cells_total == 4 and coord["info"].cells_run == 4


def test_ipd_roundrobin_textbook_payoffs(agents_dir, tmp_path):
    rounds = 10
    tft = ckpt(agents_dir, "scripted", "ipd", "tft", {"rule": "tit_for_tat"})
    alld = ckpt(agents_dir, "scripted", "ipd", "alld", {"rule": "always_defect"})
    spec = make_spec("roundrobin", [tft, alld], env="ipd", env_kwargs={"rounds": rounds}, episodes=2)
    report, _ = run_tournament(spec, db=str(tmp_path / "t.sqlite"))
    rr = report["roundrobin"]
    assert rr["rows"] == rr["cols"] == ["tft", "alld"]
    ret = [[[side["mean"] for side in c["returns"]] for c in row] for row in rr["payoff"]]
    # TFT vs AllD: S then P forever for TFT, T then P for AllD; mutual TFT: R every round.
    assert ret[0][1] == [0 + (rounds - 1) * 1, 5 + (rounds - 1) * 1]
    assert ret[1][0] == [5 + (rounds - 1) * 1, 0 + (rounds - 1) * 1]
    assert ret[0][0] == [3 * rounds, 3 * rounds] and ret[1][1] == [1 * rounds, 1 * rounds]
    ratings = {r["agent"]: r for r in rr["ratings"]}
    assert ratings["alld"]["elo"] > ratings["tft"]["elo"]  # AllD outscores TFT in every game
    assert ratings["alld"]["mu"] > ratings["tft"]["mu"]
    assert ratings["tft"]["games"] == 4


@pytest.fixture(scope="module")
def random_pop(agents_dir):
    """Three random agents in one seed group (rand-s0..2): one architecture, one compile."""
    return [ckpt(agents_dir, "random", "coord_game", f"rand-s{s}", seed=s) for s in range(3)]


def random_spec(refs):
    return make_spec("crossplay", refs, env_kwargs={"rounds": 4}, episodes=8, seeds=2, seed=7)


class Crash(Exception):
    pass


def test_resume_after_crash_plays_only_missing_cells(random_pop, tmp_path):
    spec = random_spec(random_pop)
    full, full_info = run_tournament(spec, db=str(tmp_path / "full.sqlite"), chunk=2)
    assert full_info.cells_total == 18 and full_info.calls == 9
    assert full_info.compiles <= 1  # the whole 3x3 matrix, both seeds: one compiled function

    def crash(stored):
        if stored >= 6:
            raise Crash

    db = str(tmp_path / "crashed.sqlite")
    with pytest.raises(Crash):
        run_tournament(spec, db=db, chunk=2, on_cells=crash)
    partial = show_tournament(full_info.id, db)
    assert partial["cells_done"] == 6 and not partial["finished"]
    resumed, info = run_tournament(spec, db=db, chunk=2)
    assert info.cells_run == 12 and info.compiles == 0
    assert resumed == full  # every number, interval and cell row equals the uninterrupted run
    again, info = run_tournament(spec, db=db, chunk=2)
    assert info.cells_run == 0 and again == full


def test_deterministic_and_a_cell_reproduces_alone(random_pop, tmp_path):
    from arena.runner import run_match

    spec = random_spec(random_pop)
    a, _ = run_tournament(spec, db=str(tmp_path / "a.sqlite"), chunk=2)
    b, _ = run_tournament(spec, db=str(tmp_path / "b.sqlite"), chunk=3)  # other chunking, same numbers
    assert a == b
    assert a["ci_unit"] == "training seed" and a["groups"] == {"rand": ["rand-s0", "rand-s1", "rand-s2"]}
    assert a["crossplay"]["groups"][0]["members"] == 3
    # Cell (rand-s0, rand-s1) equals `arena match` with the cell's match seed.
    prep = prepare(spec)
    cell = next(c for c in prep.cells if c.lineup == (0, 1) and c.replicate == 1)
    row = next(r for r in a["cells"] if r["cell"] == cell.index)
    alone = run_match(prep.env, [prep.loaded[0].agent, prep.loaded[1].agent],
                      [prep.loaded[0].params, prep.loaded[1].params], episodes=8, seed=cell.match_seed)
    assert row["side_returns"] == pytest.approx([float(alone.returns[:, 0].mean()), float(alone.returns[:, 1].mean())])
    # Different tournament seed, different numbers.
    c, _ = run_tournament(make_spec("crossplay", random_pop, env_kwargs={"rounds": 4}, episodes=8, seeds=2, seed=8),
                          db=str(tmp_path / "c.sqlite"), chunk=2)
    assert c["cells"] != a["cells"]


def test_zeroshot_flags_partners_and_normalises(agents_dir, random_pop, tmp_path):
    left = ckpt(agents_dir, "scripted", "coord_game", "zs-left", {"rule": "constant", "action": 0},
                provenance={"best_return": 2.0, "partners": []})
    trained = ckpt(agents_dir, "scripted", "coord_game", "zs-left-trained", {"rule": "constant", "action": 0},
                   provenance={"best_return": 4.0, "partners": ["focal-left"]})
    focal = ckpt(agents_dir, "scripted", "coord_game", "focal-left", {"rule": "constant", "action": 0})
    spec = make_spec("zeroshot", [focal], pool=[left, trained], env_kwargs={"rounds": 1}, episodes=2)
    report, _ = run_tournament(spec, db=str(tmp_path / "z.sqlite"))
    row = report["zeroshot"]["focal"][0]
    by = {p["partner"]: p for p in row["partners"]}
    assert by["zs-left"]["score"]["mean"] == 1.0 and by["zs-left"]["normalised"] == 0.5
    assert by["zs-left-trained"]["trained_with"] and by["zs-left-trained"]["normalised"] == 0.25
    assert row["flagged"] == ["zs-left-trained"]
    # Aggregates use held-out partners only.
    assert row["mean"]["mean"] == 1.0 and row["normalised_iqm"]["mean"] == 0.5


def test_heatmap_png_has_the_expected_size(coord, tmp_path):
    from arena.tournaments.report import heatmap_size, write_heatmap

    path = tmp_path / "xp.png"
    assert write_heatmap(coord["report"], path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == heatmap_size(2, 2)


def test_spec_toml_and_id_by_content(coord, tmp_path):
    import shutil

    moved = [shutil.copy(r, tmp_path / f"copy-{i}.ckpt") for i, r in enumerate(coord["refs"])]
    toml = tmp_path / "t.toml"
    toml.write_text('mode = "crossplay"\nagents = ["copy-0.ckpt", "copy-1.ckpt"]\nepisodes = 4\n[env_kwargs]\nrounds = 1\n')
    spec = spec_from_toml(toml)
    assert spec.agents == tuple(str(p) for p in moved)
    # Same agents by content, other paths: the same tournament id, so it resumes the same run.
    assert prepare(spec).id == coord["info"].id
    report, info = run_tournament(spec, db=coord["db"])
    assert info.cells_run == 0 and report == coord["report"]


def test_cli_run_show_list_and_outputs(coord, tmp_path, arena_cli):
    db = str(tmp_path / "cli.sqlite")
    run = arena_cli("tournament", "--mode", "crossplay", *coord["refs"], "--env-kw", "rounds=1",
                    "--episodes", "4", "--db", db, "--json", "--out", tmp_path / "out")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report == {**coord["report"], "finished": report["finished"]}
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "cells.csv", "heatmap.png"}
    csv_lines = (tmp_path / "out" / "cells.csv").read_text().splitlines()
    assert csv_lines[0].startswith("tournament,cell,replicate,match_seed,agent_row,agent_col") and len(csv_lines) == 5
    run = arena_cli("tournament", "show", report["id"][:6], "--db", db, "--json")
    assert run.code == 0 and json.loads(run.out) == report
    run = arena_cli("tournament", "show", report["id"], "--db", db)
    assert run.code == 0 and "cross-play matrix" in run.out and "1.00 ±0.00" in run.out
    rows = json.loads(arena_cli("tournament", "list", "--db", db, "--json").out)
    assert [(r["id"], r["done"], r["cells"]) for r in rows] == [(report["id"], 4, 4)]
    run = arena_cli("tournament", "list", "--db", db)
    assert run.code == 0 and report["id"] in run.out


@pytest.fixture(scope="module")
def predator(agents_dir):
    return ckpt(agents_dir, "random", "mpe_tag", "pred", side="predators")


@pytest.mark.parametrize("case", ["missing_file", "incompatible_env", "incompatible_side", "empty_pool",
                                  "empty_pool_folder", "bad_mode", "unknown_id", "bad_toml"])
def test_bad_specs_fail_with_one_line_and_exit_2(case, coord, predator, tmp_path, arena_cli):
    left, right = coord["refs"]
    db = ["--db", str(tmp_path / "bad.sqlite")]
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.toml").write_text('mode = "crossplay"\nagnets = []\n')
    args = {
        "missing_file": ["tournament", "--mode", "crossplay", left, str(tmp_path / "nope.ckpt")],
        "incompatible_env": ["tournament", "--mode", "crossplay", left, predator, "--env", "coord_game"],
        "incompatible_side": ["tournament", "--mode", "selfplay", predator, "--env", "mpe_tag"],
        "empty_pool": ["tournament", "--mode", "zeroshot", left],
        "empty_pool_folder": ["tournament", "--mode", "zeroshot", left, "--pool", str(tmp_path / "empty")],
        "bad_mode": ["tournament", "--mode", "xplay", left, right],
        "unknown_id": ["tournament", "show", "ffffffff"],
        "bad_toml": ["tournament", "run", "--spec", str(tmp_path / "bad.toml")],
    }[case]
    run = arena_cli(*args, *db)
    assert run.code == 2
    lines = run.err_lines
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert "Traceback" not in run.err + run.out


@pytest.mark.slow
def test_resume_after_the_process_is_killed(random_pop, tmp_path):
    """A real crash: SIGKILL the CLI between chunks, rerun, compare with an uninterrupted run."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    # Cells heavy enough (about 100k env steps each) that the poll below sees the store grow.
    spec = make_spec("crossplay", random_pop, env_kwargs={"rounds": 200}, episodes=512, seeds=2, seed=7)
    full, info = run_tournament(spec, db=str(tmp_path / "full.sqlite"), chunk=1)
    db = tmp_path / "killed.sqlite"
    args = [sys.executable, "-m", "arena.cli", "tournament", "--mode", "crossplay", *random_pop, "--env-kw", "rounds=200",
            "--episodes", "512", "--seeds", "2", "--seed", "7", "--chunk", "1", "--db", str(db), "--no-progress"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 300
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM cells").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored >= 3:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.005)
    proc.wait()
    assert 3 <= stored < info.cells_total, "the run was not caught mid-way"
    resumed, again = run_tournament(spec, db=str(db), chunk=1)
    assert again.cells_run < info.cells_total
    assert resumed == full


# ---------------------------------------------------------------- issue 10: numbers that mislead


def test_mpe_tag_rates_each_role_within_itself(agents_dir, tmp_path):
    """Head to head the prey lose every episode (each capture pays the predators and costs the
    prey), so prey were rated by nothing. Per role, the trained prey beats a prey that runs off
    the arena and the trained predators beat random ones, with intervals apart."""
    runaway = ckpt(agents_dir, "scripted", "mpe_tag", "runaway", {"rule": "constant", "action": 2}, side="prey")
    rand = ckpt(agents_dir, "random", "mpe_tag", "rand-pred", side="predators")
    spec = make_spec("roundrobin", ["zoo:ppo-tag-s0-predators", rand, "zoo:ppo-tag-s0-prey", runaway], env="mpe_tag",
                     episodes=64)
    report, _ = run_tournament(spec, db=str(tmp_path / "tag.sqlite"))
    rr = report["roundrobin"]
    assert rr["rated_per_role"] and "predators vs predators on the same prey (higher captures wins)" in rr["win_rule"]
    by = {r["agent"]: r for r in rr["ratings"]}
    assert {a: r["role"] for a, r in by.items()} == {"ppo-tag-s0-predators": "predators", "rand-pred": "predators",
                                                     "ppo-tag-s0-prey": "prey", "runaway": "prey"}
    assert by["ppo-tag-s0-predators"]["low"] > by["rand-pred"]["high"]
    assert by["ppo-tag-s0-prey"]["low"] > by["runaway"]["high"]
    assert by["ppo-tag-s0-prey"]["mu"] > by["runaway"]["mu"]
    # Each role is its own ladder centred at 1500: predators are never put on the prey's scale.
    for role in ("predators", "prey"):
        assert np.mean([r["elo"] for r in rr["ratings"] if r["role"] == role]) == pytest.approx(1500)
    assert rr["prior_dominated"] == []


def test_a_separated_roundrobin_says_its_ratings_are_prior_dominated(agents_dir, tmp_path, arena_cli):
    tft = ckpt(agents_dir, "scripted", "ipd", "tft", {"rule": "tit_for_tat"})
    alld = ckpt(agents_dir, "scripted", "ipd", "alld", {"rule": "always_defect"})
    db = str(tmp_path / "t.sqlite")
    code, out, err = arena_cli(*["tournament", "--mode", "roundrobin", tft, alld, "--env", "ipd", "--env-kw", "rounds=10",
                              "--episodes", "8", "--db", db, "--json", "--no-progress"])
    assert code == 0, err
    report = json.loads(out)
    rr = report["roundrobin"]
    assert not rr["rated_per_role"] and rr["prior_dominated"] == ["all"]  # AllD wins every episode
    assert all(r["prior_dominated"] and r["low"] is None and r["high"] is None for r in rr["ratings"])
    code, out, _ = arena_cli(*["tournament", "show", report["id"], "--db", db])
    assert code == 0 and "n/a: prior-dominated" in out and "ratings are prior-dominated" in out
    assert not re.search(r"\[(\d+), \1\]", out)  # no [2094, 2094]


def test_two_seeds_give_no_interval_over_seeds(agents_dir, tmp_path, arena_cli):
    pair = [ckpt(agents_dir, "random", "coord_game", f"duo-s{s}", seed=s) for s in range(2)]
    db = str(tmp_path / "t.sqlite")
    code, out, err = arena_cli(*["tournament", "--mode", "crossplay", *pair, "--env-kw", "rounds=4", "--episodes", "8",
                              "--db", db, "--json", "--no-progress"])
    assert code == 0, err
    report = json.loads(out)
    (group,) = report["crossplay"]["groups"]
    assert group["members"] == 2
    for key in ("sp", "xp", "gap"):
        assert group[key]["low"] is None and group[key]["high"] is None and group[key]["n"] == 2
    code, out, _ = arena_cli(*["tournament", "show", report["id"], "--db", db])
    table = out[out.index("seed groups"):].split("\n", 1)[1]  # below the title, which explains ±
    assert "n/a (2 seeds)" in table and "±" not in table


def test_one_agent_given_twice_is_refused(coord, tmp_path, arena_cli):
    left, right = coord["refs"]
    import shutil

    copy = shutil.copy(left, tmp_path / "copy.ckpt")
    for args, says in (([left, right, left], f"{left} is given twice"),
                       ([left, str(copy)], "are the same agent (same manifest and params)")):
        code, out, err = arena_cli(*["tournament", "--mode", "crossplay", *args, "--env-kw", "rounds=1", "--episodes", "4",
                                  "--db", str(tmp_path / "t.sqlite")])
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], err


def test_distinct_agents_sharing_a_name_are_told_apart(tmp_path, arena_cli):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    left = ckpt(tmp_path / "a", "scripted", "coord_game", "model", {"rule": "constant", "action": 0})
    right = ckpt(tmp_path / "b", "scripted", "coord_game", "model", {"rule": "constant", "action": 1})
    out_dir = tmp_path / "out"
    code, out, err = arena_cli(*["tournament", "--mode", "crossplay", left, right, "--env-kw", "rounds=1", "--episodes", "4",
                              "--db", str(tmp_path / "t.sqlite"), "--json", "--out", str(out_dir), "--no-progress"])
    assert code == 0, err
    report = json.loads(out)
    names = report["crossplay"]["agents_order"]
    assert len(set(names)) == 2 and all(re.fullmatch(r"model@[0-9a-f]{6}", n) for n in names)
    assert [a["name"] for a in report["agents"]] == names and {a["manifest_name"] for a in report["agents"]} == {"model"}
    assert {tuple(c["lineup"]) for c in report["cells"]} == {(a, b) for a in names for b in names}
    assert np.diag(means(report["crossplay"]["matrix"])).tolist() == [1.0, 1.0]
    rows = (out_dir / "cells.csv").read_text().splitlines()[1:]
    assert {tuple(r.split(",")[4:6]) for r in rows} == {(a, b) for a in names for b in names}
    code, out, _ = arena_cli(*["tournament", "show", report["id"], "--db", str(tmp_path / "t.sqlite")])
    assert all(n in out for n in names)


def test_export_writes_one_row_per_episode(coord, tmp_path, arena_cli):
    from arena.tournaments.store import Store

    path = tmp_path / "episodes.csv"
    code, out, err = arena_cli(*["tournament", "export", coord["info"].id[:6], "--episodes", str(path), "--db", coord["db"]])
    assert code == 0 and f"wrote 16 episode(s) of tournament {coord['info'].id}" in out, err
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert list(rows[0]) == ["tournament", "cell", "replicate", "match_seed", "agent_row", "agent_col", "episode",
                             "length", "return_row", "return_col", "agreement"]
    assert len(rows) == 4 * 4  # 4 cells x 4 episodes
    store = Store(coord["db"])
    cells = {c.index: c for c in store.cells(coord["info"].id)}
    store.close()
    for r in rows:
        c = cells[int(r["cell"])]
        e = int(r["episode"])
        assert int(r["match_seed"]) == c.match_seed and int(r["length"]) == int(c.length[e])
        assert [float(r["return_row"]), float(r["return_col"])] == c.returns[e].tolist()
        assert float(r["agreement"]) == float(c.metrics["agreement"][e])
    # Left with left agrees every round; left with right never.
    by_lineup = {(r["agent_row"], r["agent_col"]): float(r["agreement"]) for r in rows}
    assert by_lineup[("left", "left")] == 1.0 and by_lineup[("left", "right")] == 0.0
    code, _, err = arena_cli(*["tournament", "export", "ffffff", "--episodes", str(path), "--db", coord["db"]])
    assert code == 2 and err.strip().startswith("error: no tournament") and len(err.strip().splitlines()) == 1


def test_zeroshot_says_a_missing_reference_and_can_measure_self_play(agents_dir, tmp_path, arena_cli):
    focal = ckpt(agents_dir, "scripted", "coord_game", "ref-focal", {"rule": "constant", "action": 0})
    left = ckpt(agents_dir, "scripted", "coord_game", "ref-left", {"rule": "constant", "action": 0})
    right = ckpt(agents_dir, "scripted", "coord_game", "ref-right", {"rule": "constant", "action": 1})
    db = str(tmp_path / "z.sqlite")
    base = ["tournament", "--mode", "zeroshot", focal, "--pool", left, "--pool", right, "--env-kw", "rounds=2",
            "--episodes", "4", "--db", db, "--no-progress"]
    code, out, err = arena_cli(*base)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("no reference return")]
    assert lines == ["no reference return for 2 partner(s) (ref-left, ref-right): no provenance.best_return in its "
                     "manifest; --reference selfplay measures one; their normalised scores are '-'"]
    code, out, err = arena_cli(*base, "--reference", "selfplay", "--json")
    assert code == 0, err
    zs = json.loads(out)["zeroshot"]
    assert zs["reference"] == "selfplay" and zs["missing_reference"] == []
    assert {k: v["mean"] for k, v in zs["self_play"].items()} == {"ref-left": 2.0, "ref-right": 2.0}
    by = {p["partner"]: p for p in zs["focal"][0]["partners"]}
    assert (by["ref-left"]["best_return"], by["ref-left"]["normalised"]) == (2.0, 1.0)
    assert (by["ref-right"]["best_return"], by["ref-right"]["normalised"]) == (2.0, 0.0)
    code, out, err = arena_cli(*["tournament", "--mode", "crossplay", left, right, "--reference", "selfplay",
                              "--db", db])
    assert code == 2 and err.strip() == "error: --reference is for zeroshot tournaments, not crossplay"
