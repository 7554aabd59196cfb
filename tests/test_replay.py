"""Replays: the array codec, round trips, torn files, verify, a reader without arena, the CLI."""
import dataclasses
import hashlib
import json
import subprocess
import sys
import zlib

import jax
import msgpack
import numpy as np
import pytest
from click.testing import CliRunner

from arena.checkpoint import new_agent, save_checkpoint
from arena.cli import cli
from arena.match import play_match
from arena.replay import (
    MAGIC,
    ReplayWriter,
    decode_array,
    encode_array,
    frame,
    open_replay,
    write_replay,
)
from arena.replay.framing import U32
from arena.states import StateMismatch, state_tree
from arena.verify import first_divergence, recorded_batch, resimulate, verify_traces


def _ckpt(folder, arch, env_id, side=None, seed=0):
    manifest, params = new_agent(arch, env_id, seed=seed, side=side, name=f"{arch}-{side or 'any'}-{seed}")
    path = folder / f"{manifest.name}.ckpt"
    save_checkpoint(path, manifest, params)
    return str(path)


@pytest.fixture(scope="module")
def coord(tmp_path_factory):
    """A coord_game replay written by `arena match --record` (3 of 8 episodes)."""
    folder = tmp_path_factory.mktemp("coord")
    a = _ckpt(folder, "random", "coord_game")
    out = folder / "coord.replay"
    result = CliRunner().invoke(cli, ["match", a, a, "--episodes", "8", "--seed", "5", "--no-swap",
                                      "--record", str(out), "--record-episodes", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    return out, report


@pytest.fixture(scope="module")
def tag(tmp_path_factory):
    """An mpe_tag replay (float states, a side of three seats) with its raw match results."""
    folder = tmp_path_factory.mktemp("tag")
    pred = _ckpt(folder, "random", "mpe_tag", side="predators")
    prey = _ckpt(folder, "random", "mpe_tag", side="prey", seed=1)
    out = folder / "tag.replay"
    report, results = play_match([pred, prey], episodes=4, seed=2, record_path=str(out), record_episodes=2)
    return out, report, results


def _bits(x):
    x = np.ascontiguousarray(x)
    return x.view(np.uint8) if x.dtype == np.bool_ else x.view(f"u{x.dtype.itemsize}") if x.dtype.kind == "f" else x


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    np.testing.assert_array_equal(_bits(a), _bits(b))


# ---------------------------------------------------------------- array codec


def _arrays():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.integers(-2, 3, (50, 3, 4)), axis=0)
    yield "bool", rng.random((40, 3)) < 0.3
    yield "bool const", np.ones((9, 2), bool)
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
        info = np.iinfo(dt)
        yield f"{dt.__name__} extremes", np.array([[info.min, info.max], [info.max, info.min], [0, 1]], dt)
        yield f"{dt.__name__} slow walk", (walk - walk.min()).astype(dt) if info.min == 0 else walk.astype(dt)
    yield "int32 grid, one cell changes", np.tile(np.arange(60, dtype=np.int32).reshape(4, 5, 3), (30, 1, 1, 1))
    grid = np.tile(np.arange(60, dtype=np.int32).reshape(4, 5, 3), (30, 1, 1, 1))
    grid[17:, 2, 3, 1] = -70000
    yield "int32 grid, one big change", grid
    yield "float32 walk", np.cumsum(rng.normal(size=(60, 6, 2)), axis=0).astype(np.float32)
    yield "float32 nan inf -0", np.array([[np.nan, np.inf], [-np.inf, -0.0], [0.0, 1e-40]], np.float32)
    yield "float32 exact halves", rng.integers(-8, 8, (30, 2)).astype(np.float32) / 2
    yield "float64", rng.normal(size=(7, 3))
    yield "big-endian float32 walk", np.cumsum(rng.normal(size=(9, 2)), axis=0).astype(">f4")
    yield "big-endian int16", np.arange(-30, 30, dtype=">i2").reshape(6, 10)
    yield "float16", rng.normal(size=(12, 4)).astype(np.float16)
    yield "zero-size", np.zeros((20, 1, 0), np.float32)
    yield "zero rows", np.zeros((0, 2), np.int32)
    yield "one row", np.array([[3, -4]], np.int32)
    yield "scalar", np.array(5, np.int32)


@pytest.mark.parametrize("name,x", list(_arrays()), ids=[n for n, _ in _arrays()])
def test_array_codec_is_lossless_for_every_dtype(name, x):
    rec = encode_array(x)
    rec = msgpack.unpackb(msgpack.packb(rec, use_bin_type=True), raw=False)  # as a reader sees it
    _same(decode_array(rec), x.astype(x.dtype.newbyteorder("=")))  # values come back in native byte order


def test_array_codec_shrinks_what_barely_changes():
    grid = np.tile(np.arange(60, dtype=np.int32).reshape(4, 5, 3), (401, 1, 1, 1))
    grid[200:, 1, 1, 2] = 3
    rec = encode_array(grid)
    assert rec["enc"] == "delta" and rec["store"] in ("int8", "uint8")
    assert len(zlib.compress(rec["bytes"])) < 300 < grid.nbytes // 100
    const = encode_array(np.full((401, 2), 7, np.int32))
    assert const["enc"] == "const" and len(const["bytes"]) == 2


def test_lossy_extras_are_float16_within_its_precision():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(6), size=(400, 1)).astype(np.float32)
    rec = encode_array(probs, lossy=True)
    assert rec["store"] == "float16" and rec["dtype"] == "float32"
    back = decode_array(rec)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, probs, rtol=2**-11, atol=2**-24)
    huge = np.array([[1e6, 1.0]], np.float32)  # out of float16's range: kept exact
    _same(decode_array(encode_array(huge, lossy=True)), huge)


