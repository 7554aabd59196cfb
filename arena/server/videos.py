"""Match videos: the first episode of a match's replay, drawn by the viewer's exporter as an
H.264 MP4 (which browsers play), rendered on first request and kept under DATA/videos/.

One render at a time (pygame is not thread-safe, and a second request for the same video
waits for the first instead of rendering it again). The exporter writes a temp file and
renames it, so a reader sees no video or a whole one; a render that failed is remembered
(until the server restarts) and not retried on every request."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from arena.server.service import Service

log = logging.getLogger("arena.server")
SUFFIX = ".mp4"
SIZE = (960, 576)  # the exporter's default frame; multiples of 16


class VideoFailed(Exception):
    """The replay could not be drawn (a broken replay, an env without a scene)."""


class Videos:
    def __init__(self, service: Service):
        self.service = service
        self.dir = service.config.data / "videos"
        self._lock = threading.Lock()
        self._failed: dict[str, str] = {}

    def cached(self, match_id: str) -> Path:
        return self.dir / f"{match_id}{SUFFIX}"

    def get(self, match_id: str) -> Path:
        """The video's path, rendering it first if need be. NotFound when the match has no
        replay; VideoFailed when it cannot be drawn. Blocking: call it in a thread."""
        replay = self.service.replay_file(match_id)  # NotFound; the id is checked against a pattern there
        out = self.cached(match_id)
        if out.exists():
            return out
        with self._lock:
            if out.exists():
                return out
            if match_id in self._failed:
                raise VideoFailed(self._failed[match_id])
            try:
                render(replay, out)
            except Exception as err:  # noqa: BLE001  (a replay that cannot be drawn is the match's problem, not the server's)
                log.exception("video of match %s", match_id)
                self._failed[match_id] = str(err)[:200] if isinstance(err, VideoFailed) else f"{type(err).__name__}: {str(err)[:200]}"
                raise VideoFailed(self._failed[match_id]) from None
        return out


def render(replay: Path, out: Path) -> Path:
    """Export the replay's first whole episode to `out`, as `arena replay export --mp4` does."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # frames are drawn off screen, no window
    from arena.replay import open_replay
    from arena.viewer.app import export_episode

    episodes = open_replay(replay).episodes
    if len(episodes) == 0:
        raise VideoFailed("the replay holds no whole episode")
    return export_episode(episodes[0], out, size=SIZE)
