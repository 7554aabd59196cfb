"""`arena ensemble`: an ensemble checkpoint made from trained members (the zoo's PPO cooks),
which acts exactly like its member when every member is that one agent, refuses members that
play another game, and whose votes the viewer draws."""
from __future__ import annotations

import numpy as np
import pytest

from arena.checkpoint import load_agent
from arena.match import play_match

ZOO = "zoo:ppo-cramped-s0"
SHORT = {"max_steps": 40}


def test_an_ensemble_of_copies_of_one_agent_acts_like_the_agent(tmp_path, arena_cli):
    ens = tmp_path / "ens.ckpt"
    run = arena_cli("ensemble", ZOO, ZOO, ZOO, "-o", str(ens))
    assert run.code == 0, run.err
    loaded = load_agent(ens)
    m = loaded.manifest
    assert m.arch == "ensemble" and m.env == "overcooked_v2/cramped_room" and m.name == "ens"
    assert [x["name"] for x in m.provenance["members"]] == ["ppo-cramped-s0"] * 3
    # The same partner, seed and seat: the ensemble plays the member's very actions.
    kw = dict(env_kwargs=SHORT, episodes=8, seed=3, swap=False, record=8)
    _, (alone,) = play_match([ZOO, "zoo:ppo-cramped-s1"], **kw)
    _, (voted,) = play_match([str(ens), "zoo:ppo-cramped-s1"], **kw)
    np.testing.assert_array_equal(alone.steps.actions, voted.steps.actions)
    np.testing.assert_array_equal(alone.returns, voted.returns)
    votes = np.asarray(voted.steps.extras[0]["votes"])  # (T, E, seats of side 0, A)
    assert votes.shape[-1] == 6 and np.all(votes.sum(-1) == 3) and np.all(votes.max(-1) == 3)


def test_an_ensemble_refuses_members_of_another_game(arena_cli, tmp_path):
    run = arena_cli("ensemble", ZOO, "zoo:ppo-v1-forced-s0", "-o", str(tmp_path / "x.ckpt"))
    assert run.code == 2 and not (tmp_path / "x.ckpt").exists()
    err = run.err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "ppo-v1-forced-s0" in err and "an ensemble's members must play the same env" in err


@pytest.mark.slow  # the default suite keeps its 5 minutes; `make test-all` runs it
def test_the_viewer_draws_the_ensembles_votes(tmp_path, arena_cli):
    import pygame

    from arena.replay import open_replay
    from arena.viewer.panels import SeatPanel

    ens = tmp_path / "ens.ckpt"
    assert arena_cli("ensemble", ZOO, "zoo:ppo-cramped-s1", "zoo:ppo-cramped-s2", "-o", str(ens)).code == 0
    replay = tmp_path / "m.replay"
    play_match([str(ens), ZOO], env_kwargs=SHORT, episodes=2, swap=False, record_path=str(replay), record_episodes=1)
    trace = open_replay(replay).episodes[0]
    assert trace.extras[0]["votes"].shape[-1] == 6
    panel = SeatPanel(seat=0, color=(200, 80, 80), action_labels=("up", "down", "right", "left", "stay", "interact"))
    assert "votes" in panel.sections(trace)
    pygame.font.init()
    surf = pygame.Surface((320, 480))
    panel.draw(surf, surf.get_rect(), trace, t=5)
