import dataclasses
import os
import shutil
import tempfile

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

# Session-wide, before any fixture (module-scoped ones included) runs: never the user's dirs.
# The process that starts the session makes the folder and its xdist workers (spawned after
# this runs, so they inherit the variable) each take a subfolder of it: data and caches stay
# apart, but one JAX compilation cache is shared, so what one worker compiled the other loads.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_OWNER = not (_WORKER and os.environ.get("ARENA_TEST_SESSION_DIR"))
if _OWNER:
    os.environ["ARENA_TEST_SESSION_DIR"] = tempfile.mkdtemp(prefix="arena-tests-")
_SESSION_DIR = os.environ["ARENA_TEST_SESSION_DIR"]
_MINE = os.path.join(_SESSION_DIR, _WORKER or "main")
os.environ["ARENA_CACHE_DIR"] = os.path.join(_MINE, "cache")
os.environ["ARENA_DATA_DIR"] = os.path.join(_MINE, "data")
os.makedirs(os.environ["ARENA_CACHE_DIR"], exist_ok=True)
# Caches whose files are written atomically, read by both workers: JAX's compilations
# (`enable_compilation_cache`) and the `arena envs` listing.
for _shared in ("jax", "envs"):
    os.makedirs(os.path.join(_SESSION_DIR, _shared), exist_ok=True)
    os.symlink(os.path.join(_SESSION_DIR, _shared), os.path.join(os.environ["ARENA_CACHE_DIR"], _shared))

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache():
    """Every test compiles through the shared cache, not only the commands that turn it on."""
    from arena.paths import enable_compilation_cache

    enable_compilation_cache()


def pytest_unconfigure(config):
    if _OWNER:  # the cache must not outlive the run: CI passes from clean
        shutil.rmtree(_SESSION_DIR, ignore_errors=True)


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

    def __iter__(self):  # code, out, err = arena_cli(...)
        return iter((self.code, self.out, self.err))

    def lines(self) -> tuple[int, list[str], list[str]]:
        """(exit code, stdout lines, stderr lines)."""
        return self.code, self.out.strip().splitlines(), self.err_lines


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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `arena serve` on loopback (tests/serving.py), shared by one test module."""
    from serving import Server

    s = Server(tmp_path_factory.mktemp("server"))
    yield s
    s.stop()


@pytest.fixture
def coord_series(make_ckpt, tmp_path):
    """A human series over three coord_game agents (constant left, constant right, random),
    two games with each, and the 1-5 ratings a test player gives them:
    (refs, names, spec, db, ratings)."""
    from arena.tournaments.spec import make_spec

    refs = [str(make_ckpt("scripted", "coord_game", config={"rule": "constant", "action": a}, name=n))
            for a, n in ((0, "left"), (1, "right"))]
    refs.append(str(make_ckpt("random", "coord_game", name="rand")))
    spec = make_spec("human", refs, env="coord_game", env_kwargs={"rounds": 3}, seeds=2, player="tester")
    return refs, ["left", "right", "rand"], spec, str(tmp_path / "t.sqlite"), {"left": 5, "right": 1, "rand": 3}
