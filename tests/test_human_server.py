"""Human series through a real `arena serve` on loopback: a series created over HTTP, two
players who each play their games in a headless window (`arena play --server`'s loop, keys
posted as in test_human_series.py), replays the server re-simulates and re-enacts before they
count, forged replays refused with their status and one line, the Williams order balanced
across the players, ratings given late, and a server killed with SIGKILL that keeps them."""
import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pygame
import pytest
from serving import Server

from arena.checkpoint import new_agent, save_checkpoint
from arena.cli import main
from arena.replay import open_replay, write_replay
from arena.tournaments.store import Store
from arena.verify import verify_traces

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ROUNDS = 3


class RemotePlayer:
    """Presses space before each game, left at every step, and rates game n with `rate(n)`;
    Esc instead of the rating of game `stop_at_rating`."""

    def __init__(self, rate, stop_at_rating=None):
        self.rate, self.stop_at_rating = rate, stop_at_rating
        self.started, self.rated, self.steps, self.shown = set(), [], {}, {}

    def __call__(self, phase, obj):
        if phase == "start" and obj.number not in self.started:
            self.started.add(obj.number)
            self.current = obj.number
            _post(pygame.K_SPACE)
        elif phase == "game":
            self.shown[self.current] = [s.agent for s in obj.trace.sides if not s.human][0]
            if self.steps.setdefault(self.current, 0) == obj.trace.length:
                _post(pygame.K_LEFT)
                self.steps[self.current] += 1
        elif phase == "rate" and obj.number not in self.rated:
            self.rated.append(obj.number)
            _post(pygame.K_ESCAPE if obj.number == self.stop_at_rating else pygame.K_0 + self.rate(obj.number))


def _post(key):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))


