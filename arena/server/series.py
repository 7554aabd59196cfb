"""Head-to-head SPRT series (fishtest's sequential test): `"mode": "sprt"` between two agents
plays batches of seat-swapped seed pairs, each batch an ordinary round-robin tournament of the
two, until the generalised SPRT over pentanomial pair scores decides (or a batch cap is
reached); what is still queued then is cancelled. The series is a row of its own in
`server_tournaments`; its batches name it in their `ladder` column as `sprt:ID`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time

import numpy as np

from arena.server.errors import BadRequest, NotFound
from arena.tournaments.sprt import SprtConfig, sprt

FIELDS = ("mode", "agents", "env", "env_kwargs", "episodes", "seed", "sprt", "max_batches", "on_agent_failure")
OPEN = ("queued", "running")
IN_FLIGHT = 2  # batches queued at once, so a second worker has something to play


@dataclasses.dataclass(frozen=True)
class SeriesSpec:
    agents: tuple[str, str]
    env: str | None = None
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    episodes: int = 32  # per seat order and batch: a batch is `episodes` seat-swapped pairs
    seed: int = 0
    max_batches: int = 32
    test: SprtConfig = SprtConfig()

    @classmethod
    def from_request(cls, request: dict) -> SeriesSpec:
        unknown = sorted(set(request) - set(FIELDS))
        if unknown:
            raise BadRequest(f"unknown sprt field(s) {', '.join(unknown)}; fields: {', '.join(FIELDS)}")
        agents = request.get("agents")
        if not isinstance(agents, list) or len(agents) != 2 or not all(isinstance(a, str) for a in agents):
            raise BadRequest("an sprt series is between exactly two agents: `agents: [A, B]`")
        for key in ("episodes", "max_batches"):
            if key in request and (not isinstance(request[key], int) or isinstance(request[key], bool) or request[key] < 1):
                raise BadRequest(f"`{key}` must be a positive integer")
        test = request.get("sprt", {})
        if not isinstance(test, dict):
            raise BadRequest("`sprt` must be an object with elo0, elo1, alpha, beta")
        try:
            test = SprtConfig(**test)
        except TypeError as err:
            raise BadRequest(f"`sprt`: {err}") from None
        if not (0 < test.alpha < 0.5 and 0 < test.beta < 0.5 and test.elo1 > test.elo0):
            raise BadRequest("`sprt` needs 0 < alpha, beta < 0.5 and elo1 > elo0")
        return cls(agents=tuple(agents), env=request.get("env"), env_kwargs=dict(request.get("env_kwargs") or {}),
                   episodes=request.get("episodes", 32), seed=request.get("seed", 0),
                   max_batches=request.get("max_batches", 32), test=test)

    def series_id(self) -> str:
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(("sprt:" + text).encode()).hexdigest()[:12]

    def batch_request(self, k: int) -> dict:
        return {"mode": "roundrobin", "agents": list(self.agents), "pairs": [[0, 1]], "env": self.env,
                "env_kwargs": self.env_kwargs, "episodes": self.episodes, "seed": self.seed * 100003 + k}


class Series:
    def __init__(self, service):
        self.service = service

    def create(self, request: dict, idempotency_key: str | None = None) -> tuple[dict, bool]:
        spec = SeriesSpec.from_request(request)
        policy = request.get("on_agent_failure", "void")
        for ref in spec.agents:
            self.service._ref(ref)  # 400 / 409 for unknown or quarantined agents, before anything is queued
        sid = spec.series_id()
        if not self.service.jobs.add_series(sid, request, policy, "sprt", idempotency_key):
            return self.view(sid), False
        self.tick_one(sid)
        return self.view(sid), True

    def ids(self) -> list[str]:
        return self.service.jobs.tournaments(ladder="sprt")

    def batches(self, sid: str) -> list[str]:
        return self.service.jobs.tournaments(ladder=f"sprt:{sid}")

    def spec(self, sid: str) -> SeriesSpec:
        return SeriesSpec.from_request(self.service.jobs.tournament(sid)["request"])

    def result(self, sid: str):
        """The SPRT over every finished pair of every batch."""
        spec, pairs = self.spec(sid), []
        for tid in self.batches(sid):
            t = self.service.store.tournament(tid)
            sides = [s["seats"] for s in t["env_info"]["sides"]]
            by_lineup = {c.lineup: c for c in self.service.store.cells(tid)}
            if (0, 1) in by_lineup and (1, 0) in by_lineup:
                a_first, a_second = by_lineup[(0, 1)].returns, by_lineup[(1, 0)].returns
                # Both seat orders share match seeds: episode e of each is one seat-swapped pair.
                pairs.append(_score(a_first[:, sides[0]].mean(1), a_first[:, sides[1]].mean(1))
                             + _score(a_second[:, sides[1]].mean(1), a_second[:, sides[0]].mean(1)))
        return sprt(np.concatenate(pairs) if pairs else np.zeros(0), spec.test)

    def tick(self) -> None:
        for sid in self.ids():
            if self.service.jobs.tournament(sid)["status"] == "running":
                self.tick_one(sid)

    def tick_one(self, sid: str) -> None:
        spec, jobs = self.spec(sid), self.service.jobs
        batches = self.batches(sid)
        open_ = [t for t in batches if jobs.refresh(t) in OPEN]
        finished = [t for t in batches if jobs.tournament(t)["status"] == "finished"]
        decided = self.result(sid).decision if finished else None
        if decided or len(finished) >= spec.max_batches or any(jobs.tournament(t)["status"] == "failed" for t in batches):
            for t in open_:
                jobs.cancel(t)  # decided: what is still queued is not needed
            with self.service.store.db:
                self.service.store.db.execute("UPDATE server_tournaments SET status = 'finished', updated = ? WHERE id = ?",
                                              (time.time(), sid))
            return
        k = len(batches)
        while len(open_) < IN_FLIGHT and k < spec.max_batches:
            view, _ = self.service.create_tournament(spec.batch_request(k), ladder=f"sprt:{sid}")
            open_.append(view["id"])
            k += 1

    def cancel(self, sid: str) -> None:
        for t in self.batches(sid):
            self.service.jobs.cancel(t)
        with self.service.store.db:
            self.service.store.db.execute("UPDATE server_tournaments SET status = 'cancelled', updated = ? WHERE id = ? "
                                          "AND status = 'running'", (time.time(), sid))

    def view(self, sid: str) -> dict:
        server = self.service.jobs.tournament(sid)
        if not server:
            raise NotFound(f"no tournament {sid!r}")
        spec = self.spec(sid)
        batches = self.batches(sid)
        done = total = 0
        for tid in batches:
            t = self.service.store.tournament(tid)
            done += len(self.service.store.done_cells(tid))
            total += t["n_cells"]
        result = self.result(sid)
        return {"id": sid, "status": server["status"], "mode": "sprt", "env": spec.env, "agents": list(spec.agents),
                "cells_done": done, "cells_failed": 0, "cells_total": total, "jobs": server["jobs"],
                "on_agent_failure": server["on_agent_failure"], "ladder": None, "error": server["error"],
                "agent_failures": [], "batches": batches,
                "sprt": {**dataclasses.asdict(result), "config": dataclasses.asdict(spec.test),
                         "max_batches": spec.max_batches}}


def _score(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    return np.where(mine > theirs, 1.0, np.where(mine == theirs, 0.5, 0.0))
