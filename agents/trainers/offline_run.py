"""`arena train offline`: load a dataset, run one offline learner, write one checkpoint per seat.

    from arena.agents.trainers.offline_run import train_offline
    train_offline("data/unfavourable", "moma", "moma.ckpt", seed=0)   # moma-row.ckpt, moma-col.ckpt

The checkpoints are ordinary arena agents (`mlp_actor_critic`), each tied to its seat
(`plays = [seat]`) and carrying the dataset it learned from in its provenance.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import jax
import numpy as np

from arena.agents import ArchError, build_agent
from arena.agents.trainers.contract import settings_config
from arena.agents.trainers.offline import (
    METHODS,
    OfflineConfig,
    arrays,
    compiled_fit,
    describe,
    one_step,
    seat_params,
)
from arena.checkpoint import manifest_for, params_to_bytes, save_checkpoint
from arena.dataset import MANIFEST, Dataset, load_dataset
from arena.errors import FieldError, UserError
from arena.trees import plain
from arena.versions import library_versions

ARCH = "mlp_actor_critic"
# No hidden layer: logits linear in the seat's own observation (enough for one-shot games).
ARCH_CONFIG = {"hidden": []}


@dataclasses.dataclass
class OfflineResult:
    outputs: list[Path]
    metrics: dict


def offline_config(settings: dict | None, method: str) -> OfflineConfig:
    """The config `settings` describe (unknown or bad ones are a UserError)."""
    return settings_config(OfflineConfig, settings, "offline", method)


def seat_agent(dataset: Dataset, arch_config: dict | None = None):
    """The agent each seat's policy is (every seat of a dataset shares one shape)."""
    meta = dataset.meta
    if len(set(meta["num_actions"])) != 1:
        raise UserError(f"{dataset.path}: seats with different action counts; offline learners need one")
    try:
        return build_agent(ARCH, {**ARCH_CONFIG, **(arch_config or {})}, meta["obs_shape"], meta["obs_dtype"],
                           meta["num_actions"][0])
    except ArchError as err:
        raise UserError(f"offline: {err}") from None


def check_method(method: str, dataset: Dataset) -> None:
    if method not in METHODS:
        raise FieldError(f"unknown `method` {method!r}; methods: {', '.join(METHODS)}")
    if method != "bc" and not one_step(dataset):
        longest = int(dataset.episodes["length"].max())
        raise UserError(f"{dataset.path}: {method} learns one-shot games (episodes of one step); this dataset's "
                        f"episodes last up to {longest} steps (bc takes any dataset)")


def seat_paths(out: str | Path, seats) -> list[Path]:
    """X.ckpt -> [X-<seat>.ckpt for each seat]."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".ckpt" else out
    return [stem.parent / f"{stem.name}-{seat}.ckpt" for seat in seats]


def write_seats(dataset: Dataset, method: str, config: OfflineConfig, agent, params, out, seed: int,
                metrics: dict) -> list[Path]:
    """One checkpoint per seat (`params`: one tree per seat), with the dataset and the method in
    its provenance."""
    paths = seat_paths(out, dataset.seat_names)
    data_sha = hashlib.sha256((dataset.path / MANIFEST).read_bytes()).hexdigest()
    for seat, path, p in zip(dataset.seat_names, paths, params):
        p = jax.tree.map(np.asarray, p)
        manifest = manifest_for(
            agent, name=path.with_suffix("").name, env=dataset.env_id, params_bytes=params_to_bytes(p),
            env_kwargs=dict(dataset.env_kwargs), plays=(seat,),
            description=f"offline {method} on {dataset.path.name}: {describe(method)}",
            provenance={
                "algorithm": f"offline-{method}", "seed": seed, "steps": 0,
                "trained_with": describe(method),
                "dataset": {"path": dataset.path.name, "sha256": data_sha, "episodes": dataset.meta["episodes"],
                            "sides": [{k: s.get(k) for k in ("side", "agent", "arch", "sha256")}
                                      for s in dataset.meta.get("sides", [])]},
                "hyperparameters": plain(dataclasses.asdict(config)),
                "final": {k: np.asarray(v).tolist() for k, v in metrics.items()},
                **library_versions(),
            },
        )
        save_checkpoint(path, manifest, p)
    return paths


def train_offline(data: str | Path, method: str, out: str | Path, *, seed: int = 0, settings: dict | None = None,
                  arch_config: dict | None = None) -> OfflineResult:
    """Train `method` on the dataset folder `data`; write out-<seat>.ckpt for every seat."""
    dataset = load_dataset(data)
    check_method(method, dataset)
    config = offline_config(settings, method)
    agent = seat_agent(dataset, arch_config)
    params, metrics = compiled_fit(method, config, agent)(arrays(dataset), jax.random.PRNGKey(seed))
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    params = seat_params(params, len(dataset.seat_names))
    return OfflineResult(write_seats(dataset, method, config, agent, params, out, seed, metrics), metrics)
