"""The files of a training run, written and read on the host.

A run `-o X.ckpt` writes:

    X.ckpt (or X-<team>.ckpt per team)  the agent(s), arena checkpoints with provenance
    X.ckpt.state                        the whole training state (params, optimizer state,
                                        env states, RNG key, update counter) for --resume
    X.metrics.jsonl                     one JSON object per update
    X.curves.png                        training curves

`--resume` accepts either X.ckpt or X.ckpt.state; `out_for` and `state_path_for` map both
spellings to the same run. Files are written atomically, and `deferred_sigint` holds Ctrl-C
while a checkpoint's files are being written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from arena.errors import UserError
from arena.fileio import atomic_write

STATE_FORMAT = "arena.train-state"
STATE_VERSION = 1
STATE_SUFFIX = ".state"


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a run whose -o is `out` keeps its by-products."""

    out: Path
    state: Path
    metrics: Path
    curves: Path

    @classmethod
    def of(cls, out: str | Path) -> RunFiles:
        out = Path(out)
        stem = out.with_suffix("") if out.suffix == ".ckpt" else out
        return cls(out, state_path_for(out), Path(f"{stem}.metrics.jsonl"), Path(f"{stem}.curves.png"))

    def existing(self) -> list[Path]:
        """The files of a run already here (a new run would replace them)."""
        return [p for p in (self.out, self.state, self.metrics, self.curves) if p.exists()]


def state_path_for(ref: str | Path) -> Path:
    """The state file of the run named by `ref`: its -o path (X.ckpt) or the state itself."""
    ref = Path(ref)
    return ref if ref.name.endswith(STATE_SUFFIX) else Path(f"{ref}{STATE_SUFFIX}")


def out_for(ref: str | Path) -> Path:
    """The -o path (X.ckpt) of the run named by `ref`, either X.ckpt or X.ckpt.state."""
    ref = Path(ref)
    return ref.with_name(ref.name[: -len(STATE_SUFFIX)]) if ref.name.endswith(STATE_SUFFIX) else ref


# ---------------------------------------------------------------- training state


def save_state(path: Path, meta: dict, state: Any) -> None:
    """The whole training state as msgpack {format, version, meta, state}.

    `state` is stored as its list of leaves (flax msgpack of numpy arrays) and restored into
    the tree structure of a freshly initialised state: env states hold types flax cannot
    serialise by name (chex dataclasses in overcooked v2), and leaves need no names.
    """
    import jax
    from flax import serialization

    leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    data = serialization.msgpack_serialize(leaves)
    atomic_write(path, msgpack.packb(
        {"format": STATE_FORMAT, "version": STATE_VERSION, "meta": meta, "state": data}, use_bin_type=True
    ))


def read_state(path: Path) -> tuple[dict, bytes]:
    """(meta, serialised leaves) of a state file, checked; a UserError naming the file if not."""
    if not path.is_file():
        raise UserError(f"{path}: no training state to resume from (expected the .state file written beside the checkpoint)")
    try:
        obj = msgpack.unpackb(path.read_bytes(), raw=False)
    except Exception:
        raise UserError(f"{path}: training state is corrupt (not msgpack)") from None
    if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT or not isinstance(obj.get("state"), bytes) \
            or not isinstance(obj.get("meta"), dict):
        raise UserError(f"{path}: not an arena training state")
    if obj.get("version", 0) > STATE_VERSION:
        raise UserError(f"{path}: training state version {obj.get('version')} is newer than this arena reads")
    return obj["meta"], obj["state"]


def restore_state(template: Any, data: bytes, path: Path) -> Any:
    """Leaves saved by `save_state`, checked against `template` (a fresh state of this run)."""
    import jax
    import jax.numpy as jnp
    from flax import serialization

    want, treedef = jax.tree.flatten(template)
    try:
        saved = serialization.msgpack_restore(data)
        leaves = [np.asarray(saved[str(i)]) for i in range(len(saved))]
    except Exception as err:
        raise UserError(f"{path}: training state is corrupt ({str(err)[:80]})") from None
    if len(leaves) != len(want) or any(a.shape != tuple(b.shape) for a, b in zip(leaves, want)):
        raise UserError(f"{path}: training state does not fit this run (other env, architecture or settings)")
    return jax.tree.unflatten(treedef, [jnp.asarray(x, b.dtype) for x, b in zip(leaves, want)])


def saved_update(path: Path) -> int:
    """The update counter recorded in a state file; 0 when there is none."""
    try:
        return int(read_state(path)[0].get("update", 0))
    except UserError:
        return 0


# ---------------------------------------------------------------- metrics and curves


def write_metrics(path: Path, rows: Sequence[dict]) -> None:
    """Append rows as JSON lines; one write per chunk keeps lines whole."""
    if rows:
        with open(path, "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))


def read_metrics(path: Path, upto: int | None = None) -> list[dict]:
    """Metric rows (update <= upto when given); a torn last line is skipped."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if upto is None or row.get("update", 0) <= upto:
                rows.append(row)
    return rows


def truncate_metrics(path: Path, upto: int) -> list[dict]:
    """Keep the rows up to update `upto` (those after a checkpoint belong to work a resumed
    run redoes); returns them."""
    rows = read_metrics(path, upto=upto)
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


def plot_curves(path: Path, rows: Sequence[dict], keys: Sequence[str], title: str) -> None:
    """Training curves against env steps, one panel per metric, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if rows and k in rows[0]]
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True, squeeze=False)
    steps = [r["env_steps"] for r in rows]
    for ax, k in zip(axes[:, 0], keys):
        ax.plot(steps, [r[k] for r in rows], lw=1)
        ax.set_ylabel(k, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("env steps")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


@contextlib.contextmanager
def deferred_sigint():
    """Hold Ctrl-C while checkpoint files are written, then deliver it."""
    received = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *a: received.append(a))
    except ValueError:  # not the main thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt
