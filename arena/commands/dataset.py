"""`arena dataset export|info`: offline datasets from replays, and what a dataset holds."""
from __future__ import annotations

import click

from arena.commands.options import json_option

CTX = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CTX)
def dataset():
    """Offline datasets: per-seat observations, actions, rewards and episode ends, with the
    agents that produced them (a folder of dataset.json and one .npz per seat).

    \b
    Examples:
      arena match a.ckpt b.ckpt --episodes 1000 --dataset data/
      arena dataset export run1.replay run2.replay -o data/
      arena dataset info data/
      arena train offline --method iql --data data/ -o iql.ckpt
    """


@dataset.command(context_settings=CTX)
@click.argument("replays", nargs=-1, required=True)
@click.option("-o", "--out", required=True, type=click.Path(), help="Dataset folder to write.")
@json_option
def export(replays, out, as_json):
    """Turn the whole episodes of REPLAYS (one env, one line-up) into a dataset folder.

    Replays hold actions, rewards and states but not observations: each episode is
    re-simulated from its seed and actions (as `arena replay verify` does) and the env's own
    observations are kept; an episode whose re-simulated rewards or end differ from the
    recorded ones is refused (exit code 1).

    \b
    Examples:
      arena dataset export out.replay -o data/
      arena dataset export a.replay b.replay -o data/ --json
    """
    from arena.dataset import export_replays

    meta = export_replays(list(replays), out)
    _show(out, meta, as_json)


@dataset.command(context_settings=CTX)
@click.argument("folder")
@json_option
def info(folder, as_json):
    """Check a dataset folder (every hash, dtype and shape) and summarise it.

    \b
    Examples:
      arena dataset info data/
    """
    from arena.dataset import load_dataset

    ds = load_dataset(folder)
    _show(folder, ds.meta, as_json, ds)


def _show(path, meta: dict, as_json: bool, ds=None) -> None:
    import numpy as np

    if ds is None:
        from arena.dataset import load_dataset

        ds = load_dataset(path)
    summary = {
        "path": str(path), "env_id": meta["env_id"], "env_kwargs": meta["env_kwargs"], "seats": meta["seats"],
        "episodes": meta["episodes"], "steps": meta["steps"],
        "sides": [{k: s.get(k) for k in ("side", "agent", "arch", "sha256")} for s in meta.get("sides", [])],
        "action_freq": {seat: np.bincount(ds.seats[seat].actions, minlength=n).tolist() if meta["steps"] else []
                        for seat, n in zip(meta["seats"], meta["num_actions"])},
        "mean_reward": {seat: float(ds.seats[seat].rewards.mean()) if meta["steps"] else None for seat in meta["seats"]},
    }
    if as_json:
        from arena.commands.report import print_json

        print_json(summary)
        return
    click.echo(f"{path}: {meta['env_id']} {meta['env_kwargs']}, {meta['episodes']} episodes, {meta['steps']} steps")
    for s in summary["sides"]:
        click.echo(f"  side {s['side']}: {s['agent']} ({s['arch']}, params {str(s['sha256'])[:12]})")
    labels = meta.get("action_labels") or [[] for _ in meta["seats"]]
    for seat, names in zip(meta["seats"], labels):
        counts = summary["action_freq"][seat]
        freq = ", ".join(f"{names[a] if a < len(names) else a} {c / max(meta['steps'], 1):.3f}"
                         for a, c in enumerate(counts))
        click.echo(f"  seat {seat}: actions {freq}; mean reward {summary['mean_reward'][seat]:.3f}")
