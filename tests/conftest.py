import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test's caches and results away from the user's real dirs."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("ARENA_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("ARENA_DATA_DIR", str(base / "data"))


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
