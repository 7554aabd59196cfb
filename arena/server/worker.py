"""What a worker process (or Ray actor) does with one job: play its cells, record each
match's first episodes as a replay, and say whose fault a failure was. It returns arrays and
bytes only; the server writes everything.

Agents arrive as checkpoint bytes (a Ray node may not share the server's disk); the worker
keeps them in its own scratch dir by content and keeps each tournament's loaded agents and
compiled functions warm across jobs.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from arena.agent import build_agent
from arena.checkpoint import LoadedAgent
from arena.errors import UserError
from arena.fileio import atomic_write
from arena.match import record_replay
from arena.paths import enable_compilation_cache
from arena.runner import run_match
from arena.tournaments.execute import CellResult, run_cells
from arena.tournaments.spec import make_spec
from arena.tournaments.tournament import Prepared, prepare


@dataclasses.dataclass(frozen=True)
class Failure:
    kind: str  # agent | env | infra
    error: str
    agent: int | None = None  # index into the tournament's agents when kind == "agent"


class Worker:
    """One per worker process or actor: a small cache of prepared tournaments."""

    def __init__(self, scratch: str | None = None, keep: int = 8):
        self.scratch = Path(scratch or tempfile.mkdtemp(prefix="arena-worker-"))
        self.prepared: collections.OrderedDict[str, Prepared] = collections.OrderedDict()
        self.keep = keep

    def pid(self) -> int:
        return os.getpid()

    def play(self, job: dict) -> dict:
        """job: {tournament, spec, files: {ref: ckpt bytes}, cells: [indices], replay_episodes}.
        Returns {cells: [...], replays: {cell: bytes}, failure: Failure | None}."""
        prep = self._prepare(job)
        wanted = set(job["cells"])
        results: list = []
        try:
            run_cells(prep.env, prep.loaded, prep.cells, wanted, prep.spec.episodes,
                      record=max(0, int(job.get("replay_episodes", 0))), on_results=results.extend)
        except Exception as err:  # noqa: BLE001  (attributed below: the job fails, the worker lives)
            return {"cells": [], "replays": {}, "failure": self._attribute(prep, wanted, err)}
        out, replays = [], {}
        for r in results:
            out.append({"index": r.cell.index, "returns": r.returns, "length": r.length, "metrics": r.metrics,
                        "seconds": r.seconds, "faults": r.faults})
            if r.recorded is not None and not np.any(r.faults) and np.all(np.isfinite(r.returns)):
                replays[r.cell.index] = self._replay(prep, r)
        return {"cells": out, "replays": replays, "failure": None}

    # ------------------------------------------------------------ internals

    def _prepare(self, job: dict) -> Prepared:
        tid = job["tournament"]
        if tid in self.prepared:
            self.prepared.move_to_end(tid)
            return self.prepared[tid]
        local = {ref: str(self._cached(data)) for ref, data in job.get("files", {}).items()}
        spec = dict(job["spec"])
        spec["agents"] = [local.get(r, r) for r in spec["agents"]]
        spec["pool"] = [local.get(r, r) for r in spec.get("pool", [])]
        prep = prepare(make_spec(**spec))
        if prep.id != tid:
            raise UserError(f"worker: the spec prepares as tournament {prep.id}, the job says {tid}")
        self.prepared[tid] = prep
        while len(self.prepared) > self.keep:
            self.prepared.popitem(last=False)
        return prep

    def _cached(self, data: bytes) -> Path:
        path = self.scratch / "agents" / f"{hashlib.sha256(data).hexdigest()}.ckpt"
        if not path.exists():
            atomic_write(path, data)
        return path

    def _replay(self, prep: Prepared, r: CellResult) -> bytes:
        """The replay of a cell's first episodes, as recorded by the call that played the cell:
        a re-play of k episodes alone would step them in a batch of k, which XLA may round
        otherwise than the cell's (mpe_tag's velocities differ in the last bit at 64 vs 1).
        Its meta `batch` is the cell's episode count, the width `arena replay verify` uses."""
        lineup = [prep.loaded[i] for i in r.cell.lineup]
        self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            path = Path(tmp) / "match.replay"
            record_replay(path, prep.env, r.recorded, lineup, prep.spec.episodes)  # every recorded one
            return path.read_bytes()

    def _attribute(self, prep: Prepared, wanted: set[int], err: Exception) -> Failure:
        """Whose fault: replay each distinct agent of the job for one episode beside random
        agents; the one that fails alone is to blame. If none does, a random-only episode
        tells the env from the worker."""
        cells = [c for c in prep.cells if c.index in wanted]
        for i in sorted({i for c in cells for i in c.lineup}):
            for s in range(len(prep.env.spec.sides)):
                if s not in [k for c in cells for k, j in enumerate(c.lineup) if j == i]:
                    continue
                try:
                    self._probe(prep, {s: prep.loaded[i]})
                except Exception as probe_err:  # noqa: BLE001
                    return Failure("agent", f"{prep.loaded[i].name}: {_one_line(probe_err)}", i)
        try:
            self._probe(prep, {})
        except Exception as probe_err:  # noqa: BLE001
            return Failure("env", f"{prep.env.spec.id}: {_one_line(probe_err)}")
        return Failure("infra", _one_line(err))

    def _probe(self, prep: Prepared, fixed: dict[int, LoadedAgent]) -> None:
        env = prep.env
        agents, params = [], []
        for s, side in enumerate(env.spec.sides):
            if s in fixed:
                agents.append(fixed[s].agent)
                params.append(fixed[s].params)
            else:
                team = env.spec.team_of(side)
                rand = build_agent("random", {}, team.obs_shape, team.obs_dtype, team.num_actions)
                agents.append(rand)
                params.append(rand.init_params(None))
        run_match(env, agents, params, episodes=1, seed=0)


def _one_line(err: Exception) -> str:
    text = f"{type(err).__name__}: {err}".strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


# The worker of this process, made by the pool's initializer (a process pool gives a task no
# other way to reach state that outlives it).
_WORKER: Worker | None = None


def init_process(scratch: str | None = None) -> None:
    global _WORKER
    enable_compilation_cache()
    _WORKER = Worker(scratch)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="arena-orphan-watch").start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """A server killed with SIGKILL runs no shutdown code: its workers notice they were
    orphaned (re-parented) and exit, instead of idling forever beside the next server."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def play_in_process(job: dict) -> dict:
    assert _WORKER is not None, "init_process was not run"
    out = _WORKER.play(job)
    if out["failure"] is not None:
        out["failure"] = dataclasses.asdict(out["failure"])
    return out