# ---------------------------------------------------------------- whole replays


def _with_odd_columns(trace):
    """Add a zero-size extra, int and bool extras, and a human seat's reaction times."""
    T, S = trace.actions.shape
    extras = list(trace.extras)
    n = trace.extras[0]["probs"].shape[1]
    extras[0] = {**extras[0], "nothing": np.zeros((T, n, 0), np.float32), "count": np.arange(T * n, dtype=np.int8).reshape(T, n),
                 "flag": (np.arange(T * n).reshape(T, n) % 3 == 0)}
    reaction = np.full((T, S), np.nan, np.float32)
    reaction[:, -1] = np.linspace(80, 1900.25, T, dtype=np.float32)
    return dataclasses.replace(trace, extras=tuple(extras), reaction_ms=reaction)


def _check_round_trip(original, back, lossy_names=("probs", "value", "routing")):
    assert back.env_id == original.env_id and back.seats == original.seats and back.episode == original.episode
    assert back.seed == original.seed
    for a, b in zip(jax.tree_util.tree_leaves_with_path(original.states), jax.tree_util.tree_leaves_with_path(back.states)):
        assert a[0] == b[0]
        _same(b[1], a[1])
    assert jax.tree.structure(original.states) == jax.tree.structure(back.states)
    assert list(back.states) == list(original.states)  # {leaf path: array} in the pytree's leaf order
    _same(back.actions, original.actions)
    _same(back.rewards, original.rewards)
    _same(back.dones, original.dones)
    if original.reaction_ms is None:
        assert back.reaction_ms is None
    else:
        _same(back.reaction_ms, original.reaction_ms)
    for ex_a, ex_b in zip(original.extras, back.extras):
        assert set(ex_a) == set(ex_b)
        for k in ex_a:
            if k in lossy_names:
                assert ex_b[k].dtype == ex_a[k].dtype and ex_b[k].shape == ex_a[k].shape
                np.testing.assert_allclose(ex_b[k], ex_a[k], rtol=2**-11, atol=1e-6)
            else:
                _same(ex_b[k], ex_a[k])


