"""A human series: one person plays a run of games with each agent of a tournament, without
knowing which agent is which, and rates each one after each game.

The agents are shown only as letters (`schedule.blind_letters`, drawn from the tournament
seed and the player) and played in the balanced order of `schedule.human_schedule`. A
finished game is stored at once, like any cell (its returns, length and metrics in `cells`),
with the letter, the player, the replay path and the reaction time in `human_games`; its
replay goes to data_dir()/human/<id>/. Then the player gives the 1-5 rating. Stopping loses
nothing: the same series later resumes at the first game not stored, and asks first for any
rating left out.

This module owns the schedule, the store and the ratings, and no window: whoever runs the
series passes three callables (`arena.commands.tournament` builds them from the viewer):

    announce(cell, title, lines) -> bool        the box before a game; False: the player stops
    play_game(GameRequest) -> dict              the game's human_games.csv row
                                                (`arena.human_results`), {} if nothing was played
    ask_rating(cell, title, lines, after_game) -> int | None
                                                1..5, None: the player stops; `after_game`: the
                                                game's last frame is still on screen
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from arena.paths import data_dir
from arena.tournaments.execute import CellResult
from arena.tournaments.report import build_report
from arena.tournaments.schedule import HUMAN, Cell, blind_letters
from arena.tournaments.spec import TournamentSpec
from arena.tournaments.store import Store
from arena.tournaments.tournament import Prepared, prepare


@dataclasses.dataclass(frozen=True)
class GameRequest:
    """One game of a series, as the window must play it."""

    cell: Cell
    title: str  # "game 3 of 6: your partner is B", shown while the game loads
    agent: str  # the agent's reference (a checkpoint path or zoo:NAME)
    env_id: str
    env_kwargs: dict
    seat: int  # the human's
    seed: int  # the cell's match seed: the game is episode 0 of a match with it
    replay_path: Path
    partner_label: str  # all the window may call the agent ("partner B")


Announce = Callable[[Cell, str, Sequence[str]], bool]
PlayGame = Callable[[GameRequest], dict]
AskRating = Callable[[Cell, str, Sequence[str], bool], "int | None"]


@dataclasses.dataclass
class SeriesInfo:
    id: str
    games_total: int
    games_played: int  # in this invocation; the rest came from the store
    stopped: bool  # the player stopped before the last game


def run_human_series(spec: TournamentSpec, *, play_game: PlayGame, announce: Announce, ask_rating: AskRating,
                     db: str | None = None) -> tuple[dict, SeriesInfo]:
    """Play the series' missing games (asking first for ratings left out) and return
    (report, info); the report is built from the store, as for any tournament."""
    prep = prepare(spec)
    letters = blind_letters(len(prep.loaded), spec.seed, spec.player)
    store = Store(db)
    try:
        store.begin_tournament(prep.id, spec.to_dict(), prep.canonical, prep.env_info,
                               list(zip(prep.agent_ids, prep.loaded)), len(spec.agents), len(prep.cells))
        done = store.done_cells(prep.id)
        todo = [c for c in prep.cells if c.index not in done]
        unrated = [g for g in store.human_games(prep.id) if g["rating"] is None]
        played, stopped = 0, not _rate_late(prep, store, unrated, ask_rating)
        if todo and not stopped:
            played, stopped = _play_games(prep, store, todo, letters, play_game, announce, ask_rating)
        if len(store.done_cells(prep.id)) == len(prep.cells):
            store.finish(prep.id)
        report = build_report(store.tournament(prep.id), store.cells(prep.id))
    finally:
        store.close()
    return report, SeriesInfo(prep.id, len(prep.cells), played, stopped)


def _rate_late(prep: Prepared, store: Store, unrated: list[dict], ask_rating: AskRating) -> bool:
    """Ask for the ratings of stored games the player left unrated; False if they stop again."""
    noun = noun_of(prep.env)
    cells = {c.index: c for c in prep.cells}
    for g in unrated:
        said = f"you stopped before rating game {g['cell'] + 1} of {len(prep.cells)}, with {noun} {g['letter']}"
        rating = ask_rating(cells[g["cell"]], *rating_question(noun, g["letter"], said), False)
        if rating is None:
            return False
        store.rate(prep.id, g["cell"], rating)
    return True


def rating_question(noun: str, letter: str, said: str) -> tuple[str, list[str]]:
    """The title and lines that ask for the 1-5 rating of the agent shown as `letter`."""
    return f"how good a {noun} was {letter}?", [said, "1 poor · 2 · 3 · 4 · 5 excellent",
                                                 "press 1 to 5 · Esc: stop here without rating"]


def game_title(game_no: int, total: int, noun: str, letter: str) -> str:
    return f"game {game_no} of {total}: your {noun} is {letter}"


def announce_lines(agents: int, noun: str, seat: int, seat_name: str, player: str, resume: str) -> list[str]:
    """The lines of the box before a game; `resume` says how the player goes on after Esc."""
    return [f"{agents} {noun}s, shown only as letters; after each game you rate the one you played.",
            f"you are seat {seat} ({seat_name}) · {player}",
            f"space: start · Esc: stop here ({resume})"]


def noun_of(env) -> str:
    return "partner" if env.spec.cooperative else "opponent"


def _play_games(prep: Prepared, store: Store, todo: list[Cell], letters: list[str], play_game: PlayGame,
                announce: Announce, ask_rating: AskRating) -> tuple[int, bool]:
    """Play `todo` in order until the player stops: (games stored, whether they stopped)."""
    spec, env = prep.spec, prep.env
    noun = noun_of(env)
    sides = [s["seats"] for s in prep.env_info["sides"]]
    total = len(prep.cells)
    played = 0
    for cell in todo:
        agent = next(i for i in cell.lineup if i != HUMAN)
        letter = letters[agent]
        game_no = cell.index + 1
        title = game_title(game_no, total, noun, letter)
        if not announce(cell, title, announce_lines(len(letters), noun, spec.seat, env.spec.seats[spec.seat], spec.player,
                                                    "the same command resumes the series")):
            break
        request = GameRequest(
            cell=cell, title=title, agent=spec.agents[agent], env_id=env.spec.id,
            env_kwargs=dict(prep.env_info["kwargs"]), seat=spec.seat, seed=cell.match_seed,
            replay_path=unused_path(data_dir() / "human" / prep.id / f"game-{game_no:02d}-{letter}"),
            partner_label=f"{noun} {letter}")
        start = time.perf_counter()
        row = play_game(request)
        if not row or not row["complete"]:
            break  # the partial game's replay and CSV row are kept; the cell is played again
        metrics = json.loads(row["metrics"])
        returns = np.asarray(json.loads(row["returns"]), np.float32)[None]  # (1 episode, S)
        result = CellResult(cell, returns, np.array([int(row["steps"])]),
                            {k: np.array([v], np.float32) for k, v in metrics.items()}, time.perf_counter() - start)
        store.add_human_game(prep.id, result, prep.agent_ids, sides, {
            "player": spec.player, "seat": spec.seat, "agent": prep.agent_ids[agent], "letter": letter,
            "replay": row["replay"], "mean_reaction_ms": row["mean_reaction_ms"] or None,
            "finished_utc": row["finished_utc"]})
        played += 1
        said = f"game {game_no} of {total} is stored: your return {row['human_return']:+.1f}, {metrics_text(env.spec.headline(metrics))}"
        rating = ask_rating(cell, *rating_question(noun, letter, said), True)
        if rating is None:
            break
        store.rate(prep.id, cell.index, rating)
    else:
        return played, False
    return played, True


def unused_path(stem: Path) -> Path:
    """stem.replay, or stem-2.replay, ... when a game was cut short there before: it stays."""
    path, k = stem.with_name(stem.name + ".replay"), 1
    while path.exists():
        k += 1
        path = stem.with_name(f"{stem.name}-{k}.replay")
    return path


def metrics_text(metrics: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(metrics.items())) or "no metrics"
