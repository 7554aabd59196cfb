"""Replay size per episode and the time to open a replay and seek to a step.

Two softmoe_gru agents (fresh weights) play overcooked_v2/cramped_room for 400 steps; the
first `--record` episodes are written as a replay (states, actions, rewards, probs, routing,
value). Prints bytes per episode beside what the same columns take as raw arrays, a breakdown
per column (each column zlib'd alone, so the parts add up to a little more than the whole),
the same with exact float32 extras, open + seek times, and what recording costs a match
(steps/s of a `--match-episodes` match with and without keeping `--record` episodes).
Targets: <= 20 kB per episode, open + seek to any step < 100 ms.

    python benchmarks/replay_size.py [--record 4] [--seeks 50] [--match-episodes 64]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
import zlib
from pathlib import Path

import jax
import msgpack
import numpy as np

from arena.agents import build_agent
from arena.checkpoint import new_agent
from arena.envs import make
from arena.replay import encode_episode, open_replay, write_replay
from arena.runner import compiled_match, run_match
from arena.trace import SideInfo, traces_from_result, trimmed

ENV_ID = "overcooked_v2/cramped_room"


def raw_bytes(trace) -> int:
    """The columns as plain arrays in the runner's dtypes (int32, float32, bool)."""
    arrays = [trace.actions, trace.rewards, trace.dones, *jax.tree.leaves(trace.states)]
    arrays += [v for ex in trace.extras for v in ex.values()]
    return sum(np.asarray(a).nbytes for a in arrays)


def breakdown(trace, lossy: bool) -> dict[str, int]:
    cols = encode_episode(trace, lossy_extras=lossy)
    size = lambda obj: len(zlib.compress(msgpack.packb(obj, use_bin_type=True), 9))  # noqa: E731
    out = {"actions": size(cols["actions"]), "rewards": size(cols["rewards"]), "dones": size(cols["dones"])}
    for side, ex in zip(trace.sides, cols["extras"]):
        for name, arr in ex.items():
            out[f"{side.name}.{name}"] = size(arr)
    out["states"] = size(cols["states"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=int, default=4)
    parser.add_argument("--seeks", type=int, default=50)
    parser.add_argument("--match-episodes", type=int, default=64, help="0 skips the recording-cost timing")
    args = parser.parse_args()

    env = make(ENV_ID)
    agents, params, sides = [], [], []
    for seat, side in enumerate(env.spec.sides):
        manifest, p = new_agent("softmoe_gru", ENV_ID, seed=seat)
        agents.append(build_agent("softmoe_gru", manifest.arch_config, manifest.obs_shape, manifest.obs_dtype, manifest.num_actions))
        params.append(p)
        sides.append(SideInfo(side.name, side.seats, manifest.name, "softmoe_gru", manifest.params.sha256, manifest.extras))
    result = run_match(env, agents, params, episodes=args.record, seed=0, record=args.record)
    traces = [trimmed(t) for t in traces_from_result(result, tuple(sides), {}, env.spec.seats)]
    T = traces[0].length
    print(f"{ENV_ID}, {T} steps, 2 x softmoe_gru (extras: {', '.join(traces[0].extras[0])}), {len(traces)} episodes")

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for lossy in (True, False):
            path = Path(tmp) / f"{lossy}.replay"
            write_replay(path, traces, lossy_extras=lossy)
            replay = open_replay(path)
            sizes[lossy] = (path.stat().st_size, [e.size for e in replay.index])
        total, per = sizes[True]
        print(f"file {total:,} B for {len(traces)} episodes; episode records {min(per):,}-{max(per):,} B "
              f"(float16 extras) | {min(sizes[False][1]):,}-{max(sizes[False][1]):,} B (exact float32 extras) "
              f"| raw arrays {raw_bytes(traces[0]):,} B")
        print("breakdown of episode 0 (each column zlib'd alone), bytes: float16 extras / exact extras")
        b16, b32 = breakdown(traces[0], True), breakdown(traces[0], False)
        for name in b16:
            print(f"  {name:<20} {b16[name]:>7,} / {b32[name]:>7,}")

        path = Path(tmp) / "True.replay"
        start = time.perf_counter()
        replay = open_replay(path)
        replay.episodes[0].state_at(0)
        cold = time.perf_counter() - start
        rng = random.Random(0)
        times = []
        for _ in range(args.seeks):
            k, t = rng.randrange(len(traces)), rng.randrange(T + 1)
            start = time.perf_counter()
            replay = open_replay(path)  # a fresh open each time: nothing decoded is reused
            state = replay.episodes[k].state_at(t)
            jax.block_until_ready(state)
            times.append(time.perf_counter() - start)
        times = np.array(times) * 1000
        print(f"open + seek to a random (episode, step): median {np.median(times):.1f} ms, max {times.max():.1f} ms "
              f"over {args.seeks} fresh opens; first open in a process {cold * 1000:.0f} ms "
              "(includes tracing the env's reset for its state structure, once)")
        start = time.perf_counter()
        for t in range(T + 1):
            replay.episodes[0].state_at(t)
        print(f"stepping through all {T + 1} states of a decoded episode: {(time.perf_counter() - start) / (T + 1) * 1e3:.3f} ms/step")

    if args.match_episodes:
        key, speeds = jax.random.PRNGKey(0), {}
        for record in (0, args.record):
            compiled = compiled_match(env, tuple(agents), tuple(params), args.match_episodes, record)[0].fn
            fn = lambda p, k, compiled=compiled: compiled(p, k, env.default_params)  # noqa: E731
            jax.block_until_ready(fn(tuple(params), key))
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                jax.block_until_ready(fn(tuple(params), key))
                best = min(best, time.perf_counter() - start)
            speeds[record] = args.match_episodes * T / best
        print(f"match of {args.match_episodes} episodes: {speeds[0]:,.0f} env steps/s without recording, "
              f"{speeds[args.record]:,.0f} keeping {args.record} episodes ({speeds[args.record] / speeds[0]:.2f}x)")


if __name__ == "__main__":
    main()
