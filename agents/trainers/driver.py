"""The one run loop every trainer goes through: chunks, progress, checkpoints, resume.

The driver jits a `lax.scan` of `trainer.update` over a chunk of updates, so Python only runs
between chunks: to draw the progress bar, append metrics and write checkpoints. Chunks always
start at multiples of the chunk size, so a run resumed from a checkpoint replays exactly the
compiled calls an uninterrupted run makes, and ends with the same params. It reads only what
`contract.Trainer` declares.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from arena.agents.trainers import reference, runfiles
from arena.agents.trainers.contract import Output, Trainer
from arena.agents.trainers.runfiles import member_metric, metrics_of
from arena.cache import CompileCache
from arena.checkpoint import manifest_for, params_to_bytes, save_checkpoint
from arena.versions import installed_version, library_versions

if TYPE_CHECKING:
    from arena.agents.trainers.run import RunSpec

# Compiled init and chunk functions, keyed by trainer (a frozen, hashable description): runs
# in one process (the zoo build, the tests) that share settings share compiled code.
_COMPILED = CompileCache(maxsize=32)


def compiled_init(trainer: Trainer) -> Callable:
    """jit(trainer.init), compiled once per trainer (a bound method is a new object per call)."""
    return _COMPILED.get((trainer, "init"), lambda: jax.jit(trainer.init))[0]


def compiled_chunk(trainer: Trainer, n: int) -> Callable:
    """jit(scan(update, n)): one compiled call per (trainer, chunk length)."""

    def build():
        return jax.jit(lambda s: jax.lax.scan(lambda s, _: trainer.update(s), s, None, length=n))

    return _COMPILED.get((trainer, n), build)[0]


@dataclasses.dataclass
class RunResult:
    outputs: list[Path]
    updates: int
    env_steps: int
    wall_time: float
    final: dict  # last metrics row
    interrupted: bool = False
    state: Any = None


def outputs(trainer: Trainer, spec: RunSpec) -> list[Output]:
    """The checkpoints a run writes: `spec.out` for one team, X-<team>.ckpt for each of several
    it trains (a frozen opponent's team gets none)."""
    out = Path(spec.out)
    teams = trainer.env.spec.teams
    if len(teams) == 1:
        return [Output(out, trainer.agents[0], 0, (), spec.name)]
    stem = out.with_suffix("") if out.suffix == ".ckpt" else out
    return [
        Output(stem.parent / f"{stem.name}-{t.name}.ckpt", agent, k, (t.name,), f"{spec.name}-{t.name}")
        for k, (t, agent) in enumerate(zip(teams, trainer.agents)) if k not in trainer.frozen
    ]


def _rows(metrics: dict, first_update: int, steps_per_update: int) -> list[dict]:
    host = jax.tree.map(np.asarray, metrics)
    n = len(next(iter(host.values())))
    rows = []
    for i in range(n):
        u = first_update + i + 1
        row = {"update": u, "env_steps": u * steps_per_update}
        row.update({k: float(v[i]) for k, v in host.items()})
        rows.append(row)
    return rows


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How a run is driven; none of it changes what is trained (see `run.train`)."""

    resume: bool  # continue from the state file beside the run's out path
    chunk: int  # updates per compiled call
    checkpoint_every: int  # updates between checkpoints, rounded to whole chunks
    progress: bool  # draw a progress bar


def run(trainer: Trainer, kind: str, spec: RunSpec, schedule: Schedule, *, outs: list[Output] | None = None,
        start: Any = None) -> RunResult:
    """Run `trainer` (built from `spec`) to `trainer.num_updates`, checkpointing every
    `schedule.checkpoint_every` updates; with `schedule.resume`, continue from the state file
    beside `spec.out`.

    `start` is what `trainer.init` takes (default PRNGKey(spec.seed)) and `outs` the
    checkpoints to write (default `outputs(trainer, spec)`): a population (population.py)
    passes its members' keys and env params, and one output per member and team.
    The state file's meta is `spec.meta(kind)` plus the update counter and wall time. Ctrl-C
    stops between chunks and leaves the last checkpoint in place (RunResult.interrupted).
    """

    files = runfiles.RunFiles.of(spec.out)
    files.out.parent.mkdir(parents=True, exist_ok=True)
    outs = outputs(trainer, spec) if outs is None else outs
    start = jax.random.PRNGKey(spec.seed) if start is None else start
    # Runs whose checkpoints play together: a team game's teams, per population member.
    groups = [[o for o in outs if o.member == m] for m in dict.fromkeys(o.member for o in outs)]
    env_id = trainer.env.spec.id
    teams = trainer.env.spec.teams
    meta = spec.meta(kind)
    chunk = max(1, min(schedule.chunk, schedule.checkpoint_every))
    checkpoint_every = max(chunk, schedule.checkpoint_every // chunk * chunk)  # checkpoints fall on chunk ends
    wall_before = 0.0
    if schedule.resume:
        saved_meta, data = runfiles.read_state(files.state)
        # Only the tree's structure, shapes and dtypes are needed: nothing is computed.
        template = jax.eval_shape(trainer.init, start)
        state = runfiles.restore_state(template, data, files.state)
        wall_before = float(saved_meta.get("wall_time", 0.0))
        update = int(state.update)
        rows = runfiles.truncate_metrics(files.metrics, upto=update)
    else:
        state = trainer.seed_state(compiled_init(trainer)(start))
        update = 0
        files.metrics.unlink(missing_ok=True)
        rows = []
    final = rows[-1] if rows else {}
    start = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - start

    def save(state, final) -> None:
        u = int(state.update)
        with runfiles.deferred_sigint():
            runfiles.save_state(files.state, {**meta, "update": u, "wall_time": wall()}, state)
            for o in outs:
                params = trainer.team_params(state, o.team)
                if o.member is not None:
                    params = jax.tree.map(lambda x, m=o.member: x[m], params)
                params = jax.tree.map(np.asarray, params)
                suffix = "" if len(teams) == 1 else f"/{teams[o.team].name}"
                seed = o.provenance.get("seed", spec.seed)
                provenance = {
                    "algorithm": trainer.algorithm,
                    "seed": seed,
                    "steps": u * trainer.steps_per_update,
                    "updates": u,
                    "planned_steps": trainer.num_updates * trainer.steps_per_update,
                    "wall_time_s": round(wall(), 1),
                    "hyperparameters": trainer.hyperparameters(),
                    "reward_shaping": trainer.reward_shaping(),
                    "final_training_return": final.get(member_metric(f"return{suffix}", o.member)),
                    "final_training_metrics": metrics_of(final, o.member),
                    "trained_with": trainer.trained_with,
                    "arena_version": installed_version("arena") or "unknown",
                    **library_versions(),
                    **o.provenance,
                }
                manifest = manifest_for(
                    o.agent, env=env_id, params_bytes=params_to_bytes(params), plays=o.plays,
                    provenance=provenance, name=o.name, env_kwargs=dict(spec.env_kwargs),
                    description=f"{trainer.title} on {spec.env}, seed {seed}",
                )
                save_checkpoint(o.path, manifest, params)
            runfiles.plot_curves(files.curves, runfiles.read_metrics(files.metrics), trainer.curve_keys,
                                 f"{trainer.algorithm} on {env_id}, seed {spec.seed}")

    interrupted = False
    bar = _progress(schedule.progress)
    try:
        with bar:
            task = bar.add_task(f"{trainer.algorithm} {env_id}", total=trainer.num_updates, completed=update, info="")
            t_last = time.perf_counter()
            while update < trainer.num_updates:
                n = min(chunk, trainer.num_updates - update)
                state, metrics = compiled_chunk(trainer, n)(state)
                new_rows = _rows(metrics, update, trainer.steps_per_update)
                update += n
                runfiles.write_metrics(files.metrics, new_rows)
                final = new_rows[-1]
                now = time.perf_counter()
                sps = n * trainer.steps_per_update * len(groups) / max(now - t_last, 1e-9)
                t_last = now
                bar.update(task, completed=update, info=progress_info(sps, final, trainer.progress_keys))
                if update % checkpoint_every == 0 or update >= trainer.num_updates:
                    save(state, final)
    except KeyboardInterrupt:
        interrupted = True
    if not interrupted and update >= trainer.num_updates:
        # The zero-shot reference: self-play measured by arena, written into the checkpoints.
        with runfiles.deferred_sigint():
            for group in groups:
                lineup = None
                if trainer.frozen:  # side order, the frozen opponent's checkpoint in its team's place
                    by_team = {o.team: str(o.path) for o in group}
                    lineup = [spec.opponent if k in trainer.frozen else by_team[k] for k in range(len(teams))]
                reference.record([o.path for o in group], env_kwargs=dict(spec.env_kwargs), lineup=lineup)
    return RunResult(
        outputs=[o.path for o in outs],
        updates=runfiles.saved_update(files.state) if interrupted else int(state.update),
        env_steps=update * trainer.steps_per_update, wall_time=wall(), final=final, interrupted=interrupted,
        state=state,
    )


def progress_info(steps_per_s: float, row: dict, keys) -> str:
    """The metrics line under the progress bar: speed, then each of `keys` the row has."""
    return "  ".join([f"{steps_per_s:,.0f} steps/s", *(f"{k} {row[k]:.2f}" for k in keys if k in row)])


class _NoBar(contextlib.nullcontext):
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


class _TwoLineProgress(Progress):
    """The bar on one line and each task's metrics (`info`) on the next, cropped to the
    terminal: on one line rich gave the metrics the room and dropped the bar."""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if task.fields.get("info"):
                yield Text(task.fields["info"], no_wrap=True, overflow="ellipsis")


def _progress(enabled: bool, console: Console | None = None):
    if not enabled:
        return _NoBar()
    return _TwoLineProgress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("updates"),
        TimeElapsedColumn(), TimeRemainingColumn(), transient=False, console=console,
    )
