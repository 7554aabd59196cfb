"""The results store: SQLite in WAL mode under the user data dir (or --db).

Tables: tournaments (one row per spec id), agents (by content sha256), cells (one row per
lineup and replicate: per-episode arrays as raw little-endian bytes with dtype and shape
implied by the row, no pickle), seed_aggregates (per cell and side: mean, std, n), and
human_games (per game of a human series: letter shown, player, replay, the player's 1-5
rating, NULL until given). A chunk's
cells are written in one transaction, so a crash loses at most the chunk being played, and a
rerun of the same spec plays only the cells that are missing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from arena.errors import UserError
from arena.paths import data_dir
from arena.tournaments.spec import HUMAN

SCHEMA = """
CREATE TABLE IF NOT EXISTS tournaments (
    id TEXT PRIMARY KEY, mode TEXT NOT NULL, env TEXT NOT NULL, spec TEXT NOT NULL,
    canonical TEXT NOT NULL, env_info TEXT NOT NULL, agents TEXT NOT NULL, n_focal INTEGER NOT NULL,
    n_cells INTEGER NOT NULL, created REAL NOT NULL, finished REAL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, arch TEXT NOT NULL, source TEXT NOT NULL, manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    tournament TEXT NOT NULL, cell INTEGER NOT NULL, lineup TEXT NOT NULL, replicate INTEGER NOT NULL,
    match_seed INTEGER NOT NULL, episodes INTEGER NOT NULL, seats INTEGER NOT NULL,
    returns BLOB NOT NULL, length BLOB NOT NULL, metric_names TEXT NOT NULL, metrics BLOB NOT NULL,
    seconds REAL NOT NULL, PRIMARY KEY (tournament, cell)
);
CREATE TABLE IF NOT EXISTS seed_aggregates (
    tournament TEXT NOT NULL, cell INTEGER NOT NULL, replicate INTEGER NOT NULL, side INTEGER NOT NULL,
    agent TEXT NOT NULL, mean REAL NOT NULL, std REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (tournament, cell, side)
);
CREATE TABLE IF NOT EXISTS human_games (
    tournament TEXT NOT NULL, cell INTEGER NOT NULL, player TEXT NOT NULL, seat INTEGER NOT NULL,
    agent TEXT NOT NULL, letter TEXT NOT NULL, replay TEXT NOT NULL, mean_reaction_ms REAL,
    finished_utc TEXT NOT NULL, rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (tournament, cell)
);
"""


@dataclasses.dataclass
class CellRecord:
    """A stored cell, as numpy."""

    index: int
    lineup: tuple[int, ...]
    replicate: int
    match_seed: int
    returns: np.ndarray  # (E, S) float32
    length: np.ndarray  # (E,) int32
    metrics: dict  # name -> (E,) float32
    seconds: float


def default_db() -> Path:
    return data_dir() / "tournaments.sqlite"


class Store:
    """One connection to the results database."""

    def __init__(self, path: str | Path | None = None, *, factory: type[sqlite3.Connection] = sqlite3.Connection):
        """`factory`: the connection class (the server's counts its commits)."""
        self.path = Path(path) if path else default_db()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite creates a database 0644 whatever the umask (0600 under 077, but never 0664
            # under 002); made here first, it gets the mode any other file would.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            self.db = sqlite3.connect(self.path, timeout=30, factory=factory)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except (sqlite3.DatabaseError, OSError) as err:
            raise UserError(f"{self.path}: cannot open the results database: {err}") from None

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ writing

    def begin_tournament(self, tid: str, spec: dict, canonical: dict, env_info: dict,
                         agents: list[tuple[str, object]], n_focal: int, n_cells: int) -> None:
        """Record the tournament and its agents unless already there (a resume)."""
        with self.db:
            for aid, loaded in agents:
                self.db.execute(
                    "INSERT OR IGNORE INTO agents VALUES (?, ?, ?, ?, ?)",
                    (aid, loaded.name, loaded.manifest.arch, loaded.source,
                     json.dumps(loaded.manifest.to_dict(), sort_keys=True, default=str)),
                )
            self.db.execute(
                "INSERT OR IGNORE INTO tournaments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (tid, spec["mode"], env_info["id"], json.dumps(spec, default=str), json.dumps(canonical, default=str),
                 json.dumps(env_info, default=str), json.dumps([a for a, _ in agents]), n_focal, n_cells, time.time()),
            )

    def add_cells(self, tid: str, results, agent_ids: list[str], sides: list[list[int]]) -> None:
        """Write results (execute.CellResult) in one transaction; sides[s] = seats of side s."""
        with self.db:
            for r in results:
                self.insert_cell(tid, r, agent_ids, sides)

    def add_human_game(self, tid: str, result, agent_ids: list[str], sides: list[list[int]], game: dict) -> None:
        """A finished game of a human series: its cell and its human_games row (keys as in the
        table; no rating yet), in one transaction."""
        with self.db:
            self.insert_human_game(tid, result, agent_ids, sides, game)

    def insert_human_game(self, tid: str, result, agent_ids: list[str], sides: list[list[int]], game: dict) -> None:
        """add_human_game inside the caller's transaction (`with store.db:`)."""
        self.insert_cell(tid, result, agent_ids, sides)
        self.db.execute(
            "INSERT OR REPLACE INTO human_games VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (tid, result.cell.index, game["player"], game["seat"], game["agent"], game["letter"], game["replay"],
             game.get("mean_reaction_ms"), game["finished_utc"]),
        )

    def rate(self, tid: str, cell: int, rating: int) -> None:
        """The player's 1-5 rating of the agent in a stored human game."""
        with self.db:
            self.db.execute("UPDATE human_games SET rating = ? WHERE tournament = ? AND cell = ?", (int(rating), tid, cell))

    def insert_cell(self, tid: str, r, agent_ids: list[str], sides: list[list[int]]) -> None:
        """One cell and its side aggregates, inside the caller's transaction (`with store.db:`)."""
        c = r.cell
        names = sorted(r.metrics)
        metrics = np.stack([r.metrics[k] for k in names]) if names else np.zeros((0, len(r.length)))
        self.db.execute(
            "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tid, c.index, json.dumps(list(c.lineup)), c.replicate, c.match_seed, int(r.returns.shape[0]),
             int(r.returns.shape[1]), _blob(r.returns, "<f4"), _blob(r.length, "<i4"), json.dumps(names),
             _blob(metrics, "<f4"), float(r.seconds)),
        )
        for s, seats in enumerate(sides):
            side_return = r.returns[:, seats].mean(axis=1)
            agent = "human" if c.lineup[s] == HUMAN else agent_ids[c.lineup[s]]
            self.db.execute(
                "INSERT OR REPLACE INTO seed_aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (tid, c.index, c.replicate, s, agent, float(side_return.mean()), float(side_return.std()),
                 int(side_return.size)),
            )

    def finish(self, tid: str) -> None:
        with self.db:
            self.db.execute("UPDATE tournaments SET finished = ? WHERE id = ? AND finished IS NULL", (time.time(), tid))

    # ------------------------------------------------------------ reading

    def done_cells(self, tid: str) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT cell FROM cells WHERE tournament = ?", (tid,))}

    def tournament(self, ref: str) -> dict:
        """A tournament by id or unique id prefix; UserError when none or several match."""
        rows = self.db.execute(
            "SELECT id, mode, env, spec, canonical, env_info, agents, n_focal, n_cells, created, finished "
            "FROM tournaments WHERE substr(id, 1, ?) = ? ORDER BY created", (len(ref), ref)
        ).fetchall()
        if not rows:
            raise UserError(f"no tournament {ref!r} in {self.path}; `arena tournament list` shows them")
        if len(rows) > 1:
            raise UserError(f"{ref!r} matches {len(rows)} tournaments; give more of the id")
        tid, mode, env, spec, canonical, env_info, agents, n_focal, n_cells, created, finished = rows[0]
        agent_ids = json.loads(agents)
        info = {r[0]: r for r in self.db.execute(
            f"SELECT id, name, arch, source, manifest FROM agents WHERE id IN ({','.join('?' * len(agent_ids))})", agent_ids
        )}
        out = {
            "id": tid, "mode": mode, "env": env, "spec": json.loads(spec), "canonical": json.loads(canonical),
            "env_info": json.loads(env_info), "n_focal": n_focal, "n_cells": n_cells, "created": created,
            "finished": finished,
            "agents": [
                {"id": a, "name": info[a][1], "arch": info[a][2], "source": info[a][3], "manifest": json.loads(info[a][4])}
                for a in agent_ids
            ],
        }
        if mode == "human":
            out["human_games"] = self.human_games(tid)
        return out

    def human_games(self, tid: str) -> list[dict]:
        columns = ("cell", "player", "seat", "agent", "letter", "replay", "mean_reaction_ms", "finished_utc", "rating")
        rows = self.db.execute(f"SELECT {', '.join(columns)} FROM human_games WHERE tournament = ? ORDER BY cell", (tid,))
        return [dict(zip(columns, r)) for r in rows]

    def cells(self, tid: str) -> list[CellRecord]:
        out = []
        for (index, lineup, replicate, ms, episodes, seats, returns, length, names, metrics, seconds) in self.db.execute(
            "SELECT cell, lineup, replicate, match_seed, episodes, seats, returns, length, metric_names, metrics, "
            "seconds FROM cells WHERE tournament = ? ORDER BY cell", (tid,)
        ):
            names = json.loads(names)
            m = np.frombuffer(metrics, "<f4").reshape(len(names), episodes)
            out.append(CellRecord(
                index, tuple(json.loads(lineup)), replicate, ms,
                np.frombuffer(returns, "<f4").reshape(episodes, seats).copy(),
                np.frombuffer(length, "<i4").copy(),
                {k: m[i].copy() for i, k in enumerate(names)}, seconds,
            ))
        return out

    def list_tournaments(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT t.id, t.mode, t.env, t.agents, t.n_cells, t.created, t.finished, "
            "(SELECT COUNT(*) FROM cells c WHERE c.tournament = t.id) FROM tournaments t ORDER BY t.created"
        ).fetchall()
        return [
            {"id": r[0], "mode": r[1], "env": r[2], "agents": len(json.loads(r[3])), "cells": r[4],
             "done": r[7], "created": r[5], "finished": r[6]}
            for r in rows
        ]


def _blob(x: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(x, dtype=dtype).tobytes()