def one_line_error(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"], body
    return body["error"]


def _forge(src, dst, **changes):
    """Rewrite the replay `src` with trace fields changed (a well-formed file: checksum and all)."""
    rep = open_replay(src)
    trace = dataclasses.replace(rep.episodes[0], **changes)
    write_replay(dst, [trace], metrics=[dict(rep.index[0].metrics)], meta=rep.header["meta"])
    return dst


def test_two_players_play_a_human_series_through_the_server(tmp_path, monkeypatch, capsys, arena_cli):
    from arena.commands.tournament import series_window
    from arena.server.client import Client
    from arena.server.human_client import play_remote_series
    from arena.server.tokens import Tokens
    from arena.viewer.human_game import PlayConfig

    agents = {}
    for action, name in ((0, "left"), (1, "right")):
        manifest, params = new_agent("scripted", "coord_game", seed=0, config={"rule": "constant", "action": action}, name=name)
        save_checkpoint(tmp_path / f"{name}.ckpt", manifest, params)
        agents[name] = tmp_path / f"{name}.ckpt"
    data = tmp_path / "server"
    server = Server(data)
    try:
        ids = {name: server.upload(path.read_bytes()).json()["id"] for name, path in agents.items()}
        store = Store(data / "tournaments.sqlite")
        player_token = Tokens(store.db).new("players", "submit")  # a submit token is all a player needs
        store.close()
        monkeypatch.setenv("ARENA_TOKEN", player_token)
        http, auth = server.http, server.auth(player_token)
        spec = {"mode": "human", "agents": [ids["left"], ids["right"]], "env": "coord_game",
                "env_kwargs": {"rounds": ROUNDS}, "seeds": 1, "seat": 0}
        created = http.post("/api/v1/tournaments", json=spec, headers=auth)
        assert created.status_code == 202, created.text
        sid = created.json()["id"]
        assert http.post("/api/v1/tournaments", json=spec, headers=auth).json()["id"] == sid  # the same series
        assert "join it by name" in one_line_error(http.post("/api/v1/tournaments", json={**spec, "player": "ann"}, headers=auth), 400)
        assert "/api/v1/tournaments/{tournament_id}/players/{player}/games/{number}" in http.get("/openapi.json").json()["paths"]
        one_line_error(http.post(f"/api/v1/tournaments/{sid}/players/ann/next"), 401)

        play = PlayConfig(tick_hz=40.0, countdown=0.0, size=(800, 520))
        ann = RemotePlayer(rate=lambda n: 5 - n)
        done = play_remote_series(Client(server.url), sid, "ann", **series_window(play, on_frame=ann))
        assert not done.stopped and done.played == 2 and done.games_done == done.games_total == 2
        assert sorted(ann.shown.values()) == ["partner A", "partner B"]  # the window named letters only

        _refusals(server, auth, ids["left"], agents["left"], capsys, arena_cli)

        # A replay posted again (a client that lost the answer) is the stored game, not a new one.
        ann_view = http.get(f"/api/v1/tournaments/{sid}").json()["players"][0]
        ann_replays = [g["replay"] for g in ann_view["report"]["human"]["games"]]
        ann_url = f"/api/v1/tournaments/{sid}/players/ann/games/1"
        again = http.post(ann_url, files={"file": ("g", Path(ann_replays[0]).read_bytes())}, headers=auth)
        assert again.status_code == 200 and again.json()["human_return"] == ann_view["report"]["human"]["games"][0]["human_return"]
        assert "stored already" in one_line_error(
            http.post(ann_url, files={"file": ("g", Path(ann_replays[1]).read_bytes())}, headers=auth), 409)

        # Bob's first game; before he plays it, forgeries posted as that game are refused.
        nxt = http.post(f"/api/v1/tournaments/{sid}/players/bob/next", headers=auth).json()
        game = nxt["game"]
        assert game["number"] == 1 and "name" not in game and "left" not in str(nxt) and "right" not in str(nxt)
        view = http.get(f"/api/v1/tournaments/{sid}").json()
        by_player = {p["player"]: p for p in view["players"]}
        ann_games = by_player["ann"]["report"]["human"]["games"]
        # A game's seed depends on the agent and the round, not the player: Ann's game with
        # Bob's first agent is his game's episode, the other one is not.
        agent_of = {a["id"]: a["name"] for a in view["agents"]}
        same = next(g for g in ann_games if g["agent"] == agent_of[game["agent"]])
        other = next(g for g in ann_games if g["agent"] != agent_of[game["agent"]])
        sides_same = open_replay(same["replay"]).sides
        ep_same = open_replay(same["replay"]).episodes[0]
        url = f"/api/v1/tournaments/{sid}/players/bob/games/1"

        def post(path):
            return http.post(url, files={"file": ("g.replay", path.read_bytes() if hasattr(path, "read_bytes") else path)},
                             headers=auth)

        forged = {
            "random bytes": (b"\x01" + os.urandom(2048), 415, "not an arena replay"),
            "other seed": (_forge(same["replay"], tmp_path / "seed.replay", seed=game["seed"] + 1), 422, "seed"),
            "other agent": (_forge(other["replay"], tmp_path / "agent.replay", seed=game["seed"]), 422, "another agent"),
            # The other agent's game, named as this one's: the re-enactment finds the agent's choices differ.
            "other agent's actions": (_forge(other["replay"], tmp_path / "acts.replay", seed=game["seed"], sides=sides_same),
                                      422, "this is not the game it played"),
            "edited returns": (_forge(same["replay"], tmp_path / "ret.replay", rewards=ep_same.rewards + 5.0), 422,
                               "re-simulated from its actions it returns"),
        }
        for case, (body, status, words) in forged.items():
            message = one_line_error(post(body), status)
            assert words in message, (case, message)
            assert "left" not in message and "right" not in message, (case, message)  # the agent stays blind
        assert "not the one handed out" in one_line_error(
            http.post(f"/api/v1/tournaments/{sid}/players/bob/games/2", files={"file": ("g", b"x")}, headers=auth), 409)
        assert http.get(f"/api/v1/tournaments/{sid}").json()["cells_done"] == 2  # nothing forged was stored

        # Bob plays game 1 for real, then stops instead of rating it; the server is killed.
        bob = RemotePlayer(rate=lambda n: n + 2, stop_at_rating=1)
        done = play_remote_series(Client(server.url), sid, "bob", **series_window(play, on_frame=bob))
        assert done.stopped and done.played == 1 and done.games_done == 1
        server.kill()
        server = Server(data)
        http = server.http
        view = http.get(f"/api/v1/tournaments/{sid}").json()
        assert view["cells_done"] == 3 and [p["player"] for p in view["players"]] == ["ann", "bob"]
        # The same command resumes: the missing rating first, then game 2.
        bob = RemotePlayer(rate=lambda n: n + 2)
        done = play_remote_series(Client(server.url), sid, "bob", **series_window(play, on_frame=bob))
        assert not done.stopped and done.played == 1 and bob.rated == [1, 2] and done.games_done == 2

        view = http.get(f"/api/v1/tournaments/{sid}").json()
        assert view["cells_done"] == view["cells_total"] == 4
        players = {p["player"]: p for p in view["players"]}
        # Balanced across players: rows are handed out in join order, so Bob meets the agents in
        # the other order, and each agent is met first once and second once.
        assert (players["ann"]["row"], players["bob"]["row"]) == (0, 1)
        order = {name: [g["agent"] for g in p["report"]["human"]["games"]] for name, p in players.items()}
        assert order["ann"] == order["bob"][::-1] and sorted(order["ann"]) == ["left", "right"]
        assert {a["agent"]: a["positions"] for a in view["human"]["agents"]} == {"left": [1, 1], "right": [1, 1]}
        for name, rate in (("ann", lambda n: 5 - n), ("bob", lambda n: n + 2)):
            for g in players[name]["report"]["human"]["games"]:
                assert g["rating"] == rate(g["game"])  # ratings stored, the late one too
                # Always left: every round agrees with `left` (1 a round), none with `right`.
                assert g["human_return"] == (ROUNDS if g["agent"] == "left" else 0.0)
                # The stored numbers are the re-simulation's: the server's copy of the replay
                # re-simulates, and its rewards sum to the stored return.
                rep = open_replay(g["replay"])
                assert str(g["replay"]).startswith(str(data)) and verify_traces(rep.episodes).ok
                assert float(rep.episodes[0].rewards[:, 0].sum()) == g["human_return"]
        pooled = {a["agent"]: a for a in view["human"]["agents"]}
        assert pooled["left"]["human_return"]["mean"] == ROUNDS and pooled["right"]["players"] == 2

        # Like any series: matches with replays, the page, and `arena tournament show` on the data dir.
        ann_tid = players["ann"]["tournament"]
        matches = http.get(f"/api/v1/matches?tournament={ann_tid}").json()["matches"]
        assert len(matches) == 2 and all(m["replay"] for m in matches)
        assert http.get(matches[0]["replay"]).content[:8] == b"ARENARPL"
        assert {tuple(m["names"]) for m in matches} == {("human", "left"), ("human", "right")}
        mine = http.get(f"/tournaments/{ann_tid}")
        assert mine.status_code == 200 and "Human series: ann" in mine.text and "human vs left" in mine.text
        page = http.get(f"/tournaments/{sid}")
        assert page.status_code == 200 and "ann" in page.text and "bob" in page.text and "left" in page.text
        assert sid in http.get("/").text
        db = str(data / "tournaments.sqlite")
        capsys.readouterr()
        main(["tournament", "show", ann_tid, "--db", db])  # SystemExit on any error
        assert "human series: ann on seat 0" in capsys.readouterr().out
        # The client command on a finished series: nothing to play, no window needed.
        main(["play", "--server", server.url, "--player", "ann", sid])
        assert "0 game(s) played now, 2 of 2 stored" in capsys.readouterr().out
        main(["remote", "status", sid, "--server", server.url])
        assert "human series: bob on seat 0" in capsys.readouterr().out
    finally:
        server.stop()


def _refusals(server, auth, aid, path, capsys, arena_cli):
    """Bad series specs, names, games and ratings: each refused with its status and one line."""
    http = server.http
    cases = [
        ({"mode": "human", "agents": [aid], "env": "coord_game", "episodes": 4}, 400, "one episode per game"),
        ({"mode": "human", "agents": [aid], "env": "coord_game", "seat": 7}, 400, "seat"),
        ({"mode": "human", "agents": ["f" * 12], "env": "coord_game"}, 400, "does not have"),
    ]
    for spec, status, words in cases:
        assert words in one_line_error(http.post("/api/v1/tournaments", json=spec, headers=auth), status)
    capsys.readouterr()
    main(["remote", "run", "--mode", "human", aid, "--env", "coord_game", "--seat", "1", "--server", server.url, "--json"])
    sid = json.loads(capsys.readouterr().out)["id"]
    again = http.post("/api/v1/tournaments", json={"mode": "human", "agents": [aid], "env": "coord_game", "seat": 1}, headers=auth)
    assert again.status_code == 200 and again.json()["id"] == sid
    assert "player's name" in one_line_error(http.post(f"/api/v1/tournaments/{sid}/players/x%20y/next", headers=auth), 400)
    one_line_error(http.post("/api/v1/tournaments/0123456789ab/players/ann/next", headers=auth), 404)
    assert "has not joined" in one_line_error(http.post(f"/api/v1/tournaments/{sid}/players/zed/games/1",
                                                        files={"file": ("g", b"x")}, headers=auth), 404)
    assert http.post(f"/api/v1/tournaments/{sid}/players/ann/next", headers=auth).json()["game"]["seat"] == 1
    rating = http.post(f"/api/v1/tournaments/{sid}/players/ann/games/1/rating", json={"rating": 9}, headers=auth)
    assert "1 (poor) to 5" in one_line_error(rating, 400)
    assert "not stored yet" in one_line_error(
        http.post(f"/api/v1/tournaments/{sid}/players/ann/games/1/rating", json={"rating": 3}, headers=auth), 409)
    assert http.get(f"/api/v1/agents/{aid}/checkpoint").content == path.read_bytes()
    assert http.delete(f"/api/v1/tournaments/{sid}", headers=auth).json()["status"] == "cancelled"
    assert "cancelled" in one_line_error(http.post(f"/api/v1/tournaments/{sid}/players/cat/next", headers=auth), 409)
    for args, words in ((["play", "--server", server.url, "--player", "cat", sid], "it takes no new players"),
                        (["play", "--server", server.url, "--player", "cat", "a", "b"], "at most one argument"),
                        (["play", "--server", "http://127.0.0.1:9", "--player", "cat"], "no arena server at")):
        run = arena_cli(*args)
        assert run.code == 2 and words in run.err and len(run.err_lines) == 1, (args, run.err)


def test_reenact_gives_the_agents_choices_and_the_true_returns(tmp_path):
    """A human game re-enacted from the human's keys alone: the agent's actions and the rewards
    the runner gives, here worked out by hand (coord_game pays 1 a round to both on agreement)."""
    from arena.checkpoint import load_agent
    from arena.lineup import human_lineup
    from arena.runner import human_match_agents
    from arena.verify import reenact

    manifest, params = new_agent("scripted", "coord_game", seed=0, config={"rule": "constant", "action": 1}, name="right")
    save_checkpoint(tmp_path / "right.ckpt", manifest, params)
    right = load_agent(tmp_path / "right.ckpt")
    line = human_lineup([right], 0, env_id="coord_game", env_kwargs={"rounds": 4})
    agents, ps = human_match_agents(line)
    human = np.array([[1, 0], [0, 0], [1, 0], [1, 0]], np.int32)  # the agent's column is ignored
    got = reenact(line.env, agents, ps, 7, 0, np.array([True, False]), human)
    assert got.actions[:, 1].tolist() == [1, 1, 1, 1] and got.actions[:, 0].tolist() == [1, 0, 1, 1]
    assert got.ended and got.length == 4 and got.returns.tolist() == [3.0, 3.0]
    assert got.metrics == {"agreement": 0.75}
    short = reenact(line.env, agents, ps, 7, 0, np.array([True, False]), human[:2])
    assert not short.ended and short.length == 2 and short.returns.tolist() == [1.0, 1.0] and short.metrics == {}
