"""`arena demo`: the default job. A cross-play tournament over the overcooked zoo agents, its
table, report files and heatmap, and a recorded replay of the most interesting pairing (the
pair of agents whose cross-play falls furthest below their own self-play), opened in the
viewer when a display exists.
"""
from __future__ import annotations

import os
from pathlib import Path

from arena import numfmt
from arena.agents.zoo import zoo_names
from arena.checkpoint import read_checkpoint
from arena.errors import UserError
from arena.fileio import atomic_write
from arena.match import play_match
from arena.tournaments.report import cells_csv, write_heatmap
from arena.tournaments.spec import make_spec
from arena.tournaments.tournament import run_tournament

DEMO_ENV = "overcooked_v2/cramped_room"


def demo_agents(env_id: str = DEMO_ENV) -> list[str]:
    """zoo:NAME references of every shipped agent made for `env_id`."""
    refs = [f"zoo:{n}" for n in zoo_names()]
    return [r for r in refs if read_checkpoint(r)[0].env == env_id]


def most_interesting_pair(report: dict) -> tuple[int, int]:
    """Indices (a, b), a != b, maximising mean SP of the two minus their J_XP."""
    cp = report["crossplay"]
    m = cp["matrix"]
    n = len(m)
    best, pair = None, (0, 1 % n)
    for a in range(n):
        for b in range(a + 1, n):
            if m[a][b] is None or m[a][a] is None or m[b][b] is None:
                continue
            gap = 0.5 * (m[a][a]["mean"] + m[b][b]["mean"]) - m[a][b]["mean"]
            if best is None or gap > best:
                best, pair = gap, (a, b)
    return pair


def display_available() -> bool:
    driver = os.environ.get("SDL_VIDEODRIVER", "")
    return driver not in ("dummy", "offscreen") and bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_demo(out_dir: str | os.PathLike = "arena-demo", *, episodes: int = 64, seed: int = 0,
             record_episodes: int = 2, progress: bool = True) -> dict:
    """Run the demo; write everything into `out_dir`; return a summary of what was written."""
    agents = demo_agents()
    if len(agents) < 2:
        raise UserError(f"the zoo has fewer than two {DEMO_ENV} agents; rebuild it (agents/zoo/README.md)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = make_spec("crossplay", agents=agents, env=DEMO_ENV, episodes=episodes, seed=seed)
    report, info = run_tournament(spec, db=str(out / "results.sqlite"), progress=progress)
    atomic_write(out / "crossplay.json", numfmt.dumps(report).encode())
    atomic_write(out / "crossplay.csv", cells_csv(report).encode())
    heatmap = out / "crossplay.png"
    write_heatmap(report, heatmap)
    a, b = most_interesting_pair(report)
    names = [x["name"] for x in report["agents"]]
    replay = out / f"{names[a]}-vs-{names[b]}.replay"
    match_report, _ = play_match(
        [agents[a], agents[b]], episodes=max(record_episodes, 8), seed=seed, swap=False,
        record_path=str(replay), record_episodes=record_episodes,
    )
    return {
        "out_dir": str(out), "tournament": report, "tournament_id": info.id, "pair": [names[a], names[b]],
        "files": {"results": str(out / "results.sqlite"), "json": str(out / "crossplay.json"),
                  "csv": str(out / "crossplay.csv"), "heatmap": str(heatmap), "replay": str(replay)},
        "replay_match": match_report,
    }
