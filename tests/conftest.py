import dataclasses
import os
import tempfile

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# Session-wide, before any fixture (module-scoped ones included) runs: never the user's dirs.
_SESSION_DIR = tempfile.mkdtemp(prefix="arena-tests-")
os.environ["ARENA_CACHE_DIR"] = os.path.join(_SESSION_DIR, "cache")
os.environ["ARENA_DATA_DIR"] = os.path.join(_SESSION_DIR, "data")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest  # noqa: E402


@pytest.fixture
def make_ckpt(tmp_path):
    """Write a fresh checkpoint: make_ckpt(arch, env, seed=0, side=None, config=None) -> path."""
    from arena.checkpoint import new_agent, save_checkpoint

    def _make(arch, env_id, seed=0, side=None, config=None, name=None):
        manifest, params = new_agent(arch, env_id, seed=seed, side=side, config=config or {}, name=name or f"{arch}-{seed}")
        path = tmp_path / f"{len(list(tmp_path.glob('*.ckpt')))}-{manifest.name}.ckpt"
        save_checkpoint(path, manifest, params)
        return path

    return _make


@dataclasses.dataclass
class CliRun:
    """What `arena ARGS` left behind: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


@pytest.fixture
def arena_cli(capsys):
    """Run `arena ARGS` in this process, through `arena.cli.main` as the console script does
    (errors mapped to one line and an exit code): arena_cli(*args) -> CliRun(code, out, err)."""
    from arena.cli import main

    def run(*argv) -> CliRun:
        capsys.readouterr()  # only this command's output
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        out = capsys.readouterr()
        return CliRun(code, out.out, out.err)

    return run
