"""Video files: raw RGB frames streamed to GIF or MP4 by ffmpeg. What the frames show is the
viewer's business (`arena.viewer.app.export_videos` draws them off screen).

Each frame's raw RGB bytes are written to one ffmpeg process per output file, so memory holds
a single frame whatever the episode's length, and a GIF and an MP4 of one episode cost one
drawing pass. ffmpeg writes a temp file that is renamed when the file is complete.

ffmpeg is started by `subprocess` without a `preexec_fn`: CPython then runs no fork handlers
in this (multithreaded, once jax is imported) process, so JAX's "os.fork() was called"
deadlock warning is never printed. imageio's ffmpeg writer passes `preexec_fn=os.setpgrp`,
which is what triggered it.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from arena.errors import UserError
from arena.fileio import atomic_path

FORMATS = (".gif", ".mp4")

# ffmpeg's output options per format. GIF: a palette per frame (palettegen/paletteuse on one
# frame at a time, nothing buffered), no dithering (the viewer draws flat colours; dithering
# only adds noise and time), looping forever. MP4: H.264 in yuv420p, which browsers play,
# with the index at the front so it starts before it is fully downloaded.
ENCODE_ARGS = {
    ".gif": ["-vf", "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1:dither=none", "-loop", "0", "-f", "gif"],
    ".mp4": ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
             "-f", "mp4"],
}


class EncoderError(UserError):
    """ffmpeg refused the frames or could not write the file (a full disk, say)."""


class Encoder:
    """One ffmpeg process turning raw RGB frames of `size` on its stdin into the file `tmp`."""

    def __init__(self, tmp: Path, suffix: str, size: tuple[int, int], fps: float, *, name: str = ""):
        import imageio_ffmpeg

        self.name = name or str(tmp)
        # ffmpeg's messages, read only if it fails; closed by close() or kill().
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", f"{fps:g}", "-i", "pipe:0",
               *ENCODE_ARGS[suffix], str(tmp)]
        # No preexec_fn, no start_new_session: nothing runs between fork and exec (see above).
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.errors)

    def write(self, rgb: bytes) -> None:
        try:
            self.proc.stdin.write(rgb)  # type: ignore[union-attr]
        except BrokenPipeError:
            self.close()  # raises with ffmpeg's own message

    def close(self) -> None:
        """Finish the file; EncoderError with ffmpeg's message if it failed."""
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    self.proc.stdin.close()
            code = self.proc.wait()
            if code != 0:
                self.errors.seek(0)
                msg = self.errors.read().decode("utf-8", "replace").strip().splitlines()
                raise EncoderError(f"{self.name}: ffmpeg failed (exit {code}): {msg[-1] if msg else 'no message'}")
        finally:
            self.errors.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.errors.close()


def frame_size(size: tuple[int, int]) -> tuple[int, int]:
    """Sizes divisible by 16 keep ffmpeg from resizing (its macro block) and yuv420p legal."""
    return int(size[0]) // 16 * 16, int(size[1]) // 16 * 16


def video_paths(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """`paths` as Paths, refused unless each names a .gif or .mp4."""
    outs = [Path(p) for p in paths]
    for path in outs:
        if path.suffix.lower() not in FORMATS:
            raise ValueError(f"export to .gif or .mp4, not {path.suffix or 'a file without extension'!r}")
    return outs


def write_videos(paths: Sequence[str | os.PathLike], frames: Iterable[bytes], size: tuple[int, int],
                 fps: float) -> list[Path]:
    """Stream `frames` (raw RGB bytes of `size`) to one ffmpeg per path (.gif or .mp4), each
    file renamed into place only when complete; returns the paths."""
    outs = video_paths(paths)
    with contextlib.ExitStack() as stack:
        encoders = []
        try:
            for path in outs:
                tmp = stack.enter_context(atomic_path(path))
                encoders.append(Encoder(tmp, path.suffix.lower(), size, fps, name=str(path)))
            for rgb in frames:
                for enc in encoders:
                    enc.write(rgb)
            for enc in encoders:
                enc.close()
        except BaseException:
            for enc in encoders:
                enc.kill()
            raise
    return outs
