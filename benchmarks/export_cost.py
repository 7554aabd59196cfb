"""Export cost: seconds and peak memory to render a recorded episode to GIF and MP4.

Two softmoe_gru agents (fresh weights; every panel section: probs, value, routing) play one
`--steps`-step episode of overcooked_v2/cramped_room, recorded with `arena match --record`.
Each case then runs in a fresh process, as `arena replay export` does: load the replay, draw
the first frame (which imports JaxMARL's renderer and compiles it: "warm-up"), then draw
every step once and stream the frames to one ffmpeg per output file. Printed per case: the
warm-up's seconds, the export's seconds (and per 100 frames), and the process's peak RSS
before and after the export (the difference is what the frames cost; streamed, it does not
grow with the episode). Goal: GIF + MP4 of 200 frames with panels under 5 s and 300 MB.

    python benchmarks/export_cost.py [--steps 200] [--size 960x576]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
import pygame
from arena.commands.view import load_episodes
from arena.viewer.app import export_videos, ghost_viewer
trace = load_episodes(sys.argv[1])[0]
w, h = (int(x) for x in sys.argv[2].split("x"))
mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
warm = ghost_viewer(trace, (w, h))
warm.draw(pygame.Surface((w, h)), trace, 0, clean=True)  # imports the renderer and compiles it
before = mb()
t1 = time.perf_counter()
export_videos(trace, sys.argv[3:], size=(w, h), viewer=warm)
t2 = time.perf_counter()
print(json.dumps({"frames": trace.length + 1, "warm_s": t1 - t0, "export_s": t2 - t1, "before_mb": before, "peak_mb": mb()}))
"""


def record(folder: Path, steps: int) -> Path:
    """One episode of two fresh softmoe_gru agents, recorded by `arena match --record`."""
    from arena.checkpoint import new_agent, save_checkpoint

    env_id = "overcooked_v2/cramped_room"
    refs = []
    for seat in range(2):
        manifest, params = new_agent("softmoe_gru", env_id, seed=seat, env_kwargs={"max_steps": steps}, name=f"gru-{seat}")
        refs.append(str(folder / f"gru-{seat}.ckpt"))
        save_checkpoint(refs[-1], manifest, params)
    out = folder / "episode.replay"
    subprocess.run([sys.executable, "-m", "arena.cli", "match", *refs, "--env", env_id, "--env-kw", f"max_steps={steps}",
                    "--episodes", "1", "--no-swap", "--record", str(out), "--record-episodes", "1", "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="episode length (frames = steps + 1)")
    parser.add_argument("--size", default="960x576", help="frame size, multiples of 16")
    args = parser.parse_args()
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        replay = record(folder, args.steps)
        print(f"overcooked_v2/cramped_room, 2 x softmoe_gru, {args.steps} steps, frames {args.size}")
        for case in ("gif+mp4", "gif", "mp4"):
            outs = [str(folder / f"{case}.{ext}") for ext in case.split("+")]
            proc = subprocess.run([sys.executable, "-c", CHILD, str(replay), args.size, *outs], env=env,
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            per100 = 100.0 / r["frames"]
            size_kb = sum(Path(o).stat().st_size for o in outs) / 1024
            print(f"{case:8s} {r['frames']} frames: warm-up {r['warm_s']:5.2f} s, export {r['export_s']:6.2f} s "
                  f"({r['export_s'] * per100:5.2f} s per 100 frames); peak RSS {r['before_mb']:4.0f} MB after warm-up, "
                  f"{r['peak_mb']:4.0f} MB after the export (+{(r['peak_mb'] - r['before_mb']) * per100:4.1f} MB per "
                  f"100 frames); {size_kb:,.0f} kB written; stderr {'clean' if not proc.stderr.strip() else repr(proc.stderr.strip()[:80])}")


if __name__ == "__main__":
    main()
