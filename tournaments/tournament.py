"""A tournament end to end: load and check the agents, schedule the cells, play the missing
ones (resuming from the store), and build the report from what is stored.

The report is always computed from the store, never from in-memory results, so a resumed run,
an uninterrupted run and `arena tournament show ID` print the same numbers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable

from arena.checkpoint import load_agent
from arena.errors import FieldError, UserError
from arena.lineup import resolve_env
from arena.tournaments.execute import run_cells
from arena.tournaments.report import build_report
from arena.tournaments.schedule import human_schedule, schedule
from arena.tournaments.spec import TournamentSpec, spec_id
from arena.tournaments.store import Store


def agent_id(loaded) -> str:
    """Content id of an agent: sha256 over its whole manifest (which holds the params sha256),
    so two scripted agents with empty params but different rules are different agents."""
    text = json.dumps(loaded.manifest.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def refuse_duplicates(refs, ids: list[str]) -> None:
    """One agent given twice (the same file, or a copy with the same manifest and params)
    would give two identical rows that nothing tells apart: refuse it."""
    first: dict[str, str] = {}
    for ref, aid in zip(refs, ids):
        if aid in first:
            same = "is given twice" if first[aid] == ref else f"and {first[aid]} are the same agent (same manifest and params)"
            raise UserError(f"{ref} {same}: give each agent once")
        first[aid] = ref


def refuse_privileged(loaded) -> None:
    """A spec with `privileged = "forbid"` plays only agents that act on their observation."""
    for a in loaded:
        if a.manifest.privileged:
            raise FieldError(f"{a.source}: agent {a.name!r} is privileged (it reads the env state: manifest "
                             "`privileged = true`) and this tournament forbids that (`privileged` forbid); "
                             "leave it out, or play with `privileged` allow")


@dataclasses.dataclass
class Prepared:
    spec: TournamentSpec
    id: str
    loaded: list
    agent_ids: list[str]
    env: object
    cells: list
    canonical: dict

    @property
    def env_info(self) -> dict:
        s = self.env.spec
        return {"id": s.id, "kwargs": dict(s.kwargs), "cooperative": s.cooperative,
                "sides": [{"name": side.name, "seats": list(side.seats)} for side in s.sides],
                "metrics": [m.name for m in s.metrics], "seats": list(s.seats),
                "scores": [x.to_dict() for x in s.scores]}


def prepare(spec: TournamentSpec) -> Prepared:
    """Load every agent, resolve the env, check the lineups and schedule the cells."""
    loaded = [load_agent(r) for r in spec.agents + spec.pool]
    ids = [agent_id(a) for a in loaded]
    refuse_duplicates(spec.agents + spec.pool, ids)
    if spec.privileged == "forbid":
        refuse_privileged(loaded)
    env = resolve_env(loaded, spec.env, dict(spec.env_kwargs))
    if spec.mode == "human":
        cells = human_schedule(loaded, ids, env, spec.seat, spec.seeds, spec.seed, spec.player, spec.row)
    else:
        cells = schedule(spec.mode, loaded, ids, env, len(spec.agents), spec.seeds, spec.seed, spec.pairs, spec.reference)
    canonical = spec.canonical(ids[: len(spec.agents)], ids[len(spec.agents):])
    canonical["env"], canonical["env_kwargs"] = env.spec.id, {k: v for k, v in env.spec.kwargs}
    return Prepared(spec, spec_id(canonical), loaded, ids, env, cells, canonical)


@dataclasses.dataclass
class RunInfo:
    id: str
    cells_total: int
    cells_run: int  # this invocation; the rest came from the store
    calls: int
    compiles: int
    compile_seconds: float
    compute_seconds: float
    wall_seconds: float


def run_tournament(
    spec: TournamentSpec,
    *,
    db: str | None = None,
    chunk: int | None = None,
    progress: bool = False,
    on_cells: Callable[[int], None] | None = None,
) -> tuple[dict, RunInfo]:
    """Play the tournament's missing cells and return (report, run info).

    `on_cells(n)` is called after each chunk is committed with the number of cells stored so
    far (the progress bar uses it; tests raise from it to simulate a crash).
    """
    if spec.mode == "human":
        raise UserError("a human series is played in a window: `arena tournament --mode human ...` "
                        "(arena.tournaments.human.run_human_series)")
    wall = time.perf_counter()
    prep = prepare(spec)
    store = Store(db)
    try:
        store.begin_tournament(prep.id, spec.to_dict(), prep.canonical, prep.env_info,
                               list(zip(prep.agent_ids, prep.loaded)), len(spec.agents), len(prep.cells))
        done = store.done_cells(prep.id)
        todo = {c.index for c in prep.cells} - done
        sides = [s["seats"] for s in prep.env_info["sides"]]
        bar = _Progress(len(prep.cells), len(done), spec.episodes) if progress and todo else None
        stored = [len(done)]

        def commit(results):
            store.add_cells(prep.id, results, prep.agent_ids, sides)
            stored[0] += len(results)
            if bar:
                bar.advance(len(results))
            if on_cells:
                on_cells(stored[0])

        try:
            stats = run_cells(prep.env, prep.loaded, prep.cells, todo, spec.episodes, chunk=chunk, on_results=commit)
        finally:
            if bar:
                bar.stop()
        if len(store.done_cells(prep.id)) == len(prep.cells):
            store.finish(prep.id)
        t = store.tournament(prep.id)
        report = build_report(t, store.cells(prep.id))
    finally:
        store.close()
    info = RunInfo(prep.id, len(prep.cells), len(todo), stats.calls, stats.compiles, stats.compile_seconds,
                   stats.compute_seconds, time.perf_counter() - wall)
    return report, info


class _Progress:
    """A rich progress bar: cells done of total, episodes per second, ETA."""

    def __init__(self, total: int, done: int, episodes: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.episodes = episodes
        self.start = time.perf_counter()
        self.run = 0
        self.bar = Progress(
            TextColumn("[bold]cells"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[eps]} episodes/s"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), transient=False,
        )
        self.task = self.bar.add_task("cells", total=total, completed=done, eps="-")
        self.bar.start()

    def advance(self, n: int) -> None:
        self.run += n
        rate = self.run * self.episodes / max(time.perf_counter() - self.start, 1e-9)
        self.bar.update(self.task, advance=n, eps=f"{rate:,.0f}")

    def stop(self) -> None:
        self.bar.stop()
