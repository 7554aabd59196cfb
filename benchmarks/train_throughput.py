"""Training throughput: env steps/s of each trainer on overcooked_v2/cramped_room, and of a
population of N PPO runs trained as one vmapped call beside one run alone.

Each trainer runs one compiled chunk of `--updates` updates to compile, then the same chunk
again, timed: env steps/s = updates x steps per update / seconds (rollout and learning
together, as in a real run). Compile time is printed separately. The population row plays
the shaping study's set-up on `--population-env` (overcooked/forced_coord, LHS shapings):
one run, then `--population` members at once, their env steps/s summed over members; N
runs one after another make the one run's steps/s, so the ratio is the population's gain
(goal: >= 3 at N = 8 on 2 cores).

    python benchmarks/train_throughput.py [--updates 3] [--only ppo-mlp iop-zoo population]
"""
from __future__ import annotations

import argparse
import json
import time

import jax

from arena.agents.trainers import RunSpec, build_trainer
from arena.agents.trainers.driver import compiled_chunk, compiled_init
from arena.agents.trainers.population import build_population, shaped_population

ENV_ID = "overcooked_v2/cramped_room"


def trainers():
    """name -> trainer: each trainer's default settings, and the zoo's IOP recipe (the seed's
    architecture at a quarter of its widths), which is what a 2-core CPU can train."""
    from arena.agents.zoo.build import RECIPES

    zoo = next(r for r in RECIPES if r.trainer == "iop")
    return {
        "ppo-mlp": build_trainer("ppo", RunSpec(ENV_ID, arch="mlp_actor_critic")),
        "ppo-cnn": build_trainer("ppo", RunSpec(ENV_ID, arch="cnn_actor_critic")),
        "iop": build_trainer("iop", RunSpec(ENV_ID)),
        "iop-zoo": build_trainer("iop", RunSpec(ENV_ID, arch_config=dict(zoo.arch_config), config=dict(zoo.config))),
    }


def measure(trainer, updates: int, start: tuple = ()) -> tuple[float, float]:
    """(compile + first chunk seconds, env steps/s of the second chunk, per run: a
    population's is per member). `start`: trainer.init's arguments (default a key)."""
    state = compiled_init(trainer)(*(start or (jax.random.PRNGKey(0),)))
    chunk = compiled_chunk(trainer, updates)
    start = time.perf_counter()
    state, _ = jax.block_until_ready(chunk(state))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(chunk(state))
    seconds = time.perf_counter() - start
    return first, updates * trainer.steps_per_update / seconds


def population_row(env_id: str, n: int, updates: int, settings: dict) -> None:
    """One PPO run, then n of them with LHS shapings as one vmapped call, and their ratio."""
    base = RunSpec(env_id, config=settings)
    spec = shaped_population(base, "lhs", n)
    pop, members = build_population(spec)
    # The one run alone is member 0: its seed and its shaping.
    first, one = measure(pop.inner, updates, (members.keys[0], jax.tree.map(lambda x: x[0], members.env_params)))
    c = pop.inner.config
    print(f"population on {env_id} (LHS shapings):")
    print(f"{'ppo x1':10} {f'{c.num_envs} x {c.num_steps}':>13} {first:16.1f} {one:12,.0f}", flush=True)
    first, each = measure(pop, updates, (members,))
    print(f"{f'ppo x{n}':10} {f'{c.num_envs} x {c.num_steps}':>13} {first:16.1f} {n * each:12,.0f}  "
          f"({n} vmapped; {n * each / one:.2f}x one run, goal 3x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3, help="updates per timed chunk")
    parser.add_argument("--only", nargs="*", default=None,
                        help="trainer names (ppo-mlp, ppo-cnn, iop, iop-zoo, population)")
    parser.add_argument("--population", type=int, default=8, help="members of the population row")
    parser.add_argument("--population-env", default="overcooked/forced_coord", help="env of the population row")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="PPO settings of the population row (tiny runs: num_envs=4 num_steps=16)")
    args = parser.parse_args()
    print(f"{ENV_ID}, {jax.device_count()} {jax.default_backend()} device(s), {args.updates} updates per chunk")
    print(f"{'trainer':10} {'envs x steps':>13} {'compile+1st (s)':>16} {'env steps/s':>12}")
    for name, trainer in trainers().items():
        if args.only and name not in args.only:
            continue
        c = trainer.config
        first, sps = measure(trainer, args.updates)
        print(f"{name:10} {f'{c.num_envs} x {c.num_steps}':>13} {first:16.1f} {sps:12,.0f}", flush=True)
    if args.only is None or "population" in args.only:
        settings = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
        population_row(args.population_env, args.population, args.updates, settings)


if __name__ == "__main__":
    main()