@pytest.mark.parametrize("which", ["coord", "tag"])
def test_round_trip_of_every_column(which, coord, tag, tmp_path):
    path = coord[0] if which == "coord" else tag[0]
    rep = open_replay(path)
    assert rep.torn is None and rep.checksum_ok
    traces = [rep.episodes[k] for k in range(len(rep.episodes))]
    odd = [_with_odd_columns(t) for t in traces]
    out = write_replay(tmp_path / "odd.replay", odd, compress=(which == "coord"))
    back = open_replay(out)
    assert [e.episode for e in back.index] == [t.episode for t in traces]
    for t, b in zip(odd, back.episodes):
        _check_round_trip(t, b)
    if which == "tag":  # a side of three seats: extras keep their seat axis
        assert traces[0].extras[0]["probs"].shape == (25, 3, 5)
        assert traces[0].states[".p_pos"].dtype == np.float32


def test_match_record_writes_the_swapped_order_beside(tmp_path):
    from arena.match import play_match
    from arena.trace import traces_from_result

    a, b = _ckpt(tmp_path, "random", "coord_game", seed=1), _ckpt(tmp_path, "random", "coord_game", seed=2)
    out = tmp_path / "xp.replay"
    report, results = play_match([a, b], env_kwargs={"rounds": 6}, episodes=4, seed=3, swap=True,
                                 record_path=str(out), record_episodes=2)
    swapped = tmp_path / "xp-swapped.replay"
    assert report["replay_swapped"]["path"] == str(swapped)
    first, second = open_replay(out), open_replay(swapped)
    assert [s.agent for s in second.sides] == [s.agent for s in first.sides][::-1] == ["random-any-2", "random-any-1"]
    live = traces_from_result(results[1], second.sides, second.env_kwargs, second.seats)
    for k in range(2):
        _check_round_trip(live[k], second.episodes[k], lossy_names=("probs",))
    assert verify_traces(second.episodes).ok


def test_match_record_keeps_what_the_runner_recorded(tag):
    from arena.trace import traces_from_result

    path, report, results = tag
    assert report["replay"]["episodes"] == 2
    rep = open_replay(path)
    live = traces_from_result(results[0], rep.sides, rep.env_kwargs, rep.seats)
    for k in range(2):
        _check_round_trip(live[k], rep.episodes[k], lossy_names=("probs",))
    np.testing.assert_allclose(rep.footer["summary"]["returns"], results[0].returns[:2], rtol=1e-6)
    assert [s.agent for s in rep.sides] == ["random-predators-0", "random-prey-1"]
    assert rep.sides[0].seats == (0, 1, 2) and rep.header["meta"]["episodes_played"] == 4


# ---------------------------------------------------------------- torn files


def test_torn_file_keeps_every_whole_episode(coord, tmp_path):
    path = coord[0]
    data = path.read_bytes()
    rep = open_replay(path)
    starts = [e.offset for e in rep.index]
    ends = [e.offset + e.size for e in rep.index]
    header_end = starts[0]
    cuts = [header_end + 3, starts[0] + 10, starts[1] + 4, ends[1] - 1, starts[2] + 2, rep.footer_offset + 5, rep.footer_offset]
    for cut in cuts:
        torn_path = tmp_path / f"cut{cut}.replay"
        torn_path.write_bytes(data[:cut])
        torn = open_replay(torn_path)
        whole = sum(1 for e in ends if e <= cut)
        assert len(torn.episodes) == whole, cut
        assert torn.torn is not None and torn.footer is None and not torn.torn.damaged
        expected = max([s for s in [header_end, *starts, rep.footer_offset] if s <= cut])
        assert torn.torn.offset == expected, (cut, torn.torn)
        for k in range(whole):  # whole episodes decode and equal the originals
            _same(torn.episodes[k].actions, rep.episodes[k].actions)
    # a corrupt byte inside episode 1 is caught by its crc: episode 0 is kept, and since whole
    # records follow, it is damage, not a torn tail (tests/test_replay_integrity.py has more)
    bad = bytearray(data)
    bad[starts[1] + 20] ^= 0xFF
    (tmp_path / "bad.replay").write_bytes(bytes(bad))
    torn = open_replay(tmp_path / "bad.replay")
    assert len(torn.episodes) == 1 and torn.torn.offset == starts[1] and "crc32" in torn.torn.reason
    assert torn.torn.damaged
    proc = CliRunner().invoke(cli, ["replay", "info", str(tmp_path / "bad.replay"), "--json"])
    assert proc.exit_code == 1 and json.loads(proc.output)["torn"]["offset"] == starts[1]
    proc = CliRunner().invoke(cli, ["replay", "verify", str(tmp_path / "bad.replay"), "--json"])
    assert proc.exit_code == 1 and json.loads(proc.output)["episodes_checked"] == 1
    proc = CliRunner().invoke(cli, ["replay", "verify", str(tmp_path / f"cut{cuts[1]}.replay")])
    assert proc.exit_code == 1 and "no whole episode" in proc.output


