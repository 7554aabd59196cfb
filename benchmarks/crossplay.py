"""Cross-play tournament throughput: N softmoe_gru agents on overcooked_v2/cramped_room, every
ordered pair (both seat orders, the diagonal is self-play), E episodes a cell.

Prints for a cold run (empty results store, this process has compiled nothing; JAX's
persistent compilation cache off unless --persistent-cache) and a warm rerun (new store, same
process, so the compiled call is reused): wall time of the whole tournament (load, schedule,
compile, play, store, report), the number of compilations and compiled calls, pure compute
(time inside the compiled calls) and the ratio wall / compute. Target: one compilation for the
whole matrix and wall <= 1.5x compute.

    python benchmarks/crossplay.py [--agents 8] [--episodes 64] [--max-steps 400] [--no-warm]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ENV_ID = "overcooked_v2/cramped_room"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=None, help="env max_steps (default: the env's 400)")
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--no-warm", action="store_true", help="skip the warm rerun (halves the time)")
    parser.add_argument("--persistent-cache", action="store_true", help="use JAX's persistent compilation cache")
    args = parser.parse_args()

    from arena.checkpoint import new_agent, save_checkpoint
    from arena.tournaments.spec import make_spec
    from arena.tournaments.tournament import run_tournament

    if args.persistent_cache:
        from arena.paths import enable_compilation_cache

        enable_compilation_cache()
    tmp = Path(tempfile.mkdtemp(prefix="arena-xp-bench-"))
    env_kwargs = {"max_steps": args.max_steps} if args.max_steps else {}
    refs = []
    for seed in range(args.agents):
        manifest, params = new_agent("softmoe_gru", ENV_ID, seed=seed, name=f"moe-s{seed}", env_kwargs=env_kwargs)
        save_checkpoint(tmp / f"moe-s{seed}.ckpt", manifest, params)
        refs.append(str(tmp / f"moe-s{seed}.ckpt"))
    spec = make_spec("crossplay", refs, env=ENV_ID, env_kwargs=env_kwargs, episodes=args.episodes)
    print(f"{args.agents} softmoe_gru agents, {args.agents ** 2} cells (ordered pairs) x {args.episodes} episodes on "
          f"{ENV_ID}{f' max_steps={args.max_steps}' if args.max_steps else ''}; load before: {os.getloadavg()[0]:.2f}")
    runs = [("cold", tmp / "cold.sqlite")] + ([] if args.no_warm else [("warm", tmp / "warm.sqlite")])
    for label, db in runs:
        start = time.perf_counter()
        report, info = run_tournament(spec, db=str(db), chunk=args.chunk)
        wall = time.perf_counter() - start
        print(
            f"{label}: wall {wall:.1f}s, compilations {info.compiles} ({info.compile_seconds:.1f}s), compiled calls "
            f"{info.calls}, compute {info.compute_seconds:.1f}s, wall/compute {wall / info.compute_seconds:.2f}, "
            f"{len(report['cells'])} cells stored, {args.agents ** 2 * args.episodes / info.compute_seconds:,.0f} episodes/s; "
            f"load {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
