"""The human series (`arena tournament --mode human`): the balanced blind order, a whole
series played headless through posted key events, stored like any tournament, stopped in
the middle of a game and resumed, with the ratings the player gave."""
import os

import pygame
import pytest

from arena.tournaments.schedule import HUMAN, blind_letters, williams_rows

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_williams_rows_balance_positions_and_successors(n):
    rows = williams_rows(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(r) == list(range(n)) for r in rows)
    per = len(rows) // n
    for pos in range(n):  # each agent in each position equally often
        assert sorted(r[pos] for r in rows) == sorted(list(range(n)) * per)
    follows = {}
    for r in rows:
        for a, b in zip(r, r[1:]):
            follows[(a, b)] = follows.get((a, b), 0) + 1
    # each agent follows every other one equally often (first-order carry-over balanced)
    assert set(follows) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert len(set(follows.values())) <= 1


def test_blind_letters_are_a_per_player_shuffle():
    a = blind_letters(5, 0, "ann")
    assert sorted(a) == list("ABCDE") and a == blind_letters(5, 0, "ann")
    shuffles = {tuple(blind_letters(5, 0, p)) for p in ("ann", "bob", "cat", "dan", "eve", "fay")}
    assert len(shuffles) > 1


class Player:
    """Plays a series by posting keys: space to start a game, `move` every step, `ratings[agent]`
    after it; Esc one step into game number `stop_in_game`, or instead of rating `stop_at_rating`."""

    def __init__(self, names, move, ratings, stop_in_game=None, stop_at_rating=None):
        self.names, self.move, self.ratings = names, move, ratings
        self.stop_in_game, self.stop_at_rating = stop_in_game, stop_at_rating
        self.started, self.rated, self.steps = set(), set(), {}
        self.shown = {}  # game number -> what the window called the agent

    def __call__(self, phase, obj):
        if phase == "start" and obj.index not in self.started:
            self.started.add(obj.index)
            self.current = obj.index + 1
            _post(pygame.K_SPACE)
        elif phase == "game":
            game, n = obj, self.current
            self.shown[n] = [s.agent for s in game.trace.sides if not s.human][0]
            posted = self.steps.setdefault(n, 0)
            if n == self.stop_in_game and game.trace.length == 1:
                _post(pygame.K_ESCAPE)
            elif posted == game.trace.length:
                _post(self.move)
                self.steps[n] += 1
        elif phase == "rate" and obj.index not in self.rated:
            self.rated.add(obj.index)
            if obj.index + 1 == self.stop_at_rating:
                return _post(pygame.K_ESCAPE)
            agent = next(i for i in obj.lineup if i != HUMAN)
            _post(pygame.K_0 + self.ratings[self.names[agent]])


def _post(key):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))


