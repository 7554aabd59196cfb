"""Replays that must not pass when damaged: a changed byte anywhere but a crash's cut-short tail
fails `verify` with its offset, hostile array maps are one line for every command that reads
a replay, and a replay says which jax and jaxmarl recorded it.

Every damaged file here is a real replay written by `arena match --record`, then edited with
the project's own framing and codec."""
import hashlib
import importlib.metadata
import json

import msgpack
import numpy as np
import pytest
from click.testing import CliRunner

from arena.checkpoint import new_agent, save_checkpoint
from arena.cli import cli
from arena.replay import MAGIC, decode_array, encode_array, frame, open_replay
from arena.replay import framing as framing_module
from arena.replay.codec import MAX_VALUES, pack_columns
from arena.replay.framing import read_records


@pytest.fixture(scope="module")
def coord(tmp_path_factory):
    """A complete coord_game replay of 3 episodes, as `arena match --record` writes it."""
    folder = tmp_path_factory.mktemp("integrity")
    manifest, params = new_agent("random", "coord_game", seed=0, name="r")
    ckpt = folder / "r.ckpt"
    save_checkpoint(ckpt, manifest, params)
    out = folder / "coord.replay"
    result = CliRunner().invoke(cli, ["match", str(ckpt), str(ckpt), "--episodes", "4", "--seed", "5", "--no-swap",
                                      "--record", str(out), "--record-episodes", "3", "--json"])
    assert result.exit_code == 0, result.output
    return out


def _with_footer(body: bytes, footer: dict) -> bytes:
    """`body` closed by `footer` with its sha256 made right for `body`."""
    return body + frame(dict(footer, sha256=hashlib.sha256(body).hexdigest()))


# ---------------------------------------------------------------- damage vs a torn tail


def test_a_byte_flipped_in_the_middle_fails_verify_with_its_offset(coord, tmp_path, arena_cli):
    data = coord.read_bytes()
    rep = open_replay(coord)
    middle = rep.index[1].offset  # the second of three episodes
    # the body, the length field and the crc field of the middle record; and the footer, whole
    # but changed, which no crash can leave either
    for name, at, offset in [("body", middle + 40, middle), ("length", middle + 1, middle),
                             ("crc", middle + rep.index[1].size - 2, middle),
                             ("footer", rep.footer_offset + 30, rep.footer_offset)]:
        bad = bytearray(data)
        bad[at] ^= 0x01
        path = tmp_path / f"{name}.replay"
        path.write_bytes(bytes(bad))
        code, out, err = arena_cli("replay", "verify", str(path)).lines()
        assert code == 1, (name, out, err)
        assert any(f"FAILED: damaged at byte {offset} of {len(data)}" in line for line in out), (name, out)
        assert not any(line.startswith("ok:") for line in out)
        proc = CliRunner().invoke(cli, ["replay", "verify", str(path), "--json"])
        report = json.loads(proc.output)
        assert proc.exit_code == 1 and not report["ok"], name
        assert report["torn"]["damaged"] and report["torn"]["offset"] == offset, name
        info = CliRunner().invoke(cli, ["replay", "info", str(path), "--json"])
        assert info.exit_code == 1 and json.loads(info.output)["torn"]["offset"] == offset, name
    # the untouched file still passes
    code, out, _ = arena_cli("replay", "verify", str(coord)).lines()
    assert code == 0 and out[-1].startswith("ok: 3 episodes")


def test_a_tail_cut_short_passes_with_a_warning_naming_what_was_lost(coord, tmp_path, arena_cli):
    data = coord.read_bytes()
    rep = open_replay(coord)
    last = rep.index[2].offset
    path = tmp_path / "crashed.replay"
    path.write_bytes(data[: last + 25])  # a crash while the third episode was being written
    code, out, err = arena_cli("replay", "verify", str(path)).lines()
    assert code == 0, (out, err)
    assert out == ["ok: 2 episodes, 64 steps: every recorded state re-simulates exactly"]
    assert len(err) == 1 and err[0].startswith(f"warning: torn at byte {last} of {last + 25}: the file ends inside a record")
    assert "lost 1 of the 3 episodes the header declares and the footer" in err[0]
    info = json.loads(CliRunner().invoke(cli, ["replay", "info", str(path), "--json"]).output)
    assert info["torn"]["damaged"] is False and "1 of the 3 episodes" in info["torn"]["lost"]
    # cut inside the footer: every episode is there, only the footer is lost
    path.write_bytes(data[: rep.footer_offset + 3])
    code, out, err = arena_cli("replay", "verify", str(path)).lines()
    assert code == 0 and err[0].endswith("lost the footer (no checksum to check); checking 3 whole episodes"), err


