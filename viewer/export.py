"""Export an episode to GIF or MP4 with imageio: the viewer's own frames, drawn off screen.

Frames are drawn onto a plain Surface (no window needed; fonts only) and streamed to the
writer one at a time, so a long episode never sits in memory as a stack of images. The file
is written under a temp name and renamed when complete.
"""
from __future__ import annotations

import os
from pathlib import Path

FORMATS = (".gif", ".mp4")


def export_episode(trace, path: str | os.PathLike, *, size: tuple[int, int] = (960, 576), fps: float | None = None,
                   viewer=None, progress: bool = False) -> Path:
    """Write every step of `trace` (as far as it goes) to `path` (.gif or .mp4); returns the path.

    `fps` defaults to the scene's 1x playback rate; `viewer` lends its scene caches (a warm
    renderer) to the export.
    """
    import imageio
    import pygame

    from arena.viewer.app import Viewer, ViewerConfig

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"export to .gif or .mp4, not {path.suffix or 'a file without extension'!r}")
    # Sizes divisible by 16 keep ffmpeg from resizing (its macro block).
    size = (int(size[0]) // 16 * 16, int(size[1]) // 16 * 16)
    ghost = Viewer([trace], ViewerConfig(size=size, autoplay=False))
    if viewer is not None:
        ghost._scenes, ghost._panels = viewer._scenes, viewer._panels
    fps = float(fps or ghost.scene(trace).steps_per_second)
    surf = pygame.Surface(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if path.suffix.lower() == ".gif":
        writer = imageio.v2.get_writer(tmp, mode="I", duration=1000.0 / fps, loop=0)
    else:
        writer = imageio.v2.get_writer(tmp, fps=fps, codec="libx264", quality=7, macro_block_size=16)
    steps = range(trace.length + 1)
    try:
        if progress:
            from rich.progress import track

            steps = track(steps, description=f"exporting {path.name}", transient=True)
        for t in steps:
            ghost.draw(surf, trace, t)
            writer.append_data(pygame.surfarray.array3d(surf).swapaxes(0, 1))
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        try:
            writer.close()
        finally:
            tmp.unlink(missing_ok=True)
        raise
    return path
