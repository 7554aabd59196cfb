"""Human series through the server: `"mode": "human"` creates a series (agents, env, games
per agent, seat); people join it by name from `arena play --server`, each ask for their next
game, play it in their own window and post its replay back.

Each player's games are a human series of their own in the results store, exactly as
`arena tournament --mode human` stores one (so `arena tournament show` reads it), with its
row in `server_tournaments` naming the series in its `ladder` column as `human:ID`; the
series itself is a row there with `ladder` = 'human'. The Williams rows are handed out in
join order, `games` rows a player, so all the players together run through the design in
order and the order stays balanced across them. A posted game counts only once
`tournaments.human_check` finds it is the game handed out and re-enacts it; what is stored
is what the re-enactment scored.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime

from arena.fileio import atomic_write
from arena.server.errors import BadRequest, Conflict, NotFound
from arena.tournaments.human import metrics_text, noun_of
from arena.tournaments.human_check import check_game
from arena.tournaments.report import build_report, pool_human
from arena.tournaments.schedule import HUMAN, blind_letters
from arena.tournaments.spec import make_spec, spec_id
from arena.tournaments.tournament import Prepared, prepare

FIELDS = ("mode", "agents", "env", "env_kwargs", "seeds", "seed", "seat", "episodes")
PLAYER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS human_players (
    series TEXT NOT NULL, player TEXT NOT NULL, tournament TEXT NOT NULL, row INTEGER NOT NULL,
    joined REAL NOT NULL, handed REAL, PRIMARY KEY (series, player)
);
"""


