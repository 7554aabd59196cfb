"""Checkpoints load exactly, and every way of being broken gives one clear line, exit code 2."""
import pickle

import msgpack
import numpy as np
import pytest
import tomli_w

from arena.checkpoint import load_agent, params_to_bytes, read_checkpoint, save_checkpoint, sha256_hex
from arena.errors import CheckpointError

ENV = "overcooked_v2/cramped_room"


def _unpacked(path):
    return msgpack.unpackb(path.read_bytes(), raw=False)


def _repack(path, obj):
    path.write_bytes(msgpack.packb(obj, use_bin_type=True))


def test_round_trip_preserves_params_and_manifest(make_ckpt):
    path = make_ckpt("mlp_actor_critic", ENV, seed=3)
    loaded = load_agent(path)
    assert loaded.manifest.arch == "mlp_actor_critic"
    assert loaded.manifest.obs_shape == (4, 5, 30)
    fresh = loaded.agent.init_params(__import__("jax").random.PRNGKey(3))
    import jax

    for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(loaded.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert loaded.manifest.params.sha256 == sha256_hex(_unpacked(path)["params"])


def test_folder_checkpoint_with_jaxmarl_safetensors_loads_and_packs(make_ckpt, tmp_path, arena_cli):
    """A folder holding JaxMARL-style safetensors (keys joined with ',') and a manifest loads."""
    from flax.traverse_util import flatten_dict
    from safetensors.numpy import save_file

    src = load_agent(make_ckpt("mlp_actor_critic", ENV, seed=1))
    folder = tmp_path / "ippo"
    folder.mkdir()
    # What jaxmarl.wrappers.baselines.save_params writes (importing it needs gymnax's extras).
    flat = {k: np.asarray(v) for k, v in flatten_dict(src.params, sep=",").items()}
    save_file(flat, str(folder / "model.safetensors"))
    data = (folder / "model.safetensors").read_bytes()
    m = src.manifest.to_dict()
    m["params"] = {"file": "model.safetensors", "format": "safetensors", "sha256": sha256_hex(data)}
    (folder / "manifest.toml").write_text(tomli_w.dumps(m))
    loaded = load_agent(folder)
    import jax

    for a, b in zip(jax.tree.leaves(src.params), jax.tree.leaves(loaded.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    out = tmp_path / "packed.ckpt"
    assert arena_cli("pack", folder, "-o", out).code == 0
    assert load_agent(out).manifest.name == src.manifest.name


def test_one_jaxmarl_safetensors_file_loads_the_same_through_every_path(make_ckpt, tmp_path, arena_cli):
    """One reader of `flatten_dict(sep=",")` safetensors: the python loader, a folder checkpoint
    (file saved with or without the top "params" key), and the .ckpt `arena pack` makes of it
    all give the params that were saved, leaf for leaf."""
    import jax
    from flax.traverse_util import flatten_dict
    from safetensors.numpy import save_file

    from arena.checkpoint import load_jaxmarl_safetensors

    src = load_agent(make_ckpt("mlp_actor_critic", ENV, seed=4))
    want = jax.tree_util.tree_leaves_with_path(src.params)

    def same(params):
        got = jax.tree_util.tree_leaves_with_path(params)
        assert [k for k, _ in got] == [k for k, _ in want]
        for (_, a), (_, b) in zip(got, want):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    for top, tree in (("full", src.params), ("inner", src.params["params"])):
        folder = tmp_path / top
        folder.mkdir()
        save_file({k: np.asarray(v) for k, v in flatten_dict(tree, sep=",").items()}, str(folder / "p.safetensors"))
        m = src.manifest.to_dict()
        m["params"] = {"file": "p.safetensors", "format": "safetensors",
                       "sha256": sha256_hex((folder / "p.safetensors").read_bytes())}
        (folder / "manifest.toml").write_text(tomli_w.dumps(m))
        same(load_jaxmarl_safetensors(folder / "p.safetensors"))
        same(load_agent(folder).params)
        packed = tmp_path / f"{top}.ckpt"
        assert arena_cli("pack", folder, "-o", packed).code == 0
        same(load_agent(packed).params)
    with pytest.raises(CheckpointError, match="no such file"):
        load_jaxmarl_safetensors(tmp_path / "absent.safetensors")


def _break(kind, path, tmp_path):
    """Return a path that is broken in the given way, starting from a good checkpoint."""
    obj = _unpacked(path)
    bad = tmp_path / f"{kind}.ckpt"
    if kind == "missing":
        return tmp_path / "nope.ckpt"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "not_msgpack":
        bad.write_text("hello, I am a text file\n")
    elif kind == "pickle":
        bad.write_bytes(pickle.dumps({"params": [1, 2, 3]}))
    elif kind == "missing_field":
        del obj["manifest"]["arch"]
        _repack(bad, obj)
    elif kind == "wrong_type":
        obj["manifest"]["num_actions"] = "six"
        _repack(bad, obj)
    elif kind == "unknown_arch":
        obj["manifest"]["arch"] = "transformer9000"
        _repack(bad, obj)
    elif kind == "shape_mismatch":
        obj["manifest"]["observation"]["shape"] = [4, 5, 31]
        _repack(bad, obj)
    elif kind == "sha_mismatch":
        obj["params"] = obj["params"][:-1] + bytes([obj["params"][-1] ^ 1])
        _repack(bad, obj)
    elif kind == "params_tree":
        params = params_to_bytes({"params": {"Dense_0": {"kernel": np.zeros((3, 3), np.float32)}}})
        obj["params"] = params
        obj["manifest"]["params"]["sha256"] = sha256_hex(params)
        _repack(bad, obj)
    return bad


BROKEN = {
    "missing": "no such file",
    "empty": "empty",
    "truncated": "truncated",
    "not_msgpack": "not msgpack",
    "pickle": "pickle",
    "missing_field": "missing required field 'arch'",
    "wrong_type": "'num_actions' must be an integer",
    "unknown_arch": "unknown architecture 'transformer9000'",
    "shape_mismatch": "shape",
    "sha_mismatch": "sha256 mismatch",
    "params_tree": "params tree does not match",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_checkpoint_gives_clear_error(kind, make_ckpt, tmp_path):
    bad = _break(kind, make_ckpt("mlp_actor_critic", ENV), tmp_path)
    with pytest.raises(CheckpointError) as exc:
        load_agent(bad)
    assert BROKEN[kind] in str(exc.value)
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize("kind", ["truncated", "pickle", "sha_mismatch", "unknown_arch"])
def test_cli_reports_broken_checkpoint_in_one_line_exit_2(kind, make_ckpt, tmp_path, arena_cli):
    good = make_ckpt("mlp_actor_critic", ENV)
    bad = _break(kind, good, tmp_path)
    run = arena_cli("match", good, bad, "--episodes", "2")
    assert run.code == 2
    lines = run.err_lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and BROKEN[kind] in lines[0]
    assert "Traceback" not in run.err


def test_pickle_is_never_unpickled(tmp_path):
    """A pickle whose loading would run code is refused before any decoding."""

    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match="pickle"):
        read_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()


def test_save_is_atomic_and_leaves_no_temp_files(make_ckpt, tmp_path):
    path = make_ckpt("random", ENV)
    loaded = load_agent(path)
    save_checkpoint(path, loaded.manifest, loaded.params)
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