def test_writer_leaves_a_readable_partial_file_when_interrupted(coord, tmp_path):
    trace = open_replay(coord[0]).episodes[0]
    out = tmp_path / "crash.replay"
    with pytest.raises(RuntimeError), ReplayWriter.for_trace(out, trace, episodes=3) as w:
        w.write_episode(trace)
        raise RuntimeError("the match crashed")
    assert not out.exists()
    partial = open_replay(tmp_path / "crash.replay.partial")
    assert len(partial.episodes) == 1 and "without a footer" in partial.torn.reason


# ---------------------------------------------------------------- verify


def _rewrite(path, out, episode, edit):
    """Apply `edit` to an episode's decoded column map, re-encode, re-frame with a valid crc and
    fix the footer's sha256, so that neither the framing nor the checksum notices."""
    rep = open_replay(path)
    data = path.read_bytes()
    e = rep.index[episode]
    rec = msgpack.unpackb(data[e.offset + 4 : e.offset + e.size - 4], raw=False)
    cols = rep.columns(episode)
    edit(cols)
    packed = msgpack.packb(cols, use_bin_type=True)
    rec["columns"] = zlib.compress(packed) if rec["compression"] == "zlib" else packed
    body = data[: e.offset] + frame(rec) + data[e.offset + e.size : rep.footer_offset]
    footer = dict(rep.footer, sha256=hashlib.sha256(body).hexdigest())
    out.write_bytes(body + frame(footer))
    return out


def _tamper(path, out, episode, step, leaf):
    """Flip one bit of a recorded state leaf at `step`: only re-simulation can notice."""

    def flip(cols):
        for s in cols["states"]:
            if s["path"] == leaf:
                x = decode_array(s).copy()
                x[step].reshape(-1).view(np.uint8)[0] ^= 1
                s.update(encode_array(x))

    return _rewrite(path, out, episode, flip)


def test_state_leaves_must_match_the_env(coord, tmp_path, arena_cli):
    from arena.envs import make

    bad = _rewrite(coord[0], tmp_path / "renamed.replay", 0, lambda cols: cols["states"][0].update(path=".renamed"))
    rep = open_replay(bad)
    assert ".renamed" in rep.episodes[0].states  # decoding reads the file; the env is not consulted
    with pytest.raises(StateMismatch, match="env state leaves of coord_game do not match the replay"):
        state_tree(make("coord_game"), rep.episodes[0].states)
    run = arena_cli("replay", "verify", str(bad))
    code, lines = run.code, run.err_lines
    assert code == 2 and len(lines) == 1 and "recorded '.renamed'" in lines[0]


