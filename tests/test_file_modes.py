"""Every file arena writes for a user takes the mode the user's umask gives (0644 under umask
022, 0600 under 077, 0664 under 002), as any other program's files do: checkpoints, replays,
training runs, tournament databases, reports, CSVs and PNGs alike."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from arena.cli import main

PPO_FAST = ["--set", "num_envs=4", "--set", "num_steps=8", "--set", "num_minibatches=2", "--set", "update_epochs=1",
            "--set", "shaping_horizon=0"]


@pytest.fixture
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], indirect=True, ids=["022", "077", "002"])
def test_files_follow_the_umask(umask, tmp_path, capsys):
    out = tmp_path / "out"
    agents = [str(out / f"{n}.ckpt") for n in ("left", "right")]
    for path, action in zip(agents, (0, 1)):
        main(["new-agent", "--arch", "scripted", "--env", "coord_game", "--config", f"action={action}", "-o", path])
    main(["match", *agents, "--env-kw", "rounds=2", "--episodes", "4", "--record", str(out / "m.replay"), "--json"])
    main(["tournament", "--mode", "crossplay", *agents, "--env-kw", "rounds=2", "--episodes", "4", "--no-progress",
          "--db", str(out / "t.sqlite"), "--out", str(out / "report"), "--json"])
    main(["train", "ppo", "--env", "coord_game", "--env-kw", "rounds=4", "--steps", "64", "--quiet", "--json",
          "-o", str(out / "run" / "ppo.ckpt"), *PPO_FAST])
    capsys.readouterr()
    modes = _modes(out)
    expected = {"left.ckpt", "right.ckpt", "m.replay", "m-swapped.replay", "t.sqlite", "report/report.json",
                "report/cells.csv", "report/heatmap.png", "run/ppo.ckpt", "run/ppo.ckpt.state",
                "run/ppo.metrics.jsonl", "run/ppo.curves.png"}
    assert expected <= set(modes), sorted(modes)
    assert {name: oct(mode) for name, mode in modes.items()} == {name: oct(0o666 & ~umask) for name in modes}
