"""Writing files so that nothing is ever half-written: a temp file beside the target, fsynced,
then renamed over it. Modes follow the user's umask, as any other program's files do."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", perms: int | None = None) -> Iterator[IO]:
    """A file to write `path` through: readers see the old file or the whole new one.

    The temp file is fsynced and renamed on a clean exit, removed on any error. `perms`
    (e.g. 0o600 for a secret) replaces the umask's default mode from the first byte on.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes 0600 files; a checkpoint or CSV should be as readable as any other.
        os.fchmod(fd, perms if perms is not None else 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, perms: int | None = None) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` atomically; returns the path."""
    with atomic_open(path, "wb", perms) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, perms: int | None = None) -> Iterator[Path]:
    """A temp path beside `path` for a writer that wants a file name (an encoder in another
    process); renamed over `path` on a clean exit, removed on any error. As `atomic_open`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, perms if perms is not None else 0o666 & ~_umask())
        os.close(fd)
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