def test_verify_passes_honest_replays_and_finds_a_tampered_state(coord, tag, tmp_path, arena_cli):
    assert verify_traces(open_replay(tag[0]).episodes).ok  # float states re-simulate bit for bit
    ok = CliRunner().invoke(cli, ["replay", "verify", str(coord[0])])
    assert ok.exit_code == 0 and "every recorded state re-simulates exactly" in ok.output, ok.output
    bad = _tamper(coord[0], tmp_path / "bad.replay", episode=1, step=7, leaf=".last_actions")
    rep = open_replay(bad)
    assert rep.torn is None and rep.checksum_ok  # the framing and checksum are valid
    out = CliRunner().invoke(cli, ["replay", "verify", str(bad), "--json"])
    assert out.exit_code == 1, out.output
    report = json.loads(out.output)
    assert not report["ok"]
    assert {k: report["divergence"][k] for k in ("episode", "step", "leaf")} == {"episode": 1, "step": 7, "leaf": ".last_actions"}
    text = CliRunner().invoke(cli, ["replay", "verify", str(bad)])
    assert "episode 1, step 7, leaf .last_actions" in text.output
    assert arena_cli("replay", "verify", bad).code == 1  # the exit status main gives the shell


def test_verify_finds_a_float_state_off_by_one_ulp(tag):
    trace = open_replay(tag[0]).episodes[1]
    pos = trace.states[".p_pos"].copy()
    pos[11, 4, 1] = np.nextafter(pos[11, 4, 1], np.float32(np.inf))
    tampered = dataclasses.replace(trace, states={**trace.states, ".p_pos": pos})
    d = first_divergence(tampered, resimulate(tampered))
    assert (d.episode, d.step, d.leaf) == (1, 11, ".p_pos")


# ---------------------------------------------------------------- any msgpack reader

STANDALONE_READER = r'''
import json, struct, sys, zlib
import msgpack, numpy as np

def records(data):
    assert data[:8] == b"ARENARPL", "not an arena replay"
    pos = 8
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        if pos + 8 + n > len(data):
            break  # torn tail
        body = data[pos + 4 : pos + 4 + n]
        if zlib.crc32(body) != struct.unpack_from("<I", data, pos + 4 + n)[0]:
            break  # bad record: stop here (a torn tail only if nothing whole follows)
        yield msgpack.unpackb(body, strict_map_key=False)
        pos += 8 + n

def array(a):
    store = np.dtype(a["store"]).newbyteorder("<")
    shape = a["shape"][1:] if a["enc"] == "const" else a["shape"]
    count = int(np.prod(shape))
    raw = np.frombuffer(a["bytes"], np.uint8).reshape(store.itemsize, count).T  # un-shuffle
    x = np.ascontiguousarray(raw).view(store).reshape(shape)
    if a["enc"] == "const":
        x = np.broadcast_to(x, a["shape"])
    elif a["enc"] == "delta":
        x = np.cumsum(x, axis=0, dtype=np.int64)
    elif a["enc"] == "xor":
        return np.bitwise_xor.accumulate(x, axis=0).view(a["dtype"])
    return x.astype(a["dtype"])

out = {"episodes": []}
for rec in records(open(sys.argv[1], "rb").read()):
    if rec["type"] == "header":
        out["env_id"], out["sides"] = rec["env_id"], [s["agent"] for s in rec["sides"]]
    elif rec["type"] == "episode":
        cols = rec["columns"]
        cols = msgpack.unpackb(zlib.decompress(cols) if rec["compression"] == "zlib" else cols, strict_map_key=False)
        out["episodes"].append({
            "episode": rec["episode"], "length": rec["length"],
            "actions": array(cols["actions"]).tolist(), "rewards": array(cols["rewards"]).tolist(),
            "states": {s["path"]: array(s).tolist() for s in cols["states"]},
            "extras": [{k: array(v).tolist() for k, v in ex.items()} for ex in cols["extras"]],
        })
    elif rec["type"] == "footer":
        out["returns"] = rec["summary"]["returns"]
out["arena_imported"] = any(m == "arena" or m.startswith("arena.") for m in sys.modules)
print(json.dumps(out))
'''


