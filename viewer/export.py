"""Video files with imageio: frames streamed to a GIF or MP4 written under a temp name.

Frames arrive one at a time (an iterator of HxWx3 uint8 arrays), so a long episode never sits
in memory as a stack of images; the file is renamed into place only when complete. What the
frames show is the viewer's business (`arena.viewer.app.export_episode` draws them).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

FORMATS = (".gif", ".mp4")


def video_path(path: str | os.PathLike) -> Path:
    """`path` as a Path, refused unless it names a .gif or .mp4."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"export to .gif or .mp4, not {path.suffix or 'a file without extension'!r}")
    return path


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> Path:
    """Write `frames` to `path` (.gif or .mp4) at `fps`; returns the path."""
    import imageio

    path = video_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if path.suffix.lower() == ".gif":
        writer = imageio.v2.get_writer(tmp, mode="I", duration=1000.0 / fps, loop=0)
    else:
        writer = imageio.v2.get_writer(tmp, fps=fps, codec="libx264", quality=7, macro_block_size=16)
    try:
        for frame in frames:
            writer.append_data(frame)
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        try:
            writer.close()
        finally:
            tmp.unlink(missing_ok=True)
        raise
    return path
