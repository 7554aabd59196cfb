"""The durable job queue, in the results store's own SQLite file.

A job is one compiled batch of cells of one tournament: exactly the chunk `arena tournament
run` would play in one call, so the server's numbers are the CLI's. A job is leased with a
random token and a deadline; the holder renews the deadline (heartbeat) while it plays, and
completes it in one transaction that writes the cells, the matches and the job's end. A
completion whose token is no longer the job's (the lease ran out and the job was leased
again) is refused, so nothing is ever counted twice; a restart returns every lease to the
queue, since the server that held it is gone.
"""
from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS server_tournaments (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, on_agent_failure TEXT NOT NULL,
    ladder TEXT, idempotency_key TEXT UNIQUE, error TEXT, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tournament TEXT NOT NULL, cells TEXT NOT NULL, signature TEXT NOT NULL,
    status TEXT NOT NULL, lease TEXT, deadline REAL, attempts INTEGER NOT NULL DEFAULT 0,
    failure_kind TEXT, failure TEXT, created REAL NOT NULL, finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, id);
CREATE TABLE IF NOT EXISTS matches (
    tournament TEXT NOT NULL, cell INTEGER NOT NULL, lineup TEXT NOT NULL, match_seed INTEGER NOT NULL,
    status TEXT NOT NULL, failed_agent TEXT, replay TEXT, error TEXT, finished REAL NOT NULL,
    PRIMARY KEY (tournament, cell)
);
"""
# A tournament's life; a job's is queued -> leased -> done | failed | cancelled.
TOURNAMENT_STATUSES = ("queued", "running", "finished", "failed", "cancelled")


@dataclasses.dataclass(frozen=True)
class Lease:
    job: int
    tournament: str
    cells: tuple[int, ...]
    signature: str
    token: str
    attempts: int


class StaleLease(Exception):
    """The job was leased again (or cancelled) since this lease was given."""


class Jobs:
    def __init__(self, db: sqlite3.Connection):
        self.db = db
        with db:
            db.executescript(SCHEMA)

    # ------------------------------------------------------------ tournaments

    def add_tournament(self, tid: str, request: dict, on_agent_failure: str, batches: list[tuple[str, list[int]]],
                       *, ladder: str | None = None, idempotency_key: str | None = None) -> bool:
        """Queue a tournament's jobs (signature, cells) unless it is known; True when new."""
        now = time.time()
        with self.db:
            if not self._insert(tid, "queued", request, on_agent_failure, ladder, idempotency_key):
                return False
            self.db.execute("DELETE FROM jobs WHERE tournament = ? AND status != 'done'", (tid,))
            done = {c for (cells,) in self.db.execute("SELECT cells FROM jobs WHERE tournament = ?", (tid,))
                    for c in json.loads(cells)}
            for signature, cells in batches:
                todo = [c for c in cells if c not in done]
                if todo:
                    self.db.execute("INSERT INTO jobs (tournament, cells, signature, status, created) VALUES (?, ?, ?, 'queued', ?)",
                                    (tid, json.dumps(todo), signature, now))
        self.refresh(tid)
        return True

    def add_series(self, sid: str, request: dict, on_agent_failure: str, kind: str, idempotency_key: str | None = None) -> bool:
        """A series (`kind`: sprt, human) that holds no jobs of its own, as 'running', unless it is
        known and not cancelled; True when new."""
        with self.db:
            return self._insert(sid, "running", request, on_agent_failure, kind, idempotency_key)

    def _insert(self, tid: str, status: str, request: dict, on_agent_failure: str, ladder: str | None,
                idempotency_key: str | None) -> bool:
        """Inside the caller's transaction: the row, unless it is known and not cancelled."""
        known = self.db.execute("SELECT status FROM server_tournaments WHERE id = ?", (tid,)).fetchone()
        if known and known[0] != "cancelled":
            return False
        now = time.time()
        self.db.execute("DELETE FROM server_tournaments WHERE id = ?", (tid,))
        self.db.execute("INSERT INTO server_tournaments VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                        (tid, status, json.dumps(request), on_agent_failure, ladder, idempotency_key, now, now))
        return True

    def by_idempotency_key(self, key: str) -> str | None:
        row = self.db.execute("SELECT id FROM server_tournaments WHERE idempotency_key = ?", (key,)).fetchone()
        return row[0] if row else None

    def tournament(self, tid: str) -> dict | None:
        row = self.db.execute(
            "SELECT id, status, request, on_agent_failure, ladder, error, created, updated FROM server_tournaments WHERE id = ?",
            (tid,)).fetchone()
        if not row:
            return None
        keys = ("id", "status", "request", "on_agent_failure", "ladder", "error", "created", "updated")
        out = dict(zip(keys, row))
        out["request"] = json.loads(out["request"])
        out["jobs"] = dict(self.db.execute("SELECT status, COUNT(*) FROM jobs WHERE tournament = ? GROUP BY status", (tid,)))
        return out

    def tournaments(self, ladder: str | None = None) -> list[str]:
        if ladder is None:
            return [r[0] for r in self.db.execute("SELECT id FROM server_tournaments ORDER BY created")]
        return [r[0] for r in self.db.execute("SELECT id FROM server_tournaments WHERE ladder = ? ORDER BY created", (ladder,))]

    def has_open(self, ladder: str) -> bool:
        """Whether a tournament of this ladder is still queued or running."""
        return self.db.execute("SELECT 1 FROM server_tournaments WHERE ladder = ? AND status IN ('queued', 'running') LIMIT 1",
                               (ladder,)).fetchone() is not None

    def cancel(self, tid: str) -> None:
        """Drop the queued and running jobs (a running one's result will be refused); keep
        finished cells."""
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'cancelled', lease = NULL WHERE tournament = ? AND status IN ('queued', 'leased')",
                            (tid,))
            self.db.execute("UPDATE server_tournaments SET status = 'cancelled', updated = ? WHERE id = ? AND status IN ('queued', 'running')",
                            (time.time(), tid))

    def refresh(self, tid: str) -> str:
        """Recompute a tournament's status from its jobs (cancelled stays cancelled)."""
        with self.db:
            row = self.db.execute("SELECT status FROM server_tournaments WHERE id = ?", (tid,)).fetchone()
            if not row or row[0] == "cancelled":
                return row[0] if row else "unknown"
            counts = dict(self.db.execute("SELECT status, COUNT(*) FROM jobs WHERE tournament = ? GROUP BY status", (tid,)))
            if counts.get("failed"):
                status = "failed"
            elif counts.get("leased"):
                status = "running"
            elif counts.get("queued"):
                status = "running" if counts.get("done") else "queued"
            else:
                status = "finished"
            if status != row[0]:  # a read that changes nothing writes nothing (and keeps the read cache)
                self.db.execute("UPDATE server_tournaments SET status = ?, updated = ? WHERE id = ?", (status, time.time(), tid))
        return status

    def set_error(self, tid: str, error: str) -> None:
        with self.db:
            self.db.execute("UPDATE server_tournaments SET status = 'failed', error = ?, updated = ? WHERE id = ?",
                            (error, time.time(), tid))

    # ------------------------------------------------------------ leases

    def lease(self, seconds: float, *, exclude: set[int] = frozenset()) -> Lease | None:
        """The oldest queued job, leased for `seconds`, or None."""
        with self.db:
            rows = self.db.execute("SELECT id, tournament, cells, signature, attempts FROM jobs WHERE status = 'queued' ORDER BY id").fetchall()
            for job, tid, cells, signature, attempts in rows:
                if job in exclude:
                    continue
                token = secrets.token_hex(16)
                self.db.execute("UPDATE jobs SET status = 'leased', lease = ?, deadline = ?, attempts = attempts + 1 WHERE id = ?",
                                (token, time.time() + seconds, job))
                self.db.execute("UPDATE server_tournaments SET status = 'running', updated = ? WHERE id = ? AND status = 'queued'",
                                (time.time(), tid))
                return Lease(job, tid, tuple(json.loads(cells)), signature, token, attempts + 1)
        return None

    def heartbeat(self, lease: Lease, seconds: float) -> bool:
        """Extend a live lease; False when it is stale."""
        with self.db:
            cur = self.db.execute("UPDATE jobs SET deadline = ? WHERE id = ? AND lease = ? AND status = 'leased'",
                                  (time.time() + seconds, lease.job, lease.token))
        return cur.rowcount == 1

    def check(self, lease: Lease) -> None:
        """Raise StaleLease unless `lease` still holds its job (call inside the completing transaction)."""
        row = self.db.execute("SELECT 1 FROM jobs WHERE id = ? AND lease = ? AND status = 'leased'", (lease.job, lease.token)).fetchone()
        if not row:
            raise StaleLease(f"job {lease.job}: lease {lease.token[:8]} is no longer held")

    def mark_done(self, lease: Lease) -> None:
        """Inside the completing transaction: the job is done."""
        self.db.execute("UPDATE jobs SET status = 'done', lease = NULL, finished = ? WHERE id = ?", (time.time(), lease.job))

    def release(self, lease: Lease, kind: str, error: str, *, retry: bool) -> bool:
        """A failed attempt: back to the queue when `retry`, else failed. False if stale."""
        with self.db:
            cur = self.db.execute(
                "UPDATE jobs SET status = ?, lease = NULL, deadline = NULL, failure_kind = ?, failure = ? "
                "WHERE id = ? AND lease = ? AND status = 'leased'",
                ("queued" if retry else "failed", kind, error[:500], lease.job, lease.token),
            )
        return cur.rowcount == 1

    def sweep(self, now: float | None = None) -> int:
        """Return leases past their deadline to the queue (fishtest's sweep); how many."""
        with self.db:
            cur = self.db.execute("UPDATE jobs SET status = 'queued', lease = NULL, deadline = NULL, failure_kind = 'infra', "
                                  "failure = 'lease expired: the worker went silent' WHERE status = 'leased' AND deadline < ?",
                                  (now if now is not None else time.time(),))
        return cur.rowcount

    def requeue_all_leased(self) -> int:
        """At start-up: every lease belonged to the previous server process."""
        with self.db:
            cur = self.db.execute("UPDATE jobs SET status = 'queued', lease = NULL, deadline = NULL WHERE status = 'leased'")
        return cur.rowcount

    def counts(self) -> dict:
        out = {s: 0 for s in ("queued", "leased", "done", "failed", "cancelled")}
        out.update(dict(self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")))
        return out

    def pending_tournaments(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT tournament FROM jobs WHERE status IN ('queued', 'leased')")]

    # ------------------------------------------------------------ matches

    def add_match(self, tid: str, cell, status: str, *, failed_agent: str | None = None, replay: str | None = None,
                  error: str | None = None) -> None:
        """Inside the completing transaction: a match (a schedule Cell), its status and replay."""
        self.db.execute("INSERT OR REPLACE INTO matches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (tid, cell.index, json.dumps(list(cell.lineup)), cell.match_seed, status, failed_agent, replay, error,
                         time.time()))

    def matches(self, tid: str) -> dict[int, dict]:
        keys = ("cell", "lineup", "match_seed", "status", "failed_agent", "replay", "error", "finished")
        rows = self.db.execute(f"SELECT {', '.join(keys)} FROM matches WHERE tournament = ? ORDER BY cell", (tid,))
        out = {r[0]: dict(zip(keys, r)) for r in rows}
        for m in out.values():
            m["lineup"] = json.loads(m["lineup"])
        return out
