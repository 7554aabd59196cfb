"""The server's state and every write to it, behind one object the HTTP layer and the
dispatcher share. Each thread gets its own SQLite connection (WAL: readers never wait for
the writer); jobs, cells and matches of one completion are written in one transaction."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path

import numpy as np

from arena.agents.zoo import zoo_path
from arena.fileio import atomic_write
from arena.numfmt import json_ready
from arena.server.config import ServerConfig
from arena.server.errors import BadRequest, Conflict, NotFound
from arena.server.human import HumanSeries
from arena.server.jobs import Jobs, Lease
from arena.server.ladder import LadderConfig, Ladders
from arena.server.readcache import Generation
from arena.server.series import Series
from arena.server.submissions import Submissions
from arena.server.tokens import Tokens
from arena.tournaments.execute import CellResult, chunk_size, group_cells
from arena.tournaments.report import build_report
from arena.tournaments.spec import HUMAN, make_spec
from arena.tournaments.store import Store
from arena.tournaments.tournament import Prepared, prepare

ID = re.compile(r"^[0-9a-f]{8,64}$")  # ids, or unique prefixes of them
MATCH_ID = re.compile(r"^([0-9a-f]{12})-(\d{1,9})$")
SPEC_FIELDS = ("mode", "agents", "pool", "env", "env_kwargs", "episodes", "seeds", "seed", "pairs")
POLICIES = ("void", "forfeit")


class Service:
    def __init__(self, config: ServerConfig):
        self.config = config
        for d in (config.data, config.agents_dir, config.replays_dir, config.data / "scratch"):
            d.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.generation = Generation()  # bumped by every commit that writes; keys the read cache
        self._prepared: dict[str, Prepared] = {}
        self._lock = threading.Lock()  # one completion or submission at a time
        self.admin_token_created = self.tokens.ensure_admin(config.data)
        self.requeued = self.jobs.requeue_all_leased()
        self.ladders = Ladders(self)
        self.series = Series(self)
        self.humans = HumanSeries(self)
        for env in config.ladders:
            self.ladders.ensure(LadderConfig(env))

    def tick(self) -> None:
        """When a worker is free and nothing is queued: ladders and SPRT series queue more."""
        self.series.tick()
        self.ladders.tick()

    # ------------------------------------------------------------ per-thread handles

    def _per_thread(self, name: str, make):
        """This thread's handle `name`, made by `make()` on first use (SQLite connections
        belong to the thread that opened them)."""
        if not hasattr(self._local, name):
            setattr(self._local, name, make())
        return getattr(self._local, name)

    @property
    def store(self) -> Store:
        return self._per_thread("store", lambda: Store(self.config.db, factory=self.generation.connection))

    @property
    def jobs(self) -> Jobs:
        return self._per_thread("jobs", lambda: Jobs(self.store.db))

    @property
    def tokens(self) -> Tokens:
        return self._per_thread("tokens", lambda: Tokens(self.store.db))

    @property
    def submissions(self) -> Submissions:
        return self._per_thread("submissions", lambda: Submissions(self.store.db, self.config.agents_dir))

    # ------------------------------------------------------------ agents

    def submit_agent(self, data: bytes) -> tuple[dict, bool]:
        with self._lock:
            return self.submissions.submit(data, self.config.data / "scratch")

    def agent(self, aid: str) -> dict:
        agent = self.submissions.get(aid) if ID.match(aid) else None
        if not agent:
            raise NotFound(f"no agent {aid!r}; `GET /api/v1/agents` lists them")
        return agent

    def agent_file(self, aid: str) -> Path:
        """The checkpoint of a submitted agent, or of a zoo agent a tournament here has played."""
        agent = self.submissions.get(aid) if ID.match(aid) else None
        if agent:
            return self.submissions.path(agent["id"])
        row = self.store.db.execute("SELECT source FROM agents WHERE id = ?", (aid,)).fetchone() if ID.match(aid) else None
        if row and row[0].startswith("zoo:"):
            return zoo_path(row[0][4:])
        raise NotFound(f"no agent {aid!r} to download; `GET /api/v1/agents` lists them")

    def agent_view(self, aid: str) -> dict:
        agent = self.agent(aid)
        aid = agent["id"]
        rows = self.store.db.execute("SELECT manifest FROM agents WHERE id = ?", (aid,)).fetchone()
        if rows:
            manifest = json.loads(rows[0])
        else:
            from arena.checkpoint import read_checkpoint

            manifest = read_checkpoint(self.submissions.path(aid))[0].to_dict()
        ratings = {}
        if any(c.env == agent["env"] for c in self.ladders.configs()):
            board = self.ladders.leaderboard(agent["env"])
            ratings = {board["env"]: next((r for r in board["rows"] if r["id"] == aid), None)}
        return {**agent, "manifest": manifest, "matches": len(self.matches(agent=aid)), "ratings": ratings}

    # ------------------------------------------------------------ tournaments

    def spec_from_request(self, request: dict):
        """A TournamentSpec from a POSTed JSON object: agents by id or zoo:NAME, never by path."""
        if not isinstance(request, dict):
            raise BadRequest("the tournament spec must be a JSON object with the fields of a --spec TOML file")
        extra = sorted(set(request) - set(SPEC_FIELDS) - {"on_agent_failure", "ladder"})
        if extra:
            raise BadRequest(f"unknown spec field(s) {', '.join(extra)}; fields: {', '.join(SPEC_FIELDS)}, on_agent_failure")
        fields = {k: request[k] for k in SPEC_FIELDS if k in request and request[k] is not None}
        for key in ("agents", "pool"):
            refs = fields.get(key, [])
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                raise BadRequest(f"`{key}` must be a list of agent ids or zoo:NAME")
            fields[key] = [self._ref(r) for r in refs]
        if "env_kwargs" in fields and not isinstance(fields["env_kwargs"], dict):
            raise BadRequest("`env_kwargs` must be an object")
        if fields.get("mode") == "human":
            raise BadRequest("a human series is created by `POST /api/v1/tournaments` with `mode` human, not as part of another")
        try:
            return make_spec(**fields)
        except TypeError as err:
            raise BadRequest(f"bad spec: {err}") from None

    def _ref(self, ref: str) -> str:
        if ref.startswith("zoo:"):
            zoo_path(ref[4:])  # raises a UserError naming the zoo agents
            return ref
        agent = self.submissions.get(ref) if ID.match(ref) else None
        if not agent:
            raise BadRequest(f"the spec names agent {ref[:64]!r}, which this server does not have: give an agent id "
                             "(`arena submit` uploads one) or zoo:NAME")
        if agent["status"] == "quarantined":
            raise Conflict(f"agent {ref[:12]} is quarantined after {agent['failures']} failures in matches")
        return str(self.submissions.path(agent["id"]))

    def create_tournament(self, request: dict, idempotency_key: str | None = None, ladder: str | None = None) -> tuple[dict, bool]:
        if idempotency_key:
            known = self.jobs.by_idempotency_key(idempotency_key)
            if known:
                return self.tournament_view(known), False
        if isinstance(request, dict) and request.get("mode") == "sprt":
            return self.series.create(request, idempotency_key)
        if isinstance(request, dict) and request.get("mode") == "human":
            return self.humans.create(request, idempotency_key)
        policy = request.get("on_agent_failure", "void") if isinstance(request, dict) else "void"
        if policy not in POLICIES:
            raise BadRequest(f"`on_agent_failure` must be one of {', '.join(POLICIES)}, got {policy!r}")
        spec = self.spec_from_request(request)
        prep = prepare(spec)
        store = self.store
        with self._lock:
            store.begin_tournament(prep.id, spec.to_dict(), prep.canonical, prep.env_info,
                                   list(zip(prep.agent_ids, prep.loaded)), len(spec.agents), len(prep.cells))
            done = store.done_cells(prep.id)
            created = self.jobs.add_tournament(prep.id, request, policy, plan_batches(prep, done),
                                               ladder=ladder, idempotency_key=idempotency_key)
            self._prepared[prep.id] = prep
            if not any(True for _ in plan_batches(prep, done)):
                store.finish(prep.id)
                self.jobs.refresh(prep.id)
        return self.tournament_view(prep.id), created

    def prepared(self, tid: str) -> Prepared:
        if tid not in self._prepared:
            t = self.store.tournament(tid)
            self._prepared[tid] = prepare(make_spec(**{k: t["spec"][k] for k in SPEC_FIELDS if k in t["spec"]}))
        return self._prepared[tid]

    def tournament_view(self, tid: str) -> dict:
        if not ID.match(tid):
            raise NotFound(f"no tournament {tid!r}")
        server = self.jobs.tournament(tid)
        if not server:
            raise NotFound(f"no tournament {tid!r} on this server; `GET /api/v1/tournaments` lists them")
        if server["ladder"] == "sprt":
            return self.series.view(tid)
        if server["ladder"] == "human":
            return self.humans.view(tid)
        t = self.store.tournament(tid)
        done = len(self.store.done_cells(tid))
        matches = self.jobs.matches(tid)
        failed = {c: m for c, m in matches.items() if m["status"] != "ok"}
        played_by_hand = (server["ladder"] or "").startswith("human:")  # one player's games: no jobs
        out = {"id": tid, "status": server["status"] if played_by_hand else self.jobs.refresh(tid), "mode": t["mode"], "env": t["env"],
               "cells_done": done, "cells_failed": len(failed), "cells_total": t["n_cells"], "jobs": server["jobs"],
               "on_agent_failure": server["on_agent_failure"], "ladder": server["ladder"], "error": server["error"],
               "agent_failures": [{"match": f"{tid}-{c}", "agent": m["failed_agent"], "status": m["status"],
                                   "error": m["error"]} for c, m in sorted(failed.items())]}
        if out["status"] == "finished" or played_by_hand:
            out["report"] = json_ready(build_report(t, self.store.cells(tid)))  # floats as `--json` writes them
        return out

    def list_tournaments(self) -> list[dict]:
        ids = set(self.jobs.tournaments())
        return [t for t in self.store.list_tournaments() if t["id"] in ids]

    def cancel(self, tid: str) -> dict:
        view = self.tournament_view(tid)  # 404 when unknown
        ladder = self.jobs.tournament(view["id"])["ladder"] or ""
        if view["mode"] == "sprt":
            self.series.cancel(tid)
        elif ladder == "human":
            self.humans.cancel(tid)
        elif ladder.startswith("human:"):
            raise Conflict(f"{tid} is one player's games in human series {ladder[6:]}; cancel the series")
        else:
            self.jobs.cancel(tid)
        return self.tournament_view(tid)

    # ------------------------------------------------------------ jobs

    def payload(self, lease: Lease) -> dict:
        t = self.store.tournament(lease.tournament)
        spec = {k: t["spec"][k] for k in SPEC_FIELDS if k in t["spec"]}
        files = {ref: Path(ref).read_bytes() for ref in spec["agents"] + spec.get("pool", []) if not ref.startswith("zoo:")}
        return {"tournament": lease.tournament, "spec": spec, "files": files, "cells": list(lease.cells),
                "replay_episodes": self.config.replay_episodes}

    def complete(self, lease: Lease, out: dict) -> None:
        """Write a job's results, its matches and its end in one transaction; StaleLease when
        the lease is no longer held (nothing is written)."""
        prep = self.prepared(lease.tournament)
        sides = [s["seats"] for s in prep.env_info["sides"]]
        cells = {c.index: c for c in prep.cells}
        replays = {}
        for index, data in out.get("replays", {}).items():
            replays[index] = f"replays/{lease.tournament}-{index}.replay"
            atomic_write(self.config.data / replays[index], data)  # before the commit: an orphan is overwritten on retry
        policy = self.jobs.tournament(lease.tournament)["on_agent_failure"]
        failed_agents = []
        store, jobs = self.store, self.jobs
        with self._lock, store.db:
            jobs.check(lease)
            for r in out["cells"]:
                cell = cells[r["index"]]
                faulty = [s for s in range(len(cell.lineup)) if r["faults"] is not None and np.any(r["faults"][:, s])]
                if faulty:
                    agent = prep.agent_ids[cell.lineup[faulty[0]]]
                    failed_agents.append(agent)
                    jobs.add_match(lease.tournament, cell, policy, failed_agent=agent,
                                   error=f"side {prep.env.spec.sides[faulty[0]].name}: actions out of range or non-finite outputs "
                                         f"on {int(r['faults'][:, faulty[0]].sum())} step(s)")
                    continue
                store.insert_cell(lease.tournament, CellResult(cell, r["returns"], r["length"], r["metrics"], r["seconds"]),
                                  prep.agent_ids, sides)
                jobs.add_match(lease.tournament, cell, "ok", replay=replays.get(cell.index))
            jobs.mark_done(lease)
        for agent in failed_agents:
            self.submissions.record_failure(agent, self.config.quarantine_after)
        self._maybe_finish(lease.tournament)

    def fail(self, lease: Lease, failure: dict) -> None:
        """A job that raised: an agent failure voids (or forfeits) that agent's matches and
        re-queues the rest; an env failure fails the job; infra is retried a few times."""
        kind, error = failure["kind"], failure["error"]
        if kind == "agent":
            prep = self.prepared(lease.tournament)
            blamed = failure["agent"]
            policy = self.jobs.tournament(lease.tournament)["on_agent_failure"]
            cells = [c for c in prep.cells if c.index in lease.cells]
            hit = [c for c in cells if blamed in c.lineup]
            rest = [c.index for c in cells if blamed not in c.lineup]
            with self._lock, self.store.db:
                self.jobs.check(lease)
                for c in hit:
                    self.jobs.add_match(lease.tournament, c, policy, failed_agent=prep.agent_ids[blamed], error=error)
                self.jobs.mark_done(lease)
                if rest:
                    self.store.db.execute("INSERT INTO jobs (tournament, cells, signature, status, created) "
                                          "VALUES (?, ?, ?, 'queued', strftime('%s','now'))",
                                          (lease.tournament, json.dumps(rest), lease.signature))
            self.submissions.record_failure(prep.agent_ids[blamed], self.config.quarantine_after)
        else:
            retry = kind == "infra" and lease.attempts < self.config.job_attempts
            self.jobs.release(lease, kind, error, retry=retry)
            if not retry:
                self.jobs.set_error(lease.tournament, f"{kind} failure: {error}")
        self._maybe_finish(lease.tournament)

    def _maybe_finish(self, tid: str) -> None:
        if self.jobs.refresh(tid) == "finished":
            self.store.finish(tid)

    # ------------------------------------------------------------ matches

    def matches(self, agent: str | None = None, tournament: str | None = None) -> list[dict]:
        out = []
        for tid in ([tournament] if tournament else self.jobs.tournaments()):
            if self.jobs.tournament(tid)["ladder"] in ("sprt", "human"):
                continue  # a series has no cells of its own: its batches or players (listed too) hold the matches
            t = self.store.tournament(tid)
            ids = [a["id"] for a in t["agents"]]
            for index, m in sorted(self.jobs.matches(tid).items()):
                lineup = [ids[i] if i != HUMAN else "human" for i in m["lineup"]]
                if agent and agent not in lineup:
                    continue
                out.append({"id": f"{tid}-{index}", "tournament": tid, "env": t["env"], "agents": lineup,
                            "names": [t["agents"][i]["name"] if i != HUMAN else "human" for i in m["lineup"]],
                            "seed": m["match_seed"], "status": m["status"], "failed_agent": m["failed_agent"],
                            "error": m["error"], "replay": f"/api/v1/replays/{tid}-{index}" if m["replay"] else None})
        return out

    def match_view(self, match_id: str) -> dict:
        m = MATCH_ID.match(match_id)
        if not m:
            raise NotFound(f"no match {match_id!r}; match ids look like TOURNAMENT-CELL")
        tid, cell = m.group(1), int(m.group(2))
        found = [x for x in self.matches(tournament=tid) if x["id"] == match_id] if self.jobs.tournament(tid) else []
        if not found:
            raise NotFound(f"no match {match_id!r}")
        out = found[0]
        stored = [c for c in self.store.cells(tid) if c.index == cell]
        if stored:
            from arena import stats

            t = self.store.tournament(tid)
            c = stored[0]
            out["episodes"] = int(c.returns.shape[0])
            out["returns"] = json_ready([stats.bootstrap_ci(c.returns[:, side["seats"]].mean(axis=1), seed=0).to_dict()
                                         for side in t["env_info"]["sides"]])
            out["sides"] = [side["name"] for side in t["env_info"]["sides"]]
            out["metrics"] = json_ready({k: stats.bootstrap_ci(v, seed=0).to_dict() for k, v in c.metrics.items()})
        return out

    def replay_file(self, match_id: str) -> Path:
        m = MATCH_ID.match(match_id)
        if not m or not self.jobs.tournament(m.group(1)):
            raise NotFound(f"no match {match_id!r}")
        row = self.jobs.matches(m.group(1)).get(int(m.group(2)))
        if not row or not row["replay"]:
            raise NotFound(f"match {match_id} has no replay")
        return self.config.data / row["replay"]

    def export(self, env: str | None = None):
        """Every finished match as one JSON object per line: the raw data."""
        for tid in self.jobs.tournaments():
            if self.jobs.tournament(tid)["ladder"] in ("sprt", "human"):
                continue  # a series: its batches or players hold the matches
            t = self.store.tournament(tid)
            if env and t["env"] != env:
                continue
            ids = [a["id"] for a in t["agents"]]
            status = self.jobs.matches(tid)
            for c in self.store.cells(tid):
                yield json.dumps({"match": f"{tid}-{c.index}", "tournament": tid, "mode": t["mode"], "env": t["env"],
                                  "agents": [ids[i] if i != HUMAN else "human" for i in c.lineup], "sides": [s["name"] for s in t["env_info"]["sides"]],
                                  "seed": c.match_seed, "status": status.get(c.index, {}).get("status", "ok"),
                                  "returns": c.returns.tolist(), "length": c.length.tolist(),
                                  "metrics": {k: v.tolist() for k, v in c.metrics.items()}}) + "\n"

    def leaderboards(self) -> list[dict]:
        return [self.ladders.leaderboard(c.env) for c in self.ladders.configs()]

    def health(self) -> dict:
        return {"queue": self.jobs.counts(), "agents": len(self.submissions.all())}


def plan_batches(prep: Prepared, done: set[int]):
    """(signature, cells) per job: exactly the chunks `arena tournament run` plays, so the
    compiled shapes, and the numbers, are the CLI's; cells already stored are left out."""
    for key, group in group_cells(prep.cells, prep.loaded).items():
        size = chunk_size(len(group), prep.spec.episodes, None)
        # Architecture and shapes, not agents: jobs with one signature share compiled functions.
        signature = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
        for start in range(0, len(group), size):
            todo = [c.index for c in group[start:start + size] if c.index not in done]
            if todo:
                yield signature, todo
