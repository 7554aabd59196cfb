"""Submitted agents: an upload is checked exactly as `arena inspect` checks a file, then plays
one smoke episode (Kaggle's validation episode) in which it must act in range and emit only
finite numbers; it is stored by content as agents/<id>.ckpt, where id is the agent id the
results store uses (sha256 of the manifest, which holds the params' sha256)."""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path

import numpy as np

from arena.agent import build_agent
from arena.checkpoint import load_agent, looks_like_pickle, sha256_hex
from arena.errors import CheckpointError, UserError
from arena.fileio import atomic_write
from arena.lineup import can_play, resolve_env
from arena.runner import run_match
from arena.tournaments.tournament import agent_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS server_agents (
    id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL, env TEXT NOT NULL, arch TEXT NOT NULL,
    status TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0, smoke TEXT NOT NULL, submitted REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS server_agents_sha ON server_agents (sha256);
"""
AGENT_COLUMNS = ("id", "sha256", "name", "env", "arch", "status", "failures", "smoke", "submitted")


class NotACheckpoint(UserError):
    """The bytes are no arena checkpoint at all (HTTP 415)."""


class InvalidAgent(UserError):
    """A checkpoint that fails validation or its smoke episode (HTTP 422)."""


class Submissions:
    def __init__(self, db: sqlite3.Connection, agents_dir: Path):
        self.db = db
        self.dir = agents_dir
        with db:
            db.executescript(SCHEMA)

    def path(self, aid: str) -> Path:
        return self.dir / f"{aid}.ckpt"

    def get(self, aid: str) -> dict | None:
        """An agent by id or by a prefix of it that only one agent has."""
        rows = self.db.execute(f"SELECT {', '.join(AGENT_COLUMNS)} FROM server_agents WHERE substr(id, 1, ?) = ? LIMIT 2",
                               (len(aid), aid)).fetchall()
        return _row(rows[0]) if len(rows) == 1 else None

    def all(self, env: str | None = None) -> list[dict]:
        query = f"SELECT {', '.join(AGENT_COLUMNS)} FROM server_agents"
        rows = self.db.execute(query + " WHERE env = ? ORDER BY submitted" if env else query + " ORDER BY submitted",
                               (env,) if env else ())
        return [_row(r) for r in rows]

    def submit(self, data: bytes, scratch: Path) -> tuple[dict, bool]:
        """Validate and store an upload; (agent, created). The same file again is not new."""
        sha = sha256_hex(data)
        known = self.db.execute("SELECT id FROM server_agents WHERE sha256 = ?", (sha,)).fetchone()
        if known:
            return self.get(known[0]), False
        if not data:
            raise NotACheckpoint("the upload is empty; send one .ckpt file in the multipart field `file`")
        if looks_like_pickle(data):
            raise NotACheckpoint("the upload is a pickle file; arena never loads pickle (it can run code). "
                                 "Save the agent as an arena .ckpt (`arena pack` turns a folder into one)")
        if not (data[0] in (0xDE, 0xDF) or 0x80 <= data[0] <= 0x8F):
            raise NotACheckpoint("the upload is not an arena checkpoint (not msgpack); send a .ckpt file")
        tmp = scratch / f"upload-{secrets.token_hex(8)}.ckpt"
        atomic_write(tmp, data)
        try:
            try:
                loaded = load_agent(tmp)
            except CheckpointError as err:
                raise InvalidAgent(f"the checkpoint fails validation: {err.problem}") from None
            if loaded.manifest.privileged:
                # Every upload joins its env's ladder, which ranks agents on what they observe.
                raise InvalidAgent("the agent is privileged (it reads the env state: manifest `privileged = true`); "
                                   "this server's ladders take no privileged agents: play it locally with "
                                   "`arena match` or `arena tournament`")
            smoke = smoke_episode(loaded)
            aid = agent_id(loaded)
            known = self.get(aid)
            if known:  # the same agent, packed differently
                return known, False
            self.dir.mkdir(parents=True, exist_ok=True)
            if not self.path(aid).exists():
                tmp.replace(self.path(aid))  # fsynced by atomic_write; same file system
        finally:
            tmp.unlink(missing_ok=True)
        m = loaded.manifest
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO server_agents VALUES (?, ?, ?, ?, ?, 'active', 0, ?, ?)",
                            (aid, sha, m.name, m.env, m.arch, json.dumps(smoke), time.time()))
        return self.get(aid), True

    def record_failure(self, aid: str, quarantine_after: int) -> None:
        with self.db:
            self.db.execute("UPDATE server_agents SET failures = failures + 1, status = CASE WHEN failures + 1 >= ? "
                            "THEN 'quarantined' ELSE status END WHERE id = ?", (quarantine_after, aid))


def smoke_episode(loaded) -> dict:
    """One episode of the agent on every side it can play of its own env (random agents on
    the others); InvalidAgent unless it finishes with in-range actions and finite numbers."""
    try:
        env = resolve_env([loaded], loaded.manifest.env, dict(loaded.manifest.env_kwargs))
    except UserError as err:
        raise InvalidAgent(f"the agent's env cannot be made: {err}") from None
    agents, params, mine = [], [], []
    for s, side in enumerate(env.spec.sides):
        if can_play(loaded, env, side) is None:
            agents.append(loaded.agent)
            params.append(loaded.params)
            mine.append(s)
        else:
            team = env.spec.team_of(side)
            rand = build_agent("random", {}, team.obs_shape, team.obs_dtype, team.num_actions)
            agents.append(rand)
            params.append(rand.init_params(None))
    if not mine:
        raise InvalidAgent(f"the agent cannot play any side of its own env {env.spec.id}: "
                           f"{can_play(loaded, env, env.spec.sides[0])}")
    try:
        result = run_match(env, agents, params, episodes=1, seed=0)
    except Exception as err:  # noqa: BLE001  (a broken agent is the uploader's error, not the server's)
        raise InvalidAgent(f"the smoke episode failed: {type(err).__name__}: {str(err)[:200]}") from None
    faults = {env.spec.sides[s].name: int(result.faults[0, s]) for s in mine if result.faults[0, s]}
    if faults:
        raise InvalidAgent(f"in its smoke episode the agent acted out of range or emitted non-finite numbers on "
                           f"{sum(faults.values())} step(s) (side {', '.join(faults)}); check its params")
    if not np.all(np.isfinite(result.returns)):
        raise InvalidAgent("its smoke episode returned non-finite rewards")
    return {"env": env.spec.id, "sides": [env.spec.sides[s].name for s in mine],
            "returns": [float(x) for x in result.side_returns[0]], "length": int(result.length[0])}


def _row(row) -> dict:
    out = dict(zip(AGENT_COLUMNS, row))
    out["smoke"] = json.loads(out["smoke"])
    return out
