"""Exports and screenshots: what the viewer's files show (the episode, not the window's
chrome), one PNG frame by step, unique screenshot names, an MP4 export that triggers no
fork warning, and frames streamed to the encoder rather than held."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.test_viewer import drawn, rollout, routing_extras

pygame = pytest.importorskip("pygame")


def mp4_frames(path, size) -> np.ndarray:
    """Every frame of an MP4, decoded by ffmpeg in a subprocess (T, H, W, 3)."""
    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)


def arena(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def coord():
    return rollout("coord_game", {"rounds": 6}, extras=routing_extras(2))


def chromed(coord):
    """A viewer showing everything the window adds: paused glyph, help, toast, a human's keys."""
    from arena.viewer.app import Viewer, ViewerConfig

    v = Viewer([coord], ViewerConfig(autoplay=False))
    v.show_help = True
    v.say("speed 2x", 60)
    v.notes[0] = ("your keys:", "← left", "→ right")
    return v


def test_clean_frames_show_the_episode_not_the_window(coord):
    from arena.viewer.app import Viewer, ViewerConfig, make_layout

    v = chromed(coord)
    plain = Viewer([coord], ViewerConfig(autoplay=True))
    plain.speed_idx += 2
    plain.footer = "other key hints"
    surf = pygame.Surface((1100, 680))
    v.draw(surf, coord, 3, clean=True)
    a = pygame.surfarray.array3d(surf).swapaxes(0, 1).copy()
    plain.draw(surf, coord, 3, clean=True)
    b = pygame.surfarray.array3d(surf).swapaxes(0, 1).copy()
    # Playing or paused, any speed, help, toast, notes, footer: the same clean frame.
    assert np.array_equal(a, b)
    window = drawn(v, coord, 3)
    assert not np.array_equal(a, window)
    footer = make_layout((1100, 680), 2, 2).footer
    assert len(np.unique(a[footer.top:footer.bottom, footer.left:footer.right].reshape(-1, 3), axis=0)) == 1  # empty
    assert len(np.unique(drawn(plain, coord, 3)[footer.top:footer.bottom].reshape(-1, 3), axis=0)) > 2  # hints


def test_screenshots_get_unique_names_and_no_chrome(coord, tmp_path):
    v = chromed(coord)
    v.config.out_dir = tmp_path
    v.cursor = 2.0
    first, second = v.screenshot(), v.screenshot()
    assert first != second and first.exists() and second.exists()
    assert second.name == first.name.replace("-t2.png", "-t2-2.png")
    surf = pygame.Surface(v.surface_size())
    v.draw(surf, coord, 2, clean=True)
    expected = pygame.surfarray.array3d(surf)
    assert np.array_equal(pygame.surfarray.array3d(pygame.image.load(str(first))), expected)
    assert not list(tmp_path.glob(".*"))


