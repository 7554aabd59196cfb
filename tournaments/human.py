"""A human series: one person plays a run of games with each agent of a tournament, in a
window, without knowing which agent is which, and rates each one after each game.

The agents are shown only as letters (`schedule.blind_letters`, drawn from the tournament
seed and the player) and played in the balanced order of `schedule.human_schedule`. Each game
is the player's own `arena play` game, blind: the scene and the player's panel as usual, the
agent's panel with its actions only. A finished game is stored at once, like any cell (its
returns, length and metrics in `cells`), with the letter, the player, the replay path and
the reaction time in `human_games`; its replay goes to data_dir()/human/<id>/ and its row to
human_games.csv. Then the player gives the 1-5 rating. Stopping (Esc, closing the window)
loses nothing: the same command later resumes at the first game not stored.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from arena.tournaments.spec import TournamentSpec
from arena.tournaments.store import Store


@dataclasses.dataclass
class SeriesInfo:
    id: str
    games_total: int
    games_played: int  # in this invocation; the rest came from the store
    stopped: bool  # the player stopped before the last game


def run_human_series(
    spec: TournamentSpec,
    *,
    db: str | None = None,
    play=None,
    on_frame: Callable[[str, object], None] | None = None,
) -> tuple[dict, SeriesInfo]:
    """Play the series' missing games in a window and return (report, info).

    `play` is the viewer.human.PlayConfig every game starts from (tick rate, window size...).
    `on_frame(phase, obj)` is called every frame with phase "start" (the box before a game;
    obj: the Cell), "game" (obj: the HumanGame) or "rate" (obj: the Cell): scripts and tests
    post their key events there.
    """
    from arena.tournaments.report import build_report
    from arena.tournaments.schedule import blind_letters
    from arena.tournaments.tournament import prepare
    from arena.viewer.human import PlayConfig

    prep = prepare(spec)
    letters = blind_letters(len(prep.loaded), spec.seed, spec.player)
    play = dataclasses.replace(play or PlayConfig(), seat=spec.seat, close_at_end=True)
    store = Store(db)
    try:
        store.begin_tournament(prep.id, spec.to_dict(), prep.canonical, prep.env_info,
                               list(zip(prep.agent_ids, prep.loaded)), len(spec.agents), len(prep.cells))
        done = store.done_cells(prep.id)
        todo = [c for c in prep.cells if c.index not in done]
        unrated = [g for g in store.human_games(prep.id) if g["rating"] is None]
        played, stopped = 0, not _rate_late(prep, store, unrated, play, on_frame)
        if todo and not stopped:
            played, stopped = _play_games(prep, store, todo, letters, play, on_frame)
        if len(store.done_cells(prep.id)) == len(prep.cells):
            store.finish(prep.id)
        report = build_report(store.tournament(prep.id), store.cells(prep.id))
    finally:
        store.close()
    return report, SeriesInfo(prep.id, len(prep.cells), played, stopped)


def _rate_late(prep, store: Store, unrated: list[dict], play, on_frame) -> bool:
    """Ask for the ratings of stored games the player left unrated; False if they stop again."""
    noun = _noun(prep.env)
    cells = {c.index: c for c in prep.cells}
    for g in unrated:
        said = f"you stopped before rating game {g['cell'] + 1} of {len(prep.cells)}, with {noun} {g['letter']}"
        rating = _ask_rating(noun, g["letter"], said, play, _hook(on_frame, "rate", cells[g["cell"]]))
        if rating is None:
            return False
        store.rate(prep.id, g["cell"], rating)
    return True


def _ask_rating(noun: str, letter: str, said: str, play, on_frame, background=None) -> int | None:
    """The 1-5 rating of the agent shown as `letter`; None if the player stops instead."""
    from arena.viewer.human import RATING_KEYS, ask

    return ask(f"how good a {noun} was {letter}?", [said, "1 poor · 2 · 3 · 4 · 5 excellent",
                                                     "press 1 to 5 · Esc: stop here without rating"],
               RATING_KEYS, background=background, size=play.size, on_frame=on_frame)


def _hook(on_frame, phase: str, obj):
    """`on_frame` bound to a phase and its object, as a window loop calls it; None without one."""
    return None if on_frame is None else lambda *_: on_frame(phase, obj)


def _noun(env) -> str:
    return "partner" if env.spec.cooperative else "opponent"


def _play_games(prep, store: Store, todo: list, letters: list[str], play, on_frame) -> tuple[int, bool]:
    """Play `todo` in order until the player stops: (games stored, whether they stopped)."""
    import pygame

    from arena.paths import data_dir
    from arena.tournaments.execute import CellResult
    from arena.tournaments.schedule import HUMAN
    from arena.viewer.human import GO_KEYS, HumanGame, ask, draw_message

    spec, env = prep.spec, prep.env
    noun = _noun(env)
    sides = [s["seats"] for s in prep.env_info["sides"]]
    total = len(prep.cells)
    played = 0
    for cell in todo:
        agent = next(i for i in cell.lineup if i != HUMAN)
        letter = letters[agent]
        game_no = cell.index + 1
        go = ask(f"game {game_no} of {total}: your {noun} is {letter}", [
            f"{len(letters)} {noun}s, shown only as letters; after each game you rate the one you played.",
            f"you are seat {spec.seat} ({env.spec.seats[spec.seat]}) · {spec.player}",
            "space: start · Esc: stop here (the same command resumes the series)",
        ], GO_KEYS, size=play.size, on_frame=_hook(on_frame, "start", cell))
        if not go:
            break
        draw_message(pygame.display.get_surface(), f"game {game_no} of {total}: your {noun} is {letter}",
                     ["loading and compiling…"])
        pygame.display.flip()
        replay = _unused(data_dir() / "human" / prep.id / f"game-{game_no:02d}-{letter}")
        config = dataclasses.replace(play, seed=cell.match_seed, replay_path=replay, partner_label=f"{noun} {letter}")
        game = HumanGame([spec.agents[agent]], env_id=env.spec.id, env_kwargs=dict(prep.env_info["kwargs"]), config=config)
        start = time.perf_counter()
        row = game.run(on_frame=_hook(on_frame, "game", game))
        if not row or not row["complete"]:
            break  # the partial game's replay and CSV row are kept; the cell is played again
        trace = game.trace
        metrics = json.loads(row["metrics"])
        result = CellResult(cell, trace.rewards[: trace.length].sum(axis=0, keepdims=True), np.array([trace.length]),
                            {k: np.array([v], np.float32) for k, v in metrics.items()}, time.perf_counter() - start)
        store.add_human_game(prep.id, result, prep.agent_ids, sides, {
            "player": spec.player, "seat": spec.seat, "agent": prep.agent_ids[agent], "letter": letter,
            "replay": row["replay"], "mean_reaction_ms": row["mean_reaction_ms"] or None,
            "finished_utc": row["finished_utc"]})
        played += 1
        last_frame = pygame.display.get_surface().copy() if pygame.display.get_surface() else None
        said = f"game {game_no} of {total} is stored: your return {row['human_return']:+.1f}, {_metrics_text(metrics)}"
        rating = _ask_rating(noun, letter, said, play, _hook(on_frame, "rate", cell), background=last_frame)
        if rating is None:
            break
        store.rate(prep.id, cell.index, rating)
    else:
        return played, False
    return played, True


def _unused(stem: Path) -> Path:
    """stem.replay, or stem-2.replay, ... when a game was cut short there before: it stays."""
    path, k = stem.with_name(stem.name + ".replay"), 1
    while path.exists():
        k += 1
        path = stem.with_name(f"{stem.name}-{k}.replay")
    return path


def _metrics_text(metrics: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(metrics.items())) or "no metrics"
