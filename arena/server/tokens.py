"""Bearer tokens for writes. Only their sha256 is stored (a leaked database leaks no token);
the first start writes an admin token to `admin.token` in the data dir, readable by its owner
alone, and the CLI clients of a local server read it from there."""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from pathlib import Path

from arena.errors import UserError
from arena.fileio import atomic_write

SCOPES = ("submit", "admin")
TOKEN_FILE = "admin.token"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, scope TEXT NOT NULL, created REAL NOT NULL
);
"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, db: sqlite3.Connection):
        self.db = db
        with db:
            db.executescript(SCHEMA)

    def new(self, name: str, scope: str = "submit") -> str:
        """A fresh token (shown once; only its hash is kept)."""
        if scope not in SCOPES:
            raise UserError(f"unknown token scope {scope!r}; scopes: {', '.join(SCOPES)}")
        if not name.strip() or len(name) > 64:
            raise UserError("a token needs a name of 1-64 characters (who or what uses it)")
        token = "arena_" + secrets.token_urlsafe(32)
        try:
            with self.db:
                self.db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (_hash(token), name, scope, time.time()))
        except sqlite3.IntegrityError:
            raise UserError(f"a token named {name!r} exists already; choose another name") from None
        return token

    def scope(self, token: str) -> str | None:
        """The scope of a valid token; None for an unknown one."""
        row = self.db.execute("SELECT scope FROM tokens WHERE hash = ?", (_hash(token),)).fetchone()
        return row[0] if row else None

    def ensure_admin(self, data: Path) -> Path | None:
        """On first start: an admin token in data/admin.token (mode 0600). Returns its path when
        it was created now."""
        path = data / TOKEN_FILE
        if path.exists():
            return None
        token = self.new(f"admin-{int(time.time())}", "admin")
        atomic_write(path, token + "\n", perms=0o600)
        return path


def read_local_token(data: Path) -> str | None:
    """The admin token of a server whose data dir is here, if this user may read it."""
    try:
        return (data / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None
