"""Viewer speed: time per drawn frame with every overlay, and human-play latency.

Playback: two softmoe_gru agents (routing, probs, value: every panel section) play
overcooked_v2/cramped_room, and softmoe_gru predators chase an mlp prey in mpe_tag (four
panels); a recorded episode is drawn into the window (SDL dummy driver unless a display is
set), draw + flip timed per frame: first with a new state every frame (JaxMARL's renderer
runs every frame: the worst case, 8x playback or faster), then again with the scene frames
cached (overlays only). Target: >= 60 frames/s. (The window loop redraws only when something
visible changed, so at 1x most loop iterations draw nothing at all.)

Human play: a human (posted key events) plays seat 1 of overcooked_v2 beside a softmoe_gru
agent at 6 steps/s; reported: key handled -> the frame showing it flipped, and tick (the
jitted `play_step` with the human's action) -> the frame with the new state flipped. Target:
under one frame at 60 Hz (16.7 ms).

    python benchmarks/viewer_fps.py [--size 1280x760] [--human-seconds 8]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402


def recorded(env_id: str, specs, env_kwargs: dict, folder: str):
    from arena.checkpoint import load_agent, new_agent, save_checkpoint
    from arena.envs import make
    from arena.match import play_match
    from arena.trace import traces_from_result
    from arena.viewer.live import side_infos

    refs = []
    for i, (arch, side) in enumerate(specs):
        m, p = new_agent(arch, env_id, seed=i, side=side, env_kwargs=env_kwargs, name=f"{arch}-{i}")
        refs.append(os.path.join(folder, f"{env_id.replace('/', '-')}-{i}.ckpt"))
        save_checkpoint(refs[-1], m, p)
    _, results = play_match(refs, env_id=env_id, env_kwargs=env_kwargs, episodes=2, record=2, swap=False)
    env = make(env_id, **env_kwargs)
    return traces_from_result(results[0], side_infos(env, [load_agent(r) for r in refs]), env_kwargs, env.spec.seats), refs


def playback(traces, size) -> dict:
    """ms per drawn frame in the window: first pass over every step (each frame a state never
    rendered before: JaxMARL's renderer runs), second pass (scene cached: overlays only)."""
    import pygame

    from arena.viewer.app import Viewer, ViewerConfig

    viewer = Viewer(traces, ViewerConfig(size=size, autoplay=False))
    screen = viewer.open_window()
    viewer.draw(pygame.Surface(size), traces[1], 0)  # warm the renderer (compiles once)
    out = {}
    for label in ("new state every frame", "overlays only"):
        times = []
        for trace in traces[:1]:
            for t in range(trace.length + 1):
                start = time.perf_counter()
                viewer.cursor = float(t)
                viewer.draw(screen)
                pygame.display.flip()
                times.append((time.perf_counter() - start) * 1000.0)
        dt = np.asarray(times)
        out[label] = {"ms_per_frame": float(np.median(dt)), "p95_ms": float(np.percentile(dt, 95)),
                      "fps": 1000.0 / float(dt.mean())}
    return out


def human_latency(ref: str, seconds: float, size) -> dict:
    import pygame

    from arena.viewer.human_game import HumanGame, PlayConfig

    cfg = PlayConfig(seat=1, tick_hz=6.0, countdown=0.0, size=size, close_at_end=True,
                     replay_path=os.path.join(tempfile.mkdtemp(), "h.replay"))
    game = HumanGame([ref], env_id="overcooked_v2/cramped_room", env_kwargs={"max_steps": int(seconds * 6)}, config=cfg)
    keys = [pygame.K_UP, pygame.K_LEFT, pygame.K_SPACE, pygame.K_RIGHT, pygame.K_DOWN]

    def press(g):
        if g.frames % 4 == 1:  # a key every fourth frame: several per tick, as a busy player
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=keys[g.frames % len(keys)], mod=0, unicode=""))

    game.run(on_frame=press)
    lat = game.latency
    return {
        "warm_up_s": game.warm_seconds,
        "key_to_frame_ms": float(np.median(lat["key_to_frame_ms"])),
        "key_to_frame_p95_ms": float(np.percentile(lat["key_to_frame_ms"], 95)),
        "tick_to_frame_ms": float(np.median(lat["tick_to_frame_ms"])),
        "tick_to_frame_p95_ms": float(np.percentile(lat["tick_to_frame_ms"], 95)),
        "steps": game.trace.length,
        "frames_per_s": game.frames / game.loop_seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1280x760")
    ap.add_argument("--human-seconds", type=float, default=8.0)
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    from arena.paths import enable_compilation_cache

    enable_compilation_cache()
    with tempfile.TemporaryDirectory() as folder:
        cases = {
            "overcooked_v2 (2 softmoe_gru)": ("overcooked_v2/cramped_room", [("softmoe_gru", None), ("softmoe_gru", None)], {"max_steps": 100}),
            "mpe_tag (softmoe_gru x3 vs mlp)": ("mpe_tag", [("softmoe_gru", "predators"), ("mlp_actor_critic", "prey")], {}),
        }
        refs = {}
        for name, (env_id, specs, kw) in cases.items():
            traces, refs[env_id] = recorded(env_id, specs, kw, folder)
            for label, r in playback(traces, size).items():
                print(f"{name:34s} {label:24s} {r['ms_per_frame']:6.2f} ms/frame (p95 {r['p95_ms']:6.2f})  {r['fps']:6.1f} frames/s")
        h = human_latency(refs["overcooked_v2/cramped_room"][0], args.human_seconds, size)
        print(f"human play (overcooked_v2, 6 steps/s): warm-up {h['warm_up_s']:.1f} s, {h['steps']} steps, {h['frames_per_s']:.1f} frames/s")
        print(f"  key handled -> frame on screen: {h['key_to_frame_ms']:.2f} ms median, {h['key_to_frame_p95_ms']:.2f} ms p95")
        print(f"  tick (play_step) -> new state on screen: {h['tick_to_frame_ms']:.2f} ms median, {h['tick_to_frame_p95_ms']:.2f} ms p95")


if __name__ == "__main__":
    main()
