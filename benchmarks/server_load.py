"""The server under load, on loopback only, bounded in count and time.

1. Throughput: one tournament through a real `arena serve` (POST to finished) beside the same
   cells run by `arena tournament run` in a fresh process, each with a JAX compilation cache of
   its own, so both pay their start-up and compiles (cold), then the same again with another
   seed (warm: the server's worker and the CLI's cache have compiled it): matches/s and the
   ratios (goal >= 0.9).
2. Reads while it plays: 32 concurrent clients fetch the leaderboard and match pages while a
   second tournament and the ladder run: requests/s, p50 and p99 latency (goal p99 < 100 ms).

    python benchmarks/server_load.py [--clients 32] [--requests 40] [--episodes 2048]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from arena.checkpoint import new_agent, save_checkpoint
from arena.server.process import ServerProcess

RULES = ("tit_for_tat", "always_defect", "always_cooperate")  # and a uniform random agent


def make_agents(folder: Path) -> list[Path]:
    paths = []
    for rule in RULES:
        manifest, params = new_agent("scripted", "ipd", config={"rule": rule}, name=rule)
        paths.append(folder / f"{rule}.ckpt")
        save_checkpoint(paths[-1], manifest, params)
    manifest, params = new_agent("random", "ipd", name="random")
    paths.append(folder / "random.ckpt")
    save_checkpoint(paths[-1], manifest, params)
    return paths


def wait(http: httpx.Client, tid: str, limit: float = 600) -> dict:
    deadline = time.time() + limit
    while time.time() < deadline:
        view = http.get(f"/api/v1/tournaments/{tid}").json()
        if view["status"] in ("finished", "failed", "cancelled"):
            return view
        time.sleep(0.05)
    raise SystemExit(f"tournament {tid} did not finish within {limit:.0f} s")


def reader(url: str, paths: list[str], count: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for k in range(count):
            start = time.perf_counter()
            resp = http.get(paths[k % len(paths)])
            out.append(time.perf_counter() - start)
            if resp.status_code != 200:
                raise SystemExit(f"GET {paths[k % len(paths)]}: {resp.status_code} {resp.text[:200]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=40, help="per client")
    ap.add_argument("--episodes", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=100, help="IPD rounds per episode")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="arena-server-load-"))
    agents = make_agents(tmp)
    flags = ["--episodes", str(args.episodes), "--seeds", "2", "--env-kw", f"rounds={args.rounds}"]

    os.environ["ARENA_CACHE_DIR"] = str(tmp / "cache-server")  # the server and its worker
    cli_env = {**os.environ, "ARENA_CACHE_DIR": str(tmp / "cache-cli")}
    server = ServerProcess(tmp / "data")
    try:
        http = httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {server.token}"})
        ids = [http.post("/api/v1/agents", files={"file": ("a.ckpt", p.read_bytes())}).json()["id"] for p in agents]
        request = {"mode": "roundrobin", "agents": ids, "episodes": args.episodes, "seeds": 2,
                   "env_kwargs": {"rounds": args.rounds}}
        for label, seed in (("cold", 1), ("warm", 3)):
            start = time.perf_counter()
            view = wait(http, http.post("/api/v1/tournaments", json={**request, "seed": seed}).json()["id"])
            server_seconds = time.perf_counter() - start
            cells = view["cells_total"]
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "arena.cli", "tournament", "run", "--mode", "roundrobin", *map(str, agents),
                            *flags, "--seed", str(seed), "--db", str(tmp / "cli.sqlite"), "--no-progress"], check=True,
                           stdout=subprocess.DEVNULL, env=cli_env)
            cli_seconds = time.perf_counter() - start
            print(f"throughput ({label}): {cells} matches x {args.episodes} episodes x 2 seeds")
            print(f"  server  {cells / server_seconds:7.2f} matches/s ({server_seconds:.1f} s, POST to finished)")
            print(f"  cli     {cells / cli_seconds:7.2f} matches/s ({cli_seconds:.1f} s, fresh process)")
            print(f"  ratio   {cli_seconds / server_seconds:7.2f} (goal >= 0.9)")

        matches = [m["id"] for m in http.get("/api/v1/matches").json()["matches"]][:8]
        paths = ["/api/v1/leaderboard?env=ipd", *[f"/api/v1/matches/{m}" for m in matches]]
        if http.get("/").status_code == 200:  # the pages, when the server has them
            paths += ["/", *[f"/matches/{m}" for m in matches[:2]]]
        http.post("/api/v1/ladders", json={"env": "ipd", "episodes_per_match": 256})  # started now: not in the throughput
        background = http.post("/api/v1/tournaments", json={**request, "seed": 2}).json()["id"]
        start = time.perf_counter()
        with cf.ThreadPoolExecutor(args.clients) as pool:
            latencies = np.concatenate(list(pool.map(lambda _: reader(server.url, paths, args.requests), range(args.clients))))
        seconds = time.perf_counter() - start
        busy = http.get(f"/api/v1/tournaments/{background}").json()["status"]
        print(f"reads: {args.clients} clients x {args.requests} requests over {len(paths)} routes "
              f"(tournament {busy} meanwhile, ladder on)")
        print(f"  {latencies.size / seconds:7.1f} requests/s; latency p50 {1e3 * np.percentile(latencies, 50):.1f} ms, "
              f"p99 {1e3 * np.percentile(latencies, 99):.1f} ms (goal < 100 ms)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
