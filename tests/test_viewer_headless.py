"""Headless windows end by themselves: `arena view`, `arena play` and `arena match --view`
run as real processes with SDL_VIDEODRIVER=dummy and no --frames, and each must exit 0 when
its episode ends (they used to loop forever)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tests.test_viewer import rollout, routing_extras

TIMEOUT = 120  # seconds; a window that never closes fails here instead of hanging the suite


def arena(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT, cwd=cwd)


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory):
    from arena.replay import write_replay

    trace = rollout("coord_game", {"rounds": 6}, extras=routing_extras(2))
    path = tmp_path_factory.mktemp("headless") / "c.replay"
    return write_replay(path, [trace, dataclasses.replace(trace, episode=1)])


@pytest.mark.parametrize("extra", [[], ["--paused"], ["--episode", "1"]])
def test_arena_view_headless_ends_with_the_episode(replay_file, extra):
    proc = arena("view", str(replay_file), *extra)
    assert proc.returncode == 0, proc.stderr


def test_viewer_headless_plays_every_step_then_stops(replay_file):
    from arena.replay import open_replay
    from arena.viewer.app import Viewer, ViewerConfig

    episodes = open_replay(replay_file).episodes
    v = Viewer(episodes, ViewerConfig(size=(640, 400)))
    v.run()
    # One drawn frame per step 0..6 of the opened episode, and not a frame more.
    assert (v.t, v.frames, v.drawn) == (6, 7, 7)
    paused = Viewer(episodes, ViewerConfig(size=(640, 400), autoplay=False))
    paused.run()
    assert (paused.t, paused.frames) == (0, 1)


def test_arena_play_headless_ends_with_the_episode(make_ckpt, tmp_path):
    agent = make_ckpt("random", "coord_game")
    out = tmp_path / "game.replay"
    proc = arena("play", str(agent), "--env", "coord_game", "--env-kw", "rounds=3", "--seat", "1", "--tick-hz", "30",
                 "--countdown", "0", "--size", "640x400", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["steps"] == 3 and row["complete"] is True and out.is_file()


def test_arena_match_view_headless_ends_with_the_match(make_ckpt):
    a, b = make_ckpt("random", "coord_game", seed=1), make_ckpt("random", "coord_game", seed=2)
    proc = arena("match", str(a), str(b), "--env", "coord_game", "--env-kw", "rounds=4", "--episodes", "3",
                 "--no-swap", "--view", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["episodes"] == 3


@pytest.mark.parametrize("command", [["view"], ["play"], ["match"]])
def test_frames_is_documented(command):
    from click.testing import CliRunner

    from arena.cli import cli

    res = CliRunner().invoke(cli, [*command, "--help"])
    assert res.exit_code == 0 and "--frames" in res.output and "SDL_VIDEODRIVER=dummy" in res.output
