"""Training throughput: env steps/s of each trainer on overcooked_v2/cramped_room.

Each trainer runs one compiled chunk of `--updates` updates to compile, then the same chunk
again, timed: env steps/s = updates x steps per update / seconds (rollout and learning
together, as in a real run). Compile time is printed separately.

    python benchmarks/train_throughput.py [--updates 3] [--only ppo-mlp iop-zoo]
"""
from __future__ import annotations

import argparse
import time

import jax

from arena.agents.trainers import RunSpec, build_trainer
from arena.agents.trainers.driver import compiled_chunk, compiled_init

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


def measure(trainer, updates: int) -> tuple[float, float]:
    """(compile + first chunk seconds, env steps/s of the second chunk)."""
    state = compiled_init(trainer)(jax.random.PRNGKey(0))
    chunk = compiled_chunk(trainer, updates)
    start = time.perf_counter()
    state, _ = jax.block_until_ready(chunk(state))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(chunk(state))
    seconds = time.perf_counter() - start
    return first, updates * trainer.steps_per_update / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3, help="updates per timed chunk")
    parser.add_argument("--only", nargs="*", default=None, help="trainer names (ppo-mlp, ppo-cnn, iop, iop-zoo)")
    args = parser.parse_args()
    print(f"{ENV_ID}, {jax.device_count()} {jax.default_backend()} device(s), {args.updates} updates per chunk")
    print(f"{'trainer':10} {'envs x steps':>13} {'compile+1st (s)':>16} {'env steps/s':>12}")
    for name, trainer in trainers().items():
        if args.only and name not in args.only:
            continue
        c = trainer.config
        first, sps = measure(trainer, args.updates)
        print(f"{name:10} {f'{c.num_envs} x {c.num_steps}':>13} {first:16.1f} {sps:12,.0f}", flush=True)


if __name__ == "__main__":
    main()