class HumanSeries:
    def __init__(self, service):
        self.service = service
        with service.store.db:
            service.store.db.executescript(SCHEMA)

    # ------------------------------------------------------------ the series

    def create(self, request: dict, idempotency_key: str | None = None) -> tuple[dict, bool]:
        unknown = sorted(set(request) - set(FIELDS))
        if "player" in unknown:
            raise BadRequest("a server's human series has no one player: players join it by name with "
                             "`arena play --server URL --player NAME SERIES_ID`")
        if unknown:
            raise BadRequest(f"unknown human series field(s) {', '.join(unknown)}; fields: {', '.join(FIELDS)}")
        agents = request.get("agents")
        if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
            raise BadRequest("`agents` must be a list of agent ids or zoo:NAME")
        if "env_kwargs" in request and not isinstance(request["env_kwargs"], dict | None):
            raise BadRequest("`env_kwargs` must be an object")
        refs = [self.service._ref(a) for a in agents]
        template = self._spec(request, refs, player="-", row=0)
        prep = prepare(template)  # every agent loads, fits the env and the seat, before anything is stored
        canonical = {k: v for k, v in prep.canonical.items() if k not in ("player", "row")}
        sid = spec_id({**canonical, "server": "human series"})
        created = self.service.jobs.add_series(sid, {**request, "refs": refs, "env_id": prep.env.spec.id}, "void", "human",
                                               idempotency_key)
        return self.view(sid), created

    def _spec(self, request: dict, refs: list[str], player: str, row: int):
        fields = {k: request[k] for k in ("env", "env_kwargs", "seeds", "seed", "seat", "episodes")
                  if request.get(k) is not None}
        try:
            return make_spec(mode="human", agents=refs, player=player, row=row, **fields)
        except TypeError as err:
            raise BadRequest(f"bad spec: {err}") from None

    def _series(self, sid: str) -> dict:
        row = self.service.jobs.tournament(sid) if re.fullmatch(r"[0-9a-f]{12}", sid) else None
        if not row or row["ladder"] != "human":
            raise NotFound(f"no human series {sid!r} on this server; `GET /api/v1/human` lists them")
        return row

    def ids(self) -> list[str]:
        return self.service.jobs.tournaments(ladder="human")

    def cancel(self, sid: str) -> None:
        db = self.service.store.db
        with db:
            db.execute("UPDATE server_tournaments SET status = 'cancelled', updated = ? WHERE id = ? AND status = 'running'",
                       (time.time(), sid))

    # ------------------------------------------------------------ players

    def players(self, sid: str) -> list[dict]:
        keys = ("player", "tournament", "row", "joined")
        rows = self.service.store.db.execute(
            "SELECT player, tournament, row, joined FROM human_players WHERE series = ? ORDER BY joined, row", (sid,))
        return [dict(zip(keys, r)) for r in rows]

    def _player(self, sid: str, player: str, *, join: bool) -> tuple[dict, Prepared]:
        """The player's own series (joining it when `join`): (players row, Prepared)."""
        series = self._series(sid)
        if not PLAYER.match(player):
            raise BadRequest(f"a player's name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; "
                             f"got {player[:64]!r}")
        db = self.service.store.db
        row = db.execute("SELECT tournament, row FROM human_players WHERE series = ? AND player = ?", (sid, player)).fetchone()
        if row is None and not join:
            raise NotFound(f"player {player!r} has not joined series {sid}; their first request for a game joins them")
        if row is None and series["status"] != "running":
            raise Conflict(f"series {sid} is {series['status']}: it takes no new players")
        request = series["request"]
        if row is not None:
            return {"player": player, "tournament": row[0], "row": row[1]}, self._prepared(row[0], request, player, row[1])
        with self.service._lock:  # join order decides the Williams row: one join at a time
            row = db.execute("SELECT tournament, row FROM human_players WHERE series = ? AND player = ?", (sid, player)).fetchone()
            if row is None:
                taken = db.execute("SELECT COUNT(*) FROM human_players WHERE series = ?", (sid,)).fetchone()[0]
                # `games` rounds a player: the next player goes on where the last one's rows end.
                spec = self._spec(request, request["refs"], player, taken * int(request.get("seeds") or 1))
                prep = prepare(spec)
                store, now = self.service.store, time.time()
                store.begin_tournament(prep.id, spec.to_dict(), prep.canonical, prep.env_info,
                                       list(zip(prep.agent_ids, prep.loaded)), len(spec.agents), len(prep.cells))
                with db:
                    db.execute("INSERT INTO human_players VALUES (?, ?, ?, ?, ?, NULL)", (sid, player, prep.id, spec.row, now))
                    db.execute("INSERT OR REPLACE INTO server_tournaments VALUES (?, 'running', ?, 'void', ?, NULL, NULL, ?, ?)",
                               (prep.id, json.dumps(spec.to_dict()), f"human:{sid}", now, now))
                self.service._prepared[prep.id] = prep
                row = (prep.id, spec.row)
        return {"player": player, "tournament": row[0], "row": row[1]}, self._prepared(row[0], request, player, row[1])

    def _prepared(self, tid: str, request: dict, player: str, row: int) -> Prepared:
        if tid not in self.service._prepared:
            self.service._prepared[tid] = prepare(self._spec(request, request["refs"], player, row))
        return self.service._prepared[tid]

    def next_game(self, sid: str, player: str) -> dict:
        """The player's next game (joining them on their first request): what a client needs
        to play it, and the agent only by letter and id."""
        me, prep = self._player(sid, player, join=True)
        tid, store = me["tournament"], self.service.store
        done = store.done_cells(tid)
        todo = [c for c in prep.cells if c.index not in done]
        letters = blind_letters(len(prep.loaded), prep.spec.seed, player)
        unrated = [{"game": g["cell"] + 1, "letter": g["letter"]} for g in store.human_games(tid) if g["rating"] is None]
        out = {"series": sid, "player": player, "tournament": tid, "games_total": len(prep.cells),
               "games_done": len(done), "unrated": unrated, "noun": noun_of(prep.env), "seat": prep.spec.seat,
               "seat_name": prep.env.spec.seats[prep.spec.seat], "agents": len(prep.loaded), "game": None}
        status = self._series(sid)["status"]
        if not todo or status != "running":
            out["done"] = True
            out["status"] = "finished" if not todo else status
            return out
        cell = todo[0]
        agent = next(i for i in cell.lineup if i != HUMAN)
        aid = prep.agent_ids[agent]
        with store.db:
            store.db.execute("UPDATE human_players SET handed = ? WHERE series = ? AND player = ?", (time.time(), sid, player))
        out["done"] = False
        out["status"] = status
        out["game"] = {"number": cell.index + 1, "letter": letters[agent], "agent": aid,
                       "download": f"/api/v1/agents/{aid}/checkpoint", "env": prep.env.spec.id,
                       "env_kwargs": dict(prep.env_info["kwargs"]), "seat": prep.spec.seat, "seed": cell.match_seed}
        return out

    def post_game(self, sid: str, player: str, number: int, data: bytes, rating: int | None = None) -> tuple[dict, bool]:
        """Check a played game's replay and store it with what the re-enactment scored:
        (the stored game, whether it is new). The same replay posted again is not new."""
        me, prep = self._player(sid, player, join=False)
        tid, store, config = me["tournament"], self.service.store, self.service.config
        if rating is not None:
            check_rating(rating)
        if not 1 <= number <= len(prep.cells):
            raise NotFound(f"player {player}'s series has games 1 to {len(prep.cells)}, not {number}")
        cell = prep.cells[number - 1]
        rel = f"replays/{tid}-{cell.index}.replay"
        sha = hashlib.sha256(data).hexdigest()
        if cell.index in store.done_cells(tid):
            return self._posted_again(sid, player, tid, cell.index, rel, sha, number)
        self._require_next(sid, tid, prep, number)
        letters = blind_letters(len(prep.loaded), prep.spec.seed, player)
        agent = next(i for i in cell.lineup if i != HUMAN)
        label = f"{noun_of(prep.env)} {letters[agent]}"
        scratch = config.data / "scratch" / f"game-{secrets.token_hex(8)}.replay"
        atomic_write(scratch, data)
        try:
            checked = check_game(prep, cell, scratch, label)
        finally:
            scratch.unlink(missing_ok=True)
        handed = self.service.store.db.execute("SELECT handed FROM human_players WHERE series = ? AND player = ?",
                                               (sid, player)).fetchone()[0]
        checked.result.seconds = max(0.0, time.time() - handed) if handed else 0.0
        sides = [s["seats"] for s in prep.env_info["sides"]]
        with self.service._lock:
            if cell.index in store.done_cells(tid):  # the same game posted twice at once
                return self._posted_again(sid, player, tid, cell.index, rel, sha, number)
            self._require_next(sid, tid, prep, number)
            atomic_write(config.data / rel, data)  # before the commit: an orphan is overwritten by a retry
            with store.db:
                store.insert_human_game(tid, checked.result, prep.agent_ids, sides, {
                    "player": player, "seat": prep.spec.seat, "agent": prep.agent_ids[agent], "letter": letters[agent],
                    "replay": str((config.data / rel).absolute()), "mean_reaction_ms": checked.mean_reaction_ms,
                    "finished_utc": datetime.now(UTC).isoformat(timespec="seconds")})
                self.service.jobs.add_match(tid, cell, "ok", replay=rel)
            if rating is not None:
                store.rate(tid, cell.index, rating)
            if len(store.done_cells(tid)) == len(prep.cells):
                store.finish(tid)
                with store.db:
                    store.db.execute("UPDATE server_tournaments SET status = 'finished', updated = ? WHERE id = ?",
                                     (time.time(), tid))
        return self._game_view(sid, player, tid, prep, cell.index), True

    def _require_next(self, sid: str, tid: str, prep: Prepared, number: int) -> None:
        if self._series(sid)["status"] != "running":
            raise Conflict(f"series {sid} is {self._series(sid)['status']}: it takes no more games")
        done = self.service.store.done_cells(tid)
        first = next(c.index + 1 for c in prep.cells if c.index not in done)
        if number != first:
            raise Conflict(f"game {number} is not the one handed out: the next game is {first} "
                           f"(`POST /api/v1/human/{sid}/players/PLAYER/next`)")

    def _posted_again(self, sid, player, tid, cell: int, rel: str, sha: str, number: int) -> tuple[dict, bool]:
        stored = self.service.config.data / rel
        if stored.exists() and hashlib.sha256(stored.read_bytes()).hexdigest() == sha:
            return self._game_view(sid, player, tid, self.service._prepared[tid], cell), False
        raise Conflict(f"game {number} is stored already, with another replay; the next game is what "
                       f"`POST /api/v1/human/{sid}/players/{player}/next` hands out")

    def rate(self, sid: str, player: str, number: int, rating) -> dict:
        me, prep = self._player(sid, player, join=False)
        check_rating(rating)
        tid = me["tournament"]
        if not 1 <= number <= len(prep.cells):
            raise NotFound(f"player {player}'s series has games 1 to {len(prep.cells)}, not {number}")
        if number - 1 not in self.service.store.done_cells(tid):
            raise Conflict(f"game {number} is not stored yet: post its replay first")
        self.service.store.rate(tid, number - 1, rating)
        return self._game_view(sid, player, tid, prep, number - 1)

    def _game_view(self, sid: str, player: str, tid: str, prep: Prepared, cell: int) -> dict:
        """A stored game as the player may see it: the re-simulated numbers and the letter."""
        store = self.service.store
        c = next(c for c in store.cells(tid) if c.index == cell)
        g = next(g for g in store.human_games(tid) if g["cell"] == cell)
        seat = prep.spec.seat
        metrics = {k: float(v[0]) for k, v in c.metrics.items()}
        return {"series": sid, "player": player, "game": cell + 1, "letter": g["letter"], "stored": True,
                "returns": c.returns[0].tolist(), "human_return": float(c.returns[0, seat]), "length": int(c.length[0]),
                "metrics": metrics, "metrics_text": metrics_text(metrics), "rating": g["rating"],
                "mean_reaction_ms": g["mean_reaction_ms"], "games_done": len(store.done_cells(tid)),
                "games_total": len(prep.cells), "match": f"{tid}-{cell}"}

    # ------------------------------------------------------------ what the API shows

    def view(self, sid: str) -> dict:
        series = self._series(sid)
        request = series["request"]
        store = self.service.store
        players, reports = [], []
        for p in self.players(sid):
            t = store.tournament(p["tournament"])
            report = build_report(t, store.cells(p["tournament"]))
            reports.append(report)
            players.append({**p, "games_done": report["cells_done"], "games_total": report["cells_total"],
                            "finished": report["finished"], "report": report})
        done = sum(p["games_done"] for p in players)
        total = sum(p["games_total"] for p in players)
        agents = [{"id": a["id"], "name": a["name"]} for a in reports[0]["agents"]] if reports else None
        return {"id": sid, "status": series["status"], "mode": "human", "env": request.get("env_id"),
                "env_kwargs": request.get("env_kwargs") or {}, "seat": request.get("seat", 0),
                "games_per_agent": request.get("seeds") or 1, "agent_refs": request.get("agents"), "agents": agents,
                "cells_done": done, "cells_failed": 0, "cells_total": total, "jobs": {}, "on_agent_failure": "void",
                "ladder": None, "error": series["error"], "agent_failures": [], "players": players,
                "human": pool_human(reports, seed=int(request.get("seed") or 0))}

    def listing(self) -> list[dict]:
        out = []
        for sid in self.ids():
            row = self.service.jobs.tournament(sid)
            players = self.players(sid)
            out.append({"id": sid, "status": row["status"], "env": row["request"].get("env_id"), "created": row["created"],
                        "agents": len(row["request"].get("agents") or []), "players": [p["player"] for p in players]})
        return out


def check_rating(rating) -> None:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise BadRequest(f"a rating is an integer from 1 (poor) to 5 (excellent), got {rating!r}")