def test_a_plain_msgpack_reader_decodes_a_replay_without_arena(tag, tmp_path):
    path = tag[0]
    script = tmp_path / "reader.py"
    script.write_text(STANDALONE_READER)
    proc = subprocess.run([sys.executable, "-I", str(script), str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert not got["arena_imported"] and got["env_id"] == "mpe_tag"
    rep = open_replay(path)
    assert len(got["episodes"]) == len(rep.episodes) == 2
    for mine, theirs in zip(rep.episodes, got["episodes"]):
        assert theirs["length"] == mine.length
        _same(np.array(theirs["actions"], np.int32), mine.actions)
        _same(np.array(theirs["rewards"], np.float32), mine.rewards)
        assert list(theirs["states"]) == list(mine.states)
        for path_, leaf in mine.states.items():
            _same(np.array(theirs["states"][path_], leaf.dtype), leaf)
        _same(np.array(theirs["extras"][0]["probs"], np.float32), mine.extras[0]["probs"])
    np.testing.assert_allclose(got["returns"], rep.footer["summary"]["returns"])


# ---------------------------------------------------------------- CLI


def test_bad_inputs_give_one_line_and_exit_2(coord, tmp_path, arena_cli):
    header = open_replay(coord[0]).header
    files = {
        "text.replay": (b"hello, not a replay\n", "is not an arena replay"),
        "ckpt.replay": (msgpack.packb({"format": "arena.ckpt"}), "is not an arena replay"),
        "magic-only.replay": (MAGIC[:5], "torn inside its first bytes"),
        "schema.replay": (MAGIC + frame({**header, "schema": 99}), "schema version 99"),
        "env.replay": (MAGIC + frame({**header, "env_id": "chess"}), "env 'chess'"),
        "format.replay": (MAGIC + frame({**header, "format": "other"}), "is not an arena replay"),
        "kwargs.replay": (MAGIC + frame({**header, "env_kwargs": {"bogus": 1}}), "bad options for env 'coord_game'"),
        "headless.replay": (MAGIC + U32.pack(1000) + b"\x80", "torn before its header"),
    }
    # An env this arena cannot build: `info` still describes the file (it builds no env);
    # `verify`, which must build it, refuses in one line.
    unbuildable = {"env.replay": "chess", "kwargs.replay": "bogus"}
    for name, (data, message) in files.items():
        (tmp_path / name).write_bytes(data)
        for command in ("info", "verify"):
            if command == "info" and name in unbuildable:
                proc = CliRunner().invoke(cli, ["replay", "info", str(tmp_path / name), "--json"])
                assert proc.exit_code == 0, (name, proc.output)
                info = json.loads(proc.output)
                assert unbuildable[name] in json.dumps([info["env_id"], info["env_kwargs"]])
                continue
            run = arena_cli("replay", command, str(tmp_path / name))
            code, lines = run.code, run.err_lines
            assert code == 2 and len(lines) == 1 and message in lines[0] and lines[0].startswith("error: "), (name, lines)
    run = arena_cli("replay", "info", str(tmp_path / "missing.replay"))
    code, lines = run.code, run.err_lines
    assert code == 2 and lines == [f"error: {tmp_path / 'missing.replay'}: no such file"]
    run = arena_cli("replay", "verify", str(tmp_path))
    code, lines = run.code, run.err_lines
    assert code == 2 and lines == [f"error: {tmp_path}: is a folder, not a replay file"]
    run = arena_cli("match", "x.ckpt", "--record", str(tmp_path))
    code, lines = run.code, run.err_lines
    assert code == 2 and len(lines) == 1 and "is a folder; give a file name" in lines[0]


def test_match_record_end_to_end(coord):
    path, report = coord
    assert report["replay"] == {"path": str(path), "episodes": 3, "bytes": path.stat().st_size}
    out = CliRunner().invoke(cli, ["replay", "info", str(path), "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["env_id"] == "coord_game" and info["seed"] == 5 and info["complete"] and info["checksum_ok"]
    assert [e["episode"] for e in info["episodes"]] == [0, 1, 2]
    assert all(e["length"] == 32 for e in info["episodes"])
    assert info["meta"]["episodes_played"] == 8
    assert {s["name"] for s in info["sides"]} == {"row", "col"} and info["sides"][0]["extras"]["probs"]["shape"] == [2]
    text = CliRunner().invoke(cli, ["replay", "info", str(path)])
    assert text.exit_code == 0 and "coord_game" in text.output and "sha256 checksum ok" in text.output
    assert "agreement" in text.output


# ---------------------------------------------------------------- header fields, old files


def _rewrite_header(path, out, edit):
    """The same replay with `edit` applied to its header map, footer sha256 fixed."""
    from arena.replay.framing import read_records

    rep = open_replay(path)
    data = path.read_bytes()
    records, _ = read_records(data)
    header = dict(records[0][1])
    edit(header)
    body = MAGIC + frame(header) + data[records[1][0] : rep.footer_offset]
    out.write_bytes(body + frame(dict(rep.footer, sha256=hashlib.sha256(body).hexdigest())))
    return out


def test_header_records_each_sides_action_labels(coord, tag):
    assert [s.action_labels for s in open_replay(coord[0]).sides] == [("left", "right")] * 2
    tag_sides = open_replay(tag[0]).sides
    assert [s.action_labels for s in tag_sides] == [("noop", "left", "right", "down", "up")] * 2
    info = json.loads(CliRunner().invoke(cli, ["replay", "info", str(coord[0]), "--json"]).output)
    assert info["sides"][0]["action_labels"] == ["left", "right"]


def test_replays_without_action_labels_still_open_and_verify(coord, tmp_path):
    def forget(header):
        header["sides"] = [{k: v for k, v in s.items() if k != "action_labels"} for s in header["sides"]]

    old = _rewrite_header(coord[0], tmp_path / "old.replay", forget)
    rep = open_replay(old)
    assert rep.torn is None and rep.checksum_ok and rep.header["schema"] == 1
    assert all(s.action_labels == () for s in rep.sides)
    _same(rep.episodes[1].actions, open_replay(coord[0]).episodes[1].actions)
    ok = CliRunner().invoke(cli, ["replay", "verify", str(old)])
    assert ok.exit_code == 0, ok.output


def test_replay_info_imports_neither_jax_nor_jaxmarl(coord):
    code = ("import json, sys\nfrom arena.cli import main\nmain(['replay', 'info', sys.argv[1], '--json'])\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'jaxmarl', 'flax'))))")
    proc = subprocess.run([sys.executable, "-c", code, str(coord[0])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    *info, heavy = proc.stdout.strip().splitlines()
    assert json.loads("\n".join(info))["env_id"] == "coord_game"
    assert json.loads(heavy) == []


def test_a_64_episode_tag_match_verifies(tmp_path):
    """XLA rounds an mpe_tag step vmapped over 64 episodes otherwise than one episode alone (in
    the last bit of .p_vel, episodes 2 and 3 here): verify re-simulates at the match's width."""
    pred = _ckpt(tmp_path, "random", "mpe_tag", side="predators")
    prey = _ckpt(tmp_path, "random", "mpe_tag", side="prey", seed=1)
    out = tmp_path / "tag64.replay"
    play_match([pred, prey], episodes=64, seed=2, record_path=str(out), record_episodes=4)
    run = CliRunner().invoke(cli, ["replay", "verify", str(out)])
    assert run.exit_code == 0 and "every recorded state re-simulates exactly" in run.output, run.output
    meta = open_replay(out).header["meta"]
    assert meta["batch"] == 64
    # A match replay written before `batch` was recorded ran all the episodes it played at once.
    assert recorded_batch({"meta": {k: v for k, v in meta.items() if k != "batch"}}) == 64
    assert recorded_batch({"meta": {}}) == 1  # a replay of one game (a human's), or written by hand
