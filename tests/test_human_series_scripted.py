"""The human series' own logic (schedule, letters, store, late ratings, resuming) with no
window: a scripted player whose "keyboard" is a scripted agent, each game played headless
through the match runner. pygame is never needed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from arena.match import play_match
from arena.tournaments.human import run_human_series
from arena.tournaments.schedule import HUMAN


class ScriptedPlayer:
    """announce / play_game / ask_rating of a series, scripted. Each game is episode 0 of a
    match with the game's seed, `me` playing the human's seat; `stop` holds the moments
    ("announce", "rating" or "game", game number) at which the player stops instead."""

    def __init__(self, me: str, names: dict, ratings: dict, stop=()):
        self.me, self.names, self.ratings, self.stop = me, names, ratings, set(stop)
        self.announced, self.requests, self.questions = [], [], []

    def announce(self, cell, title, lines) -> bool:
        self.announced.append(cell.index + 1)
        return ("announce", cell.index + 1) not in self.stop

    def play_game(self, request) -> dict:
        self.requests.append(request)
        n_seats = 2  # coord_game: one seat per side
        refs = [self.me if s == request.seat else request.agent for s in range(n_seats)]
        report, results = play_match(refs, env_id=request.env_id, env_kwargs=request.env_kwargs, episodes=1,
                                     seed=request.seed, swap=False, record_path=str(request.replay_path),
                                     record_episodes=1)
        r = results[0]
        returns = [float(x) for x in r.returns[0]]
        return {"finished_utc": "2024-01-01T00:00:00+00:00", "env": request.env_id, "steps": int(r.length[0]),
                "complete": ("game", request.cell.index + 1) not in self.stop,  # stopped in the middle
                "human_return": returns[request.seat], "returns": json.dumps(returns),
                "metrics": json.dumps({k: float(v[0]) for k, v in r.metrics.items()}), "mean_reaction_ms": 250.0,
                "replay": str(Path(report["replay"]["path"]).absolute())}

    def ask_rating(self, cell, title, lines, after_game):
        self.questions.append((cell.index + 1, title, after_game))
        if ("rating", cell.index + 1) in self.stop:
            return None
        agent = next(i for i in cell.lineup if i != HUMAN)
        return self.ratings[self.names[agent]]

    def callables(self) -> dict:
        return {"announce": self.announce, "play_game": self.play_game, "ask_rating": self.ask_rating}


def test_series_logic_with_a_scripted_player_stored_stopped_rated_late_and_resumed(make_ckpt, coord_series, tmp_path,
                                                                                   monkeypatch):
    # Its own data dir: the windowed series test plays the same spec (same id, same replay folder).
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))
    me = str(make_ckpt("scripted", "coord_game", config={"rule": "constant", "action": 0}, name="me"))
    refs, names, spec, db, ratings = coord_series
    by_name = dict(enumerate(names))

    # First sitting: games 1 and 2 are played; the player stops instead of rating game 2.
    first = ScriptedPlayer(me, by_name, ratings, stop={("rating", 2)})
    report, info = run_human_series(spec, db=db, **first.callables())
    assert info.stopped and info.games_played == 2 and info.games_total == 6 and report["cells_done"] == 2
    assert first.announced == [1, 2] and [q[0] for q in first.questions] == [1, 2]
    assert all(after for _, _, after in first.questions)  # each asked right after its game
    assert [g["rating"] for g in report["human"]["games"]] == [ratings[report["human"]["games"][0]["agent"]], None]

    # Second sitting: the missing rating first (no game behind it), then game 3 is cut short.
    second = ScriptedPlayer(me, by_name, ratings, stop={("game", 3)})
    report, info = run_human_series(spec, db=db, **second.callables())
    assert info.stopped and info.games_played == 0 and report["cells_done"] == 2
    assert second.questions[0][0] == 2 and second.questions[0][2] is False and len(second.questions) == 1
    assert all(g["rating"] is not None for g in report["human"]["games"])
    cut_short = second.requests[0].replay_path
    assert cut_short.name.startswith("game-03-") and cut_short.exists()

    # Third sitting: game 3 again from its start, beside the cut-short replay; then the rest.
    third = ScriptedPlayer(me, by_name, ratings)
    report, info = run_human_series(spec, db=db, **third.callables())
    assert not info.stopped and info.games_played == 4 and report["finished"]
    assert third.announced == [3, 4, 5, 6]
    assert third.requests[0].replay_path == cut_short.with_name(cut_short.stem + "-2.replay") and cut_short.exists()

    games = report["human"]["games"]
    assert [g["game"] for g in games] == [1, 2, 3, 4, 5, 6]
    assert sorted(g["agent"] for g in games[:3]) == sorted(g["agent"] for g in games[3:]) == sorted(names)
    # Blind: each request names the agent by its stored letter only; the seed is the cell's.
    requests = {r.cell.index + 1: r for p in (first, second, third) for r in p.requests}
    for g in games:
        r = requests[g["game"]]
        assert r.partner_label == f"partner {g['letter']}" and f"your partner is {g['letter']}" in r.title
        assert r.seed == r.cell.match_seed and r.seat == 0 and r.env_kwargs == {"rounds": 3}
        assert g["replay"] == str(r.replay_path) and os.path.isabs(g["replay"]) and os.path.exists(g["replay"])
    assert sorted({g["letter"] for g in games}) == ["A", "B", "C"]
    # "me" always chooses left: three coordinated rounds with `left`, none with `right`.
    by_agent = {r["agent"]: r for r in report["human"]["partners"]}
    assert by_agent["left"]["human_return"]["mean"] == 3.0 and by_agent["right"]["human_return"]["mean"] == 0.0
    for name, r in by_agent.items():
        assert r["games"] == 2 and r["ratings"] == 2 and r["rating"]["mean"] == ratings[name]
        assert r["reaction_ms"] == 250.0
    assert np.isfinite([g["human_return"] for g in games]).all()


def test_the_series_and_its_wiring_import_no_window_and_the_results_file_no_jax():
    # The line-ups build envs (jax), but nothing below the viewer opens a window; the CSV of
    # human games is plain Python.
    code = ("import sys\n"
            "import arena.human_results\n"
            "assert 'jax' not in sys.modules and 'pygame' not in sys.modules, 'results'\n"
            "import arena.lineup\n"
            "assert 'pygame' not in sys.modules, 'core'\n"
            "import arena.tournaments.human, arena.commands.tournament\n"
            "assert 'pygame' not in sys.modules, 'series'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
