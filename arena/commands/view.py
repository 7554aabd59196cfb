"""`arena view FILE` (the replay viewer) and `arena replay export FILE` (GIF/MP4)."""
from __future__ import annotations

import click

from arena.commands.options import CTX, json_option


def parse_size(value: str) -> tuple[int, int]:
    from arena.errors import UserError

    w, sep, h = value.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 320 or int(h) < 240:
        raise UserError(f"--size {value!r}: expected WIDTHxHEIGHT of at least 320x240, e.g. 1280x760")
    return int(w), int(h)


def open_window_or_explain(fn):
    """Run fn(); a machine without a display gets one clear line instead of a pygame error."""
    import pygame

    from arena.errors import UserError

    try:
        return fn()
    except pygame.error as err:
        raise UserError(f"cannot open a window ({err}); on a machine without a display set "
                        "SDL_VIDEODRIVER=dummy, or export with `arena replay export`") from None


def load_episodes(path):
    """The whole episodes of a replay, every one's arrays checked before any is drawn (a bad one
    is one line, exit 1), with a warning line when the file is torn or damaged."""
    from arena.errors import UserError
    from arena.replay import open_replay

    rep = open_replay(path)
    for k in range(len(rep.index)):
        rep.check(k)
    if rep.torn is not None:
        click.echo(f"warning: {path}: {rep.torn.describe()}; {len(rep.episodes)} whole episode(s) kept", err=True)
    if len(rep.episodes) == 0:
        raise UserError(f"{path}: the replay holds no whole episode")
    return rep.episodes


@click.command(context_settings=CTX)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--episode", default=0, show_default=True, type=int, help="Episode to open first (0-based position in the file).")
@click.option("--size", default="1280x760", show_default=True, help="Initial window size (the window is resizable).")
@click.option("--out-dir", default=".", show_default=True, type=click.Path(file_okay=False), help="Where S (screenshot) and E (export) write.")
@click.option("--paused", is_flag=True, help="Open paused at step 0.")
@click.option("--frames", default=None, type=int,
              help="Quit after this many frames. Headless (SDL_VIDEODRIVER=dummy) the viewer plays one step per "
                   "frame and quits at the end of the episode (at once with --paused).")
def view(file, episode, size, out_dir, paused, frames):
    """Open a replay in the viewer: the scene, and per seat what the agent emitted when it
    acted (action probabilities, value, expert routing, belief), with a timeline of rewards
    and events.

    Keys: space play/pause, left/right step, up/down speed (0.25x to 8x), [ and ] previous/next
    episode, home/end, S screenshot, E export GIF, H help, Esc quit.

    \b
    Examples:
      arena match a.ckpt b.ckpt --record out.replay
      arena view out.replay
      arena view out.replay --episode 2 --size 1600x900
    """
    from pathlib import Path

    from arena.errors import UserError
    from arena.viewer.app import Viewer, ViewerConfig

    width_height = parse_size(size)
    episodes = load_episodes(file)
    if not 0 <= episode < len(episodes):
        raise UserError(f"--episode {episode}: the replay has episodes 0..{len(episodes) - 1}")
    viewer = Viewer(episodes, ViewerConfig(size=width_height, out_dir=Path(out_dir), autoplay=not paused,
                                           title=f"arena view {Path(file).name}"))
    viewer.goto_episode(episode)
    open_window_or_explain(lambda: viewer.run(max_frames=frames))


@click.command(context_settings=CTX)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--gif", "gif_out", default=None, type=click.Path(dir_okay=False), help="Write a GIF here.")
@click.option("--mp4", "mp4_out", default=None, type=click.Path(dir_okay=False), help="Write an MP4 (H.264) here.")
@click.option("--png", "png_out", default=None, type=click.Path(dir_okay=False), help="Write the frame of --step here.")
@click.option("--step", default=None, type=int, help="The step --png shows (default: the last).")
@click.option("--episode", default=0, show_default=True, type=int, help="Episode to export (0-based position in the file).")
@click.option("--size", default="960x576", show_default=True, help="Frame size (GIF and MP4: rounded down to multiples of 16).")
@click.option("--fps", default=None, type=float, help="Frames (steps) per second; default: the viewer's 1x speed.")
@json_option
def export(file, gif_out, mp4_out, png_out, step, episode, size, fps, as_json):
    """Render one episode of a replay, as the viewer draws it (without playback state or key
    hints), to a GIF and/or an MP4, or one step of it to a PNG. Runs without a display.

    \b
    Examples:
      arena replay export out.replay --gif out.gif
      arena replay export out.replay --mp4 ep3.mp4 --episode 3 --size 1280x768
      arena replay export out.replay --png step40.png --step 40
    """
    import os
    from pathlib import Path

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # frames are drawn off screen
    from arena.commands.report import print_json
    from arena.errors import UserError
    from arena.viewer.app import export_png, export_videos

    if not gif_out and not mp4_out and not png_out:
        raise UserError("give --gif OUT.gif, --mp4 OUT.mp4 and/or --png OUT.png")
    for opt, out, ext in (("--gif", gif_out, ".gif"), ("--mp4", mp4_out, ".mp4"), ("--png", png_out, ".png")):
        if out and Path(out).suffix.lower() != ext:
            raise UserError(f"{opt} {out}: the file name must end in {ext}")
    if step is not None and not png_out:
        raise UserError("--step picks the frame of --png OUT.png")
    frame = parse_size(size)
    episodes = load_episodes(file)
    if not 0 <= episode < len(episodes):
        raise UserError(f"--episode {episode}: the replay has episodes 0..{len(episodes) - 1}")
    trace = episodes[episode]
    step = trace.length if step is None else step
    if not 0 <= step <= trace.length:
        raise UserError(f"--step {step}: episode {episode} has steps 0..{trace.length}")
    written = []
    videos = [out for out in (gif_out, mp4_out) if out]
    if videos:
        for path in export_videos(trace, videos, size=frame, fps=fps, progress=not as_json):
            written.append({"path": str(path), "bytes": path.stat().st_size, "frames": trace.length + 1})
    if png_out:
        path = export_png(trace, png_out, step, size=frame)
        written.append({"path": str(path), "bytes": path.stat().st_size, "frames": 1, "step": step})
    if as_json:
        print_json({"replay": str(file), "episode": episode, "files": written})
    else:
        for w in written:
            what = f"step {w['step']}" if "step" in w else f"{w['frames']} frames"
            click.echo(f"wrote {w['path']} ({what}, {w['bytes']:,} bytes)")