def test_a_later_whole_record_is_found_past_a_length_that_runs_off_the_end(coord, tmp_path, arena_cli, monkeypatch):
    """A damaged length that claims more bytes than the file has looks like a tail cut short;
    the whole records after it show it is not. Small scan chunks check the chunked scan."""
    data = bytearray(coord.read_bytes())
    rep = open_replay(coord)
    middle = rep.index[1].offset
    data[middle + 3] = 0x7F  # the length's high byte: about 2 GB
    path = tmp_path / "long.replay"
    path.write_bytes(bytes(data))
    monkeypatch.setattr(framing_module, "_SCAN_CHUNK", 7)
    records, torn = read_records(bytes(data))
    assert len(records) == 2 and torn.damaged and torn.offset == middle
    assert f"a whole record follows at byte {rep.index[2].offset}" in torn.reason
    code, out, _ = arena_cli("replay", "verify", str(path)).lines()
    assert code == 1 and any(f"damaged at byte {middle}" in line for line in out)


def test_the_scan_past_bad_bytes_checksums_few_candidates(monkeypatch):
    """Each crc32 covers a candidate's whole body: over a long damaged stretch (here 4 MB of
    random bytes, as compressed columns look) the scan must compute few of them, whether or not
    a whole record follows."""
    calls = []
    real = framing_module.zlib.crc32
    monkeypatch.setattr(framing_module.zlib, "crc32", lambda b: calls.append(len(b)) or real(b))
    junk = np.random.default_rng(0).integers(0, 256, 4 << 20, dtype=np.uint8).tobytes()
    head = MAGIC + frame({"type": "header"})
    records, torn = read_records(head + junk)
    assert len(records) == 1 and not torn.damaged and torn.offset == len(head)
    assert len(calls) < 20 and sum(calls) < 8 << 20, (len(calls), sum(calls))
    calls.clear()
    records, torn = read_records(head + junk + frame({"type": "footer"}))
    assert torn.damaged and f"a whole record follows at byte {len(head) + len(junk)}" in torn.reason
    assert len(calls) < 20


def test_a_footer_promising_more_episodes_than_survive_fails(coord, tmp_path, arena_cli):
    data = coord.read_bytes()
    rep = open_replay(coord)
    # episode 1's whole frame removed and the footer's sha256 made right for what is left, so
    # that only the footer's episode count can tell
    body = data[: rep.index[1].offset] + data[rep.index[2].offset : rep.footer_offset]
    path = tmp_path / "dropped.replay"
    path.write_bytes(_with_footer(body, rep.footer))
    dropped = open_replay(path)
    assert dropped.checksum_ok and len(dropped.index) == 2
    code, out, _ = arena_cli("replay", "verify", str(path)).lines()
    footer_at = len(body)
    assert code == 1
    assert any(f"damaged at byte {footer_at} of {path.stat().st_size}: the footer promises 3 episodes, the file holds 2" in line
               for line in out), out
    # records after the footer are damage too
    path.write_bytes(data + frame({"type": "episode"}))
    code, out, _ = arena_cli("replay", "verify", str(path)).lines()
    assert code == 1 and any(f"damaged at byte {len(data)}" in line and "after the footer" in line for line in out)


# ---------------------------------------------------------------- hostile array maps


def _hostile(src, out, edit):
    """`src` with `edit` applied to the raw array maps of its first episode, re-packed with the
    codec and re-framed with a right crc32 and footer sha256: only the arrays are wrong."""
    rep = open_replay(src)
    data = src.read_bytes()
    e = rep.index[0]
    rec = msgpack.unpackb(data[e.offset + 4 : e.offset + e.size - 4], raw=False)
    cols = rep.columns(0)
    edit(cols)
    rec["compression"], rec["columns"] = pack_columns(cols, rec["compression"] == "zlib")
    body = data[: e.offset] + frame(rec) + data[e.offset + e.size : rep.footer_offset]
    out.write_bytes(_with_footer(body, rep.footer))
    return out