def test_replay_export_png_writes_the_step_with_panels(coord, tmp_path):
    from arena.replay import write_replay
    from arena.viewer.app import Viewer

    path = write_replay(tmp_path / "c.replay", [coord])
    out = tmp_path / "s.png"
    proc = arena("replay", "export", str(path), "--png", str(out), "--step", "4", "--size", "800x500", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"] == [{"path": str(out), "bytes": out.stat().st_size, "frames": 1, "step": 4}]
    img = pygame.image.load(str(out))
    assert img.get_size() == (800, 500)
    surf = pygame.Surface((800, 500))
    Viewer([coord]).draw(surf, coord, 4, clean=True)
    assert np.array_equal(pygame.surfarray.array3d(img), pygame.surfarray.array3d(surf))
    for bad in (["--step", "7"], ["--step", "-1"]):
        proc = arena("replay", "export", str(path), "--png", str(tmp_path / "x.png"), *bad)
        assert proc.returncode == 2 and proc.stderr.strip() == f"error: --step {bad[1]}: episode 0 has steps 0..6"
    proc = arena("replay", "export", str(path), "--gif", str(tmp_path / "x.gif"), "--step", "3")
    assert proc.returncode == 2 and "--step picks the frame of --png" in proc.stderr
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.gif").exists()


def test_gif_and_mp4_export_without_fork_warning_or_chrome(tmp_path):
    """overcooked_v2's scene renders with JAX (so JAX's fork warning is armed); the exported
    frames show no key hints in the footer."""
    import imageio

    from arena.replay import write_replay
    from arena.viewer.app import Viewer, ViewerConfig, make_layout

    trace = rollout("overcooked_v2/cramped_room", {"max_steps": 8}, extras=routing_extras(6))
    path = write_replay(tmp_path / "o.replay", [trace])
    gif, mp4 = tmp_path / "o.gif", tmp_path / "o.mp4"
    proc = arena("replay", "export", str(path), "--gif", str(gif), "--mp4", str(mp4), "--size", "640x400")
    assert proc.returncode == 0, proc.stderr
    assert "fork" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    frames = imageio.v3.imread(gif, index=None)
    assert frames.shape == (9, 400, 640, 3)
    video = mp4_frames(mp4, (640, 400))
    assert video.shape == (9, 400, 640, 3)
    footer = make_layout((640, 400), 2, 1).footer
    window = drawn(Viewer([trace], ViewerConfig(autoplay=False)), trace, 0, size=(640, 400))
    surf = pygame.Surface((640, 400))
    Viewer([trace]).draw(surf, trace, 0, clean=True)
    clean = pygame.surfarray.array3d(surf).swapaxes(0, 1).astype(int)
    header = make_layout((640, 400), 2, 1).header
    for frame in (frames[0], video[0]):
        # The header (where the window shows ❚❚ 1x) is the clean frame's, not the window's.
        head = frame[header.top:header.bottom, header.left:header.right].astype(int)
        to_clean = np.abs(head - clean[header.top:header.bottom, header.left:header.right]).mean()
        to_window = np.abs(head - window[header.top:header.bottom, header.left:header.right]).mean()
        assert to_clean < 0.5 * to_window, (to_clean, to_window)
        strip = frame[footer.top:footer.bottom, footer.left:footer.right].astype(int)
        hints = window[footer.top:footer.bottom, footer.left:footer.right].astype(int)
        background = strip[0, 0]
        assert (np.abs(strip - background).sum(-1) > 60).mean() < 0.01  # nothing written there
        assert (np.abs(hints - background).sum(-1) > 60).mean() > 0.02  # the window's hints would be


PEAK_GROWTH = textwrap.dedent("""
    import os, resource, sys
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    from tests.test_viewer import rollout
    from arena.viewer.app import export_episode
    short, long = rollout("coord_game", {"rounds": 2}), rollout("coord_game", {"rounds": int(sys.argv[1])})
    export_episode(short, sys.argv[2] + "/warm.gif")  # fonts, scene caches, the encoder once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    export_episode(long, sys.argv[2] + "/long.gif")
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
""")


def test_export_streams_frames_instead_of_holding_them(tmp_path):
    """The exporting process's peak memory does not grow with the episode: 120 frames of
    960x576 would hold 200 MB as images; streamed, the peak stays within a few frames."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", PEAK_GROWTH, "120", str(tmp_path)], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "SDL_VIDEODRIVER": "dummy"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    growth_mb = float(proc.stdout.strip().splitlines()[-1])
    assert growth_mb < 30, f"peak memory grew by {growth_mb:.0f} MB over 120 frames"
    assert (tmp_path / "long.gif").stat().st_size > 0


def test_one_pass_writes_gif_and_mp4_alike(coord, tmp_path):
    import imageio

    from arena.viewer.app import export_videos

    gif, mp4 = export_videos(dataclasses.replace(coord), [tmp_path / "a.gif", tmp_path / "a.mp4"], size=(650, 410))
    assert imageio.v3.imread(gif, index=None).shape == (7, 400, 640, 3)  # rounded down to multiples of 16
    with pytest.raises(ValueError, match="not '.avi'"):
        export_videos(coord, [tmp_path / "b.gif", tmp_path / "b.avi"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.mp4"]
