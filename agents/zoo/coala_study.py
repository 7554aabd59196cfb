"""The learning-aware study of issue 14, one command, seeds as a vmap axis:

    python -m arena.agents.zoo.coala_study                  # 5 seeds, the README's settings
    python -m arena.agents.zoo.coala_study --seeds 2 --updates 4 --json

Trains `--seeds` COALA-PG agents (Algorithm 1's batch returns) and as many batch-unaware
baselines (plain lambda returns on the same long context) against naive learners, each
method one compiled call `vmap(seed -> scan(update))`, then plays meta-episodes
(`arena.meta`, the settings of training) for every seed: trained agent vs naive learner,
trained vs trained (the same seed in both seats), vs tit-for-tat and vs always-defect, and a
naive learner vs a naive learner for reference. Every number is a mean over seeds with a 95%
bootstrap CI over seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from arena.agents import build_agent
from arena.agents.trainers import RunSpec, build_trainer
from arena.meta import MetaShape, meta_rollout_fn
from arena.stats import bootstrap_ci


def train_seeds(trainer, seeds: int, updates: int, seed0: int = 0):
    """(params stacked over seeds, metrics (seeds, updates)) in one compiled call."""

    def one(key):
        state = trainer.init(key)
        state, metrics = jax.lax.scan(lambda s, _: trainer.update(s), state, None, length=updates)
        return state.params, metrics

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seed0, seed0 + seeds))
    return jax.jit(jax.vmap(one))(keys)


def play_seeds(env, agents: tuple, params: tuple, shape: MetaShape, seeds: int, stacked: tuple) -> dict:
    """Meta-episodes per seed; params[i] is stacked over seeds where stacked[i].
    -> per seed: rewards per step (row, col), each seat's cooperation per inner episode (M, 2)."""
    rollout = meta_rollout_fn(env, agents, shape, record=True)
    T, M = env.spec.max_steps, shape.inner

    def one(seed_params, key):
        p = tuple(sp if s else q for sp, s, q in zip(seed_params, stacked, params))
        _, out = rollout(p, key, env.default_params)
        coop = (out["record"].actions == 0).astype(jnp.float32)  # (U, M*T, B, 2)
        coop = coop.reshape(shape.units, M, T, shape.lanes, 2).mean(axis=(0, 2, 3))  # (M, 2)
        return {"reward": out["rewards"].mean(axis=(0, 1, 2)), "coop": coop}

    keys = jax.vmap(lambda i: jax.random.PRNGKey(1000 + i))(jnp.arange(seeds))
    seed_params = tuple(p if s else jnp.zeros((seeds,)) for p, s in zip(params, stacked))
    out = jax.jit(jax.vmap(one))(seed_params, keys)
    return jax.tree.map(np.asarray, out)


def _ci(x: np.ndarray) -> dict:
    return bootstrap_ci(np.asarray(x, np.float64), seed=0).to_dict()


def study(seeds: int = 5, updates: int = 60, rounds: int = 8, units: int = 8, lanes: int = 8, inner: int = 12) -> dict:
    settings = {"units": units, "lanes": lanes, "inner": inner}
    base = RunSpec("ipd", env_kwargs={"rounds": rounds}, config=settings)
    methods = {"coala": {"batch_aware": True}, "unaware": {"batch_aware": False}}
    trained, curves, seconds = {}, {}, {}
    for name, extra in methods.items():
        trainer = build_trainer("coala", RunSpec(base.env, env_kwargs=base.env_kwargs, config={**settings, **extra}))
        start = time.perf_counter()
        params, metrics = jax.block_until_ready(train_seeds(trainer, seeds, updates))
        seconds[name] = time.perf_counter() - start
        trained[name] = params
        curves[name] = {k: np.asarray(v) for k, v in metrics.items()}
    env, policy = trainer.env, trainer.agents[0]
    shape = trainer.shape

    def scripted(rule):
        return build_agent("scripted", {"rule": rule}, (5,), "float32", 2)

    naive = trainer.learner
    pairings = {}
    for name in methods:
        p = trained[name]
        pairings[f"{name} vs naive"] = ((policy, naive), (p, {}), (True, False))
        pairings[f"{name} vs {name}"] = ((policy, policy), (p, p), (True, True))
        pairings[f"{name} vs tit_for_tat"] = ((policy, scripted("tit_for_tat")), (p, {}), (True, False))
        pairings[f"{name} vs always_defect"] = ((policy, scripted("always_defect")), (p, {}), (True, False))
    pairings["naive vs naive"] = ((naive, naive), ({}, {}), (False, False))
    rows = {}
    for label, (agents, params, stacked) in pairings.items():
        out = play_seeds(env, agents, params, shape, seeds, stacked)
        rows[label] = {
            "reward_row": _ci(out["reward"][:, 0]),  # per round: a point of the IPD feasible set
            "reward_col": _ci(out["reward"][:, 1]),
            "coop_row": _ci(out["coop"][:, :, 0].mean(axis=1)),
            "coop_col_first": _ci(out["coop"][:, 0, 1]),
            "coop_col_last": _ci(out["coop"][:, -1, 1]),
            "coop_col_curve": [round(float(c), 2) for c in out["coop"][:, :, 1].mean(axis=0)],
        }
    return {
        "settings": {"seeds": seeds, "updates": updates, "rounds": rounds, **settings,
                     "env_steps_per_seed": updates * trainer.steps_per_update},
        "train_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "final_training_return": {k: _ci(c["return"][:, -1]) for k, c in curves.items()},
        "pairings": rows,
    }


def _fmt(e: dict) -> str:
    if e["low"] is None:  # too few seeds for an interval
        return f"{e['mean']:.2f}"
    return f"{e['mean']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"


def markdown(result: dict) -> str:
    lines = ["| row vs col | row reward / round | col reward / round | row cooperation | col cooperation, "
             "first inner episode | col cooperation, last |", "|---|---|---|---|---|---|"]
    for label, r in result["pairings"].items():
        lines.append(f"| {label} | {_fmt(r['reward_row'])} | {_fmt(r['reward_col'])} | {_fmt(r['coop_row'])} | "
                     f"{_fmt(r['coop_col_first'])} | {_fmt(r['coop_col_last'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arena.agents.zoo.coala_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--inner", type=int, default=12)
    parser.add_argument("--json", action="store_true", help="Print the whole result as JSON.")
    args = parser.parse_args(argv)
    if min(args.seeds, args.updates, args.rounds, args.inner) < 1:
        print("error: --seeds, --updates, --rounds and --inner must be positive", file=sys.stderr)
        return 2
    result = study(seeds=args.seeds, updates=args.updates, rounds=args.rounds, inner=args.inner)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(json.dumps({k: result[k] for k in ("settings", "train_seconds")}))
        print(markdown(result))
        for label, r in result["pairings"].items():
            if label.endswith("vs naive"):
                print(f"{label}: naive cooperation per inner episode {r['coop_col_curve']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
