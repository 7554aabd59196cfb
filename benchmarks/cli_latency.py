"""Start-up latency of the CLI: each command in a fresh process, the median of several runs,
side by side with the floors `python -c pass` and `python -c "import jax"`, each against its
target; then `arena match zoo:ppo-cramped-s0 zoo:ppo-cramped-s1 --episodes 256` end to end
(warm caches) on the start-up path arena takes and on the old one (the whole `jaxmarl`
package imported first, ARENA_JAXMARL_FULL_IMPORT=1), in the same run.

Caches (the env catalogue, JAX's compilation cache) live in a temporary folder, warmed by one
untimed run of each command first, so the figures are warm-cache ones and the user's own
folders are never touched. Every run has a timeout; the whole script takes about
(repeats + 1) x the sum of the medians.

    python benchmarks/cli_latency.py [--repeats 5] [--match-repeats 3] [--no-match] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT = 300.0  # seconds for any one run
MATCH = ["match", "zoo:ppo-cramped-s0", "zoo:ppo-cramped-s1", "--episodes", "256"]


def arena_exe() -> str:
    """The `arena` console script beside this interpreter (falls back to `python -m arena.cli`)."""
    script = Path(sys.executable).with_name("arena")
    return str(script) if script.exists() else ""


def arena(*args: str) -> list[str]:
    exe = arena_exe()
    return [exe, *args] if exe else [sys.executable, "-m", "arena.cli", *args]


def run_once(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return elapsed


def median_seconds(argv: list[str], env: dict, repeats: int) -> tuple[float, list[float]]:
    runs = [run_once(argv, env) for _ in range(repeats)]
    return statistics.median(runs), runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (median reported)")
    parser.add_argument("--match-repeats", type=int, default=3, help="timed runs of the end-to-end match, per path")
    parser.add_argument("--no-match", action="store_true", help="skip the end-to-end match")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="arena-cli-latency-"))
    env = {**os.environ, "ARENA_CACHE_DIR": str(work / "cache"), "ARENA_DATA_DIR": str(work / "data")}
    env.pop("ARENA_JAXMARL_FULL_IMPORT", None)
    try:
        # A replay and an agent to point the commands at (untimed).
        agent, replay = work / "r.ckpt", work / "c.replay"
        run_once(arena("new-agent", "--arch", "random", "--env", "coord_game", "-o", str(agent)), env)
        run_once(arena("match", str(agent), str(agent), "--episodes", "8", "--record", str(replay),
                       "--record-episodes", "2"), env)
        commands = [  # (label, argv, target seconds or None for a floor)
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ('python -c "import jax"', [sys.executable, "-c", "import jax"], None),
            ("arena replay info", arena("replay", "info", str(replay)), 0.6),
            ("arena tournament list", arena("tournament", "list"), 0.6),
            ("arena envs", arena("envs"), 1.5),
            ("arena envs overcooked", arena("envs", "overcooked"), 1.5),
            ("arena new-agent --arch scripted", arena("new-agent", "--arch", "scripted", "--config", 'rule="tit_for_tat"',
                                                      "--env", "ipd", "-o", str(work / "tft.ckpt")), 2.5),
        ]
        rows = []
        for label, argv, target in commands:
            run_once(argv, env)  # warm: the env catalogue, the OS file cache
            median, runs = median_seconds(argv, env, args.repeats)
            rows.append({"command": label, "median_s": median, "runs_s": runs, "target_s": target,
                         "ok": None if target is None else median <= target})
        match_rows = []
        if not args.no_match:
            for label, extra in (("arena match (imports one JaxMARL family)", {}),
                                 ("arena match (old path: all of jaxmarl first)", {"ARENA_JAXMARL_FULL_IMPORT": "1"})):
                path_env = {**env, **extra}
                run_once(arena(*MATCH), path_env)  # warm: JAX's persistent compilation cache
                median, runs = median_seconds(arena(*MATCH), path_env, args.match_repeats)
                match_rows.append({"command": label, "median_s": median, "runs_s": runs})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps({"commands": rows, "match": match_rows}, indent=2))
        return
    print(f"{'command':<46} {'median':>8} {'target':>8}  {'':<4} runs (s)")
    for r in rows:
        target = "floor" if r["target_s"] is None else f"{r['target_s']:.1f} s"
        verdict = "" if r["ok"] is None else ("ok" if r["ok"] else "SLOW")
        runs = " ".join(f"{x:.2f}" for x in r["runs_s"])
        print(f"{r['command']:<46} {r['median_s']:>6.2f} s {target:>8}  {verdict:<4} {runs}")
    if match_rows:
        print(f"\n{' '.join(['arena', *MATCH])}, warm caches:")
        for r in match_rows:
            print(f"{r['command']:<46} {r['median_s']:>6.2f} s           {' '.join(f'{x:.2f}' for x in r['runs_s'])}")
        saved = match_rows[1]["median_s"] - match_rows[0]["median_s"]
        print(f"{'start-up saved by importing one family':<46} {saved:>6.2f} s")


if __name__ == "__main__":
    main()