HOSTILE = {
    "object dtype": (lambda c: c["actions"].update(dtype="object"), "array dtype 'object' is not one a replay holds"),
    "datetime dtype": (lambda c: c["rewards"].update(dtype="datetime64[s]"), "array dtype 'datetime64[s]'"),
    "unknown store": (lambda c: c["actions"].update(store="complex128"), "array store 'complex128'"),
    "unknown encoding": (lambda c: c["dones"].update(enc="zstd"), "unknown array encoding 'zstd'"),
    "huge shape": (lambda c: c["actions"].update(shape=[2**40, 2], enc="const"), "holds more values than a replay array may"),
    "negative shape": (lambda c: c["actions"].update(shape=[-32, -2]), "is not a list of at most 8 non-negative ints"),
    "short bytes": (lambda c: c["states"][0].update(bytes=c["states"][0]["bytes"][:-1]), "needs"),
    "shape off the episode": (lambda c: c["actions"].update(encode_array(np.zeros((5, 2), np.int32))),
                              "column actions has shape [5, 2], an episode of 32 steps needs [32, 2]"),
    "extras off the header": (lambda c: c["extras"][0].update(probs=encode_array(np.zeros((32, 1, 7), np.float32))),
                              "the header declares [2] per seat"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_array_maps_are_one_line_for_every_command(coord, tmp_path, arena_cli, case):
    edit, message = HOSTILE[case]
    path = _hostile(coord, tmp_path / "hostile.replay", edit)
    rep = open_replay(path)
    assert rep.torn is None and rep.checksum_ok  # the framing and checksum are valid
    for argv in (["replay", "info", str(path)], ["replay", "verify", str(path)],
                 ["replay", "export", str(path), "--gif", str(tmp_path / "out.gif")],
                 ["view", str(path), "--frames", "2"]):
        code, out, err = arena_cli(*argv).lines()
        assert code == 1 and out == [] and len(err) == 1, (argv[:2], out, err)
        assert err[0].startswith(f"error: {path}: episode record 0 at byte {rep.index[0].offset} is malformed"), err
        assert message in err[0], err
    assert not (tmp_path / "out.gif").exists()


def test_decode_array_refuses_what_the_encoder_never_writes():
    good = encode_array(np.arange(12, dtype=np.int32).reshape(6, 2))
    assert decode_array(good).tolist() == np.arange(12).reshape(6, 2).tolist()
    floats = np.random.default_rng(0).random((1, 64)).astype(np.float32).repeat(100, axis=0)
    floats[50:, :3] += 1.0  # rows that barely change: stored as the xor of their bits
    xor = encode_array(floats)
    assert xor["enc"] == "xor" and np.array_equal(decode_array(xor), floats)
    bad = {
        "no map": ([1, 2], "not a map"),
        "bool shape": ({**good, "shape": [True, 2]}, "non-negative ints"),
        "too many axes": ({**good, "shape": [1] * 9, "bytes": b"\x00"}, "at most 8"),
        "too many values": ({**good, "shape": [MAX_VALUES + 1]}, "more values"),
        "long bytes": ({**good, "bytes": good["bytes"] + b"\x00"}, "needs"),
        "bytes not bin": ({**good, "bytes": "text"}, "no bytes"),
        "delta of floats": ({**good, "dtype": "float32", "enc": "delta"}, "delta array must hold integers"),
        "xor of other width": ({**xor, "store": "uint16"}, "xor array must be floats stored as their bits"),
        "const scalar": ({**good, "shape": [], "enc": "const"}, "no leading axis"),
    }
    for rec, message in bad.values():
        with pytest.raises(ValueError, match=message):
            decode_array(rec)


# ---------------------------------------------------------------- library versions


def _with_header(src, out, edit):
    data = src.read_bytes()
    records, _ = read_records(data)
    rep = open_replay(src)
    header = dict(records[0][1])
    edit(header)
    out.write_bytes(_with_footer(MAGIC + frame(header) + data[records[1][0] : rep.footer_offset], rep.footer))
    return out


def test_replays_record_jax_and_jaxmarl_and_verify_warns_when_they_differ(coord, tmp_path, arena_cli):
    jax_now, jaxmarl_now = importlib.metadata.version("jax"), importlib.metadata.version("jaxmarl")
    header = open_replay(coord).header
    assert header["jax_version"] == jax_now and header["jaxmarl_version"] == jaxmarl_now
    code, out, err = arena_cli("replay", "verify", str(coord)).lines()
    assert code == 0 and err == []

    other = _with_header(coord, tmp_path / "other.replay", lambda h: h.update(jax_version="0.3.0"))
    code, out, err = arena_cli("replay", "verify", str(other)).lines()
    assert code == 0 and out[-1].startswith("ok: 3 episodes"), (out, err)
    assert err == [f"warning: recorded with jax 0.3.0 (installed {jax_now}): re-simulation is bit-exact only under "
                   "the versions that recorded it"]
    report = json.loads(CliRunner().invoke(cli, ["replay", "verify", str(other), "--json"]).output)
    assert report["ok"] and report["version_mismatch"] == [f"jax 0.3.0 (installed {jax_now})"]

    # replays written before the fields existed open, verify, and warn about nothing
    old = _with_header(coord, tmp_path / "old.replay", lambda h: [h.pop(k) for k in ("jax_version", "jaxmarl_version")])
    code, out, err = arena_cli("replay", "verify", str(old)).lines()
    assert code == 0 and err == [] and out[-1].startswith("ok: 3 episodes")


def test_new_checkpoints_record_jax_and_jaxmarl(tmp_path):
    from arena.checkpoint import load_agent

    manifest, params = new_agent("random", "coord_game", seed=1)
    save_checkpoint(tmp_path / "a.ckpt", manifest, params)
    provenance = load_agent(tmp_path / "a.ckpt").manifest.provenance
    assert provenance["jax_version"] == importlib.metadata.version("jax")
    assert provenance["jaxmarl_version"] == importlib.metadata.version("jaxmarl")
