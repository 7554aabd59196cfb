"""Reads rendered once per store generation.

The server's process owns every write to its store, so it can count them: `Generation` is
bumped after each commit that changed rows, on any thread's connection. A GET of a cached
route is answered from the bytes rendered for (path, query, generation): rendering a
leaderboard fits its ratings and bootstraps them, which under load costs far more than the
SQLite reads, and 32 pollers of one page need it drawn once, not 32 times.

Never stale: the generation is read before a response is rendered and bumped only after the
commit returns, so a read that starts after a write has been committed misses every entry
rendered before it. Requests for a key being rendered wait for that one rendering. Each
cached response carries an ETag of its generation, so a page that polls gets 304 until
something changed.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
import threading
from collections import OrderedDict

# The GET routes whose body is a function of the store alone (no files that change, no
# streams): the JSON views and the pages. Replays, checkpoints, videos and the export stream.
CACHED = re.compile(r"^/(api/v1/(health|leaderboard|ladders|agents|tournaments|matches|human-series)"
                    r"|api/v1/(agents|tournaments|matches)/[^/]+|(agents|tournaments|matches)/[^/]+|)$")
MAX_ENTRIES = 1024  # distinct (path, query) kept; queries are the client's, so bounded


class Generation:
    """How many committed writes changed the store, as seen by connections made with
    `connection` (pass it to Store). Read `value` before rendering what it keys."""

    def __init__(self):
        self.value = 0
        self._lock = threading.Lock()
        bump = self._after

        class Connection(sqlite3.Connection):
            # Python's sqlite3 commits in commit(), in `with db:` and before executescript;
            # the C code calls its own commit, so each is wrapped, not commit alone.
            def commit(self):
                try:
                    super().commit()
                finally:
                    bump(self)

            def __exit__(self, *exc):
                try:
                    return super().__exit__(*exc)
                finally:
                    bump(self)

            def executescript(self, script):
                try:
                    return super().executescript(script)
                finally:
                    bump(self)

        self.connection = Connection

    def _after(self, db: sqlite3.Connection) -> None:
        # total_changes counts rows written on this connection: a transaction that wrote
        # nothing (the dispatcher's idle sweep, five times a second) keeps the cache.
        changes = db.total_changes
        if changes != getattr(db, "_counted", 0):
            db._counted = changes  # type: ignore[attr-defined]
            with self._lock:
                self.value += 1


class ReadCache:
    """ASGI middleware: GETs of CACHED routes answered from their rendering at this
    generation (status 200 only; errors are rendered each time)."""

    def __init__(self, app, generation: Generation, max_entries: int = MAX_ENTRIES):
        self.app = app
        self.generation = generation
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple, tuple[dict, list[dict]]] = OrderedDict()
        self.rendering: dict[tuple, asyncio.Event] = {}
        self.boot = secrets.token_hex(4)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or not CACHED.match(scope["path"]):
            return await self.app(scope, receive, send)
        generation = self.generation.value
        key = (scope["path"], scope["query_string"], generation)
        while key in self.rendering:  # someone is drawing it: wait for theirs
            await self.rendering[key].wait()
        if key in self.entries:
            self.entries.move_to_end(key)
            start, body = self.entries[key]
            etag = dict(start["headers"])[b"etag"]
            if etag in _if_none_match(scope):  # the client has this generation's page already
                await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
                await send({"type": "http.response.body", "body": b""})
                return
            for message in (start, *body):
                await send(message)
            return
        self.rendering[key] = asyncio.Event()
        sent: list[dict] = []

        async def keep(message):
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {**message, "headers": [*message.get("headers", []), (b"etag", self._etag(generation))]}
            sent.append(message)
            await send(message)

        try:
            await self.app(scope, receive, keep)
        finally:
            if sent and sent[0]["status"] == 200:
                self._store(key, sent)
            self.rendering.pop(key).set()

    def _etag(self, generation: int) -> bytes:
        # The process's boot id too: a restarted server counts from 0 again.
        return f'"{self.boot}-{generation}"'.encode()

    def _store(self, key: tuple, sent: list[dict]) -> None:
        if not sent[-1].get("more_body", False) and all(m["type"] == "http.response.body" for m in sent[1:]):
            for k in [k for k in self.entries if k[2] < key[2]]:  # an older generation is never asked for again
                del self.entries[k]
            self.entries[key] = (sent[0], sent[1:])
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


def _if_none_match(scope) -> list[bytes]:
    value = dict(scope.get("headers", [])).get(b"if-none-match", b"")
    return [tag.strip() for tag in value.split(b",")]