def test_human_series_blind_balanced_stored_stopped_and_resumed(coord_series, tmp_path, arena_cli):
    from arena.commands.tournament import series_window
    from arena.human_results import read_results
    from arena.replay import open_replay
    from arena.tournaments.human import run_human_series
    from arena.tournaments.store import Store
    from arena.verify import verify_traces
    from arena.viewer.human_game import PlayConfig

    refs, names, spec, db, ratings = coord_series
    play = PlayConfig(tick_hz=40.0, countdown=0.0, size=(800, 520))

    # First sitting: game 1, then game 2 left unrated.
    first = Player(names, pygame.K_LEFT, ratings, stop_at_rating=2)
    report, info = run_human_series(spec, db=db, **series_window(play, on_frame=first))
    assert info.stopped and info.games_played == 2 and info.games_total == 6
    assert report["cells_done"] == 2 and not report["finished"]
    assert [g["rating"] is None for g in report["human"]["games"]] == [False, True]
    # Second sitting: the missing rating is asked first; then Esc one step into game 3.
    second = Player(names, pygame.K_LEFT, ratings, stop_in_game=3)
    report, info = run_human_series(spec, db=db, **series_window(play, on_frame=second))
    assert info.stopped and info.games_played == 0 and second.rated == {1} and report["cells_done"] == 2
    assert all(g["rating"] is not None for g in report["human"]["games"])
    # The cut-short game 3 is kept as a replay and a CSV row, but it is not a stored game.
    partial = [r for r in read_results() if r["complete"] == "False" and info.id in r["replay"]]
    assert len(partial) == 1 and os.path.exists(partial[0]["replay"])

    # Third sitting: the same spec resumes at game 3 and plays it in full.
    third = Player(names, pygame.K_LEFT, ratings)
    report, info = run_human_series(spec, db=db, **series_window(play, on_frame=third))
    assert not info.stopped and info.games_played == 4 and report["finished"]
    assert min(third.started) == 2  # cell index 2 = game 3, played again from its start
    assert os.path.exists(partial[0]["replay"])  # the cut-short game's replay is not overwritten

    human = report["human"]
    games = human["games"]
    assert [g["game"] for g in games] == [1, 2, 3, 4, 5, 6]
    # Balanced: each round of three games meets every agent once.
    assert sorted(g["agent"] for g in games[:3]) == sorted(g["agent"] for g in games[3:]) == sorted(names)
    # Blind: the window named each agent by its letter only, one letter per agent.
    letters = {g["agent"]: g["letter"] for g in games}
    assert sorted(letters.values()) == ["A", "B", "C"]
    shown = {**first.shown, **second.shown, **third.shown}
    assert all(shown[g["game"]] == f"partner {g['letter']}" for g in games)
    assert all(letters[g["agent"]] == g["letter"] for g in games)
    # The player always pressed left: three coordinated rounds with `left`, none with `right`.
    by_agent = {r["agent"]: r for r in human["partners"]}
    assert by_agent["left"]["human_return"]["mean"] == 3.0 and by_agent["right"]["human_return"]["mean"] == 0.0
    for name, r in by_agent.items():
        assert r["games"] == 2 and r["ratings"] == 2 and r["rating"]["mean"] == ratings[name]
    assert [g["rating"] for g in games] == [ratings[g["agent"]] for g in games]

    assert partial[0]["replay"] not in [g["replay"] for g in games]
    # Each game's replay names the real agent and re-simulates to the same states.
    for g in games:
        rep = open_replay(g["replay"])
        assert [s.agent for s in rep.sides if not s.human] == [g["agent"]]
        assert verify_traces(rep.episodes).ok
    # Stored like any tournament: `show` reprints the same numbers from the store alone.
    store = Store(db)
    try:
        assert len(store.human_games(report["id"])) == 6
    finally:
        store.close()
    assert arena_cli("tournament", "show", report["id"][:8], "--db", db).code == 0
    # The CLI names the same series (same spec, same id): nothing left to play, the report again.
    run = arena_cli("tournament", "--mode", "human", *refs, "--env", "coord_game", "--env-kw", "rounds=3",
                    "--seeds", "2", "--player", "tester", "--db", db, "--out", tmp_path / "out")
    assert run.code == 0, run.err
    out = run.out
    assert f"tournament {report['id']} human" in out and "0 game(s) played now, 6 of 6 stored" in out
    assert (tmp_path / "out" / "cells.csv").read_text().count("\n") == 7 and not (tmp_path / "out" / "heatmap.png").exists()


def test_human_series_bad_input_is_one_line(make_ckpt, tmp_path, arena_cli):
    left = str(make_ckpt("scripted", "coord_game", config={"rule": "constant", "action": 0}, name="left"))
    prey = str(make_ckpt("random", "mpe_tag", side="prey"))
    db = str(tmp_path / "t.sqlite")
    cases = [
        (["--mode", "human", left, "--env", "coord_game", "--episodes", "4"], "one episode per game"),
        (["--mode", "human", left, "--env", "coord_game", "--seat", "5"], "--seat 5"),
        (["--mode", "human", prey, "--env", "mpe_tag", "--seat", "0"], "side 'predators' of 3 seats"),
        (["--mode", "crossplay", left, left, "--player", "ann"], "are for human series"),
    ]
    from arena.errors import UserError
    from arena.tournaments.spec import make_spec
    from arena.tournaments.tournament import run_tournament

    with pytest.raises(UserError, match="played in a window"):
        run_tournament(make_spec("human", [left], env="coord_game", player="ann"), db=db)
    for args, message in cases:
        run = arena_cli("tournament", *args, "--db", db)
        assert run.code == 2
        assert message in run.err and len(run.err_lines) == 1 and "Traceback" not in run.err
