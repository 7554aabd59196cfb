"""The player's side of a human series on a server (`arena play --server URL --player NAME`):
ask for the next game, fetch its agent, play it in the local window, post the replay, then the
rating; until the series is done or the player stops.

Like `arena.tournaments.human.run_human_series`, it owns no window: it takes the same three
callables (announce, play_game, ask_rating; `arena.commands.tournament.series_window` builds
them), and shows the same boxes. The server decides what a game scored: the return shown
after a game is the one it re-simulated, not the one the window counted.
"""
from __future__ import annotations

import dataclasses
import urllib.parse
from pathlib import Path

from arena.checkpoint import load_agent
from arena.errors import UserError
from arena.fileio import atomic_write
from arena.paths import data_dir
from arena.server.client import Client
from arena.tournaments.human import (
    Announce,
    AskRating,
    GameRequest,
    PlayGame,
    announce_lines,
    game_title,
    rating_question,
    unused_path,
)
from arena.tournaments.tournament import agent_id

RESUME = "`arena play --server` with the same player resumes the series"


@dataclasses.dataclass(frozen=True)
class RemoteGame:
    """What the boxes and scripts are told about a game: never which agent it is."""

    index: int  # game number - 1, as a Cell's index
    number: int
    letter: str


@dataclasses.dataclass
class RemoteSeries:
    series: str
    player: str
    tournament: str | None  # the player's own series in the server's store
    games_total: int
    games_done: int
    played: int  # games posted in this sitting
    stopped: bool
    returns: list[float]  # the player's re-simulated return of each game posted now


def pick_series(client: Client, given: str | None) -> str:
    """The series to play: the one given, else the only running one on the server."""
    if given:
        return given
    running = [s for s in client.get("/api/v1/human-series")["series"] if s["status"] == "running"]
    if len(running) == 1:
        return running[0]["id"]
    if not running:
        raise UserError(f"{client.url} runs no human series; create one with `POST /api/v1/tournaments` "
                        "{\"mode\": \"human\", ...} and give its id")
    raise UserError(f"{client.url} runs {len(running)} human series ({', '.join(s['id'] for s in running)}); give one's id")


def fetch_agent(client: Client, game: dict, cache: Path) -> Path:
    """The game's agent checkpoint, downloaded once into `cache` and checked against its id."""
    path = cache / f"{game['agent']}.ckpt"
    if not path.exists():
        data = client.download(game["download"])
        tmp = cache / f"{game['agent']}.download"
        atomic_write(tmp, data)
        try:
            got = agent_id(load_agent(tmp))
        except UserError:
            tmp.unlink(missing_ok=True)
            raise UserError(f"{client.url} sent a game's agent that is not a checkpoint this arena loads") from None
        if got != game["agent"]:
            tmp.unlink(missing_ok=True)
            raise UserError(f"{client.url} sent an agent whose content id is {got[:12]}, not the game's {game['agent'][:12]}")
        tmp.replace(path)
    return path


def play_remote_series(client: Client, series: str, player: str, *, announce: Announce, play_game: PlayGame,
                       ask_rating: AskRating, cache: Path | None = None) -> RemoteSeries:
    """Play `player`'s games of `series` on the server until none is left or the player stops."""
    cache = cache or data_dir() / "server-agents"
    base = f"/api/v1/tournaments/{urllib.parse.quote(series, safe='')}/players/{urllib.parse.quote(player, safe='')}"
    out = RemoteSeries(series, player, None, 0, 0, 0, False, [])
    while True:
        nxt = client.post_json(base + "/next", {})
        out.tournament, out.games_total, out.games_done = nxt["tournament"], nxt["games_total"], nxt["games_done"]
        noun = nxt["noun"]
        for u in nxt["unrated"]:  # a rating left out before is asked for first, as locally
            said = f"you stopped before rating game {u['game']} of {out.games_total}, with {noun} {u['letter']}"
            rating = ask_rating(RemoteGame(u["game"] - 1, u["game"], u["letter"]), *rating_question(noun, u["letter"], said), False)
            if rating is None:
                out.stopped = True
                return out
            client.post_json(f"{base}/games/{u['game']}/rating", {"rating": rating})
        if nxt["done"]:
            return out
        g = nxt["game"]
        game = RemoteGame(g["number"] - 1, g["number"], g["letter"])
        title = game_title(g["number"], out.games_total, noun, g["letter"])
        if not announce(game, title, announce_lines(nxt["agents"], noun, g["seat"], nxt["seat_name"], player, RESUME)):
            out.stopped = True
            return out
        ckpt = fetch_agent(client, g, cache)
        row = play_game(GameRequest(
            cell=game, title=title, agent=str(ckpt), env_id=g["env"], env_kwargs=dict(g["env_kwargs"]),
            seat=g["seat"], seed=g["seed"], partner_label=f"{noun} {g['letter']}",
            replay_path=unused_path(data_dir() / "human" / out.tournament / f"game-{g['number']:02d}-{g['letter']}")))
        if not row or not row["complete"]:
            out.stopped = True  # the cut-short game's replay stays here; the server hands the game out again
            return out
        stored = client.post_file(f"{base}/games/{g['number']}", Path(row["replay"]), Path(row["replay"]).name)
        out.played += 1
        out.games_done = stored["games_done"]
        out.returns.append(stored["human_return"])
        said = (f"game {g['number']} of {out.games_total} is stored: your return {stored['human_return']:+.1f}, "
                f"{stored['metrics_text']}")
        rating = ask_rating(game, *rating_question(noun, g["letter"], said), True)
        if rating is None:
            out.stopped = True
            return out
        client.post_json(f"{base}/games/{g['number']}/rating", {"rating": rating})
