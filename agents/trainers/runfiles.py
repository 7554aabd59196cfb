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

MEMBER_TAG = "/member-"


def member_metric(name: str, member: int | None) -> str:
    """The metric `name` of one population member (`return/member-03`); `name` itself for a
    single run."""
    return name if member is None else f"{name}{MEMBER_TAG}{member:02d}"


def metrics_of(row: dict, member: int | None) -> dict:
    """One run's (or one member's) metrics of a metrics row, by their plain names."""
    if member is None:
        return {k: v for k, v in row.items() if k not in ("update", "env_steps") and MEMBER_TAG not in k}
    tag = member_metric("", member)
    return {k[: -len(tag)]: v for k, v in row.items() if k.endswith(tag)}




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


# Metric families whose members (`name/0`, `name/1`...) are shares of one whole: drawn as one
# stacked panel, so a share that swallows the others (routing collapse) is seen at a glance.
SHARES = ("expert_usage",)


def curve_panels(keys: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(panel title, its metric keys) in the order of `keys`; the members of a SHARES family
    share one panel, and so do a population's members of one metric (`return/member-03`),
    placed where its first member was."""
    panels: list[tuple[str, list[str]]] = []
    families: dict[str, list[str]] = {}
    for k in keys:
        family, _, index = k.rpartition("/")
        if (family in SHARES and index.isdigit()) or index.startswith(MEMBER_TAG[1:]):
            if family not in families:
                families[family] = []
                panels.append((family, families[family]))
            families[family].append(k)
        else:
            panels.append((k, [k]))
    return panels


def curves_figure(rows: Sequence[dict], keys: Sequence[str], title: str):
    """The training curves as a matplotlib Figure (None when no key has data): one panel per
    metric against env steps, the title above them all. A run of few updates draws its points
    as dots (a one-point line is invisible)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if rows and k in rows[0]]
    if not keys:
        return None
    panels = curve_panels(keys)
    # constrained layout leaves room for the suptitle (tight_layout let it cover the first panel).
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 0.6 + 2.0 * len(panels)), sharex=True, squeeze=False,
                             layout="constrained")
    steps = np.array([r["env_steps"] for r in rows], float)
    marker = "o" if len(rows) <= 20 else None
    for ax, (name, members) in zip(axes[:, 0], panels):
        if len(members) == 1:
            ax.plot(steps, [r[name] for r in rows], lw=1, marker=marker, ms=4)
        elif name not in SHARES:  # population members: one line each
            for k in members:
                ax.plot(steps, [r[k] for r in rows], lw=1, marker=marker, ms=3, label=k.rpartition("/")[2])
            if len(members) <= 10:
                ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        else:
            shares = np.array([[r[k] for r in rows] for k in members], float)
            labels = [f"expert {k.rpartition('/')[2]}" for k in members]
            if len(rows) == 1:  # an area of one point has no width: a stacked bar instead
                bottoms = np.concatenate([[0.0], np.cumsum(shares[:, 0])[:-1]])
                for share, bottom, label in zip(shares[:, 0], bottoms, labels):
                    ax.bar(steps[0], share, bottom=bottom, width=max(1.0, 0.05 * steps[0]), label=label)
            else:
                ax.stackplot(steps, shares, labels=labels)
            ax.set_ylim(0, max(1.0, float(shares.sum(axis=0).max())))
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("env steps")
    fig.suptitle(title, fontsize=9)
    return fig


def plot_curves(path: Path, rows: Sequence[dict], keys: Sequence[str], title: str) -> None:
    """Training curves (`curves_figure`) written atomically as PNG; nothing without data."""
    import matplotlib.pyplot as plt

    fig = curves_figure(rows, keys, title)
    if fig is None:
        return
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
