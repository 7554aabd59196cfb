"""Execution: cells grouped by the agents' static description, each group run as few
compiled population calls as memory allows.

Agents of one architecture and shape (per side) share one compiled function; their params are
stacked along a new leading axis and each pairing indexes into the stack, so an N x N
cross-play matrix of such agents is one compile and ceil(cells / chunk) calls. Mixed
architectures form one group per architecture pair. Replicate seeds are rows of the same
vmapped axis. The chunk size is fixed per group from the full schedule (the last chunk is
padded), so a resumed run reuses the same compiled shape and gives the same numbers.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from arena.runner import MatchOutput, MatchResult, compiled_population_match, match_result
from arena.tournaments.schedule import Cell

# Episodes played by one compiled call (pairings x episodes); bounds device memory.
EPISODES_PER_CALL = 8192


@dataclasses.dataclass
class CellResult:
    """Host-side outcome of one cell."""

    cell: Cell
    returns: np.ndarray  # (E, S) float32 per episode and seat
    length: np.ndarray  # (E,) int32
    metrics: dict  # name -> (E,) float32
    seconds: float  # this cell's share of its compiled call's wall time
    faults: np.ndarray | None = None  # (E, n_sides) steps a side's agent misbehaved (runner faults)
    # With `run_cells(record=k)`: the cell's match with its first k episodes recorded, from the
    # very call that played the cell (a re-play at another batch width may round otherwise).
    recorded: MatchResult | None = None


@dataclasses.dataclass
class ExecutionStats:
    calls: int = 0
    compiles: int = 0
    compile_seconds: float = 0.0
    compute_seconds: float = 0.0  # inside compiled calls (block_until_ready)


def _signature(agent, params) -> tuple:
    return (agent, jax.tree.structure(params),
            tuple((np.shape(x), np.asarray(x).dtype.str) for x in jax.tree.leaves(params)))


def as_data(loaded: Sequence) -> list[tuple]:
    """(agent, params) per loaded agent with config values moved into params (`Agent.as_data`),
    so agents that differ only in those share a signature and a compiled call."""
    return [a.agent.as_data(a.params) for a in loaded]


def group_cells(cells: Sequence[Cell], loaded: Sequence) -> dict[tuple, list[Cell]]:
    """Cells keyed by the per-side static signature of their agents, in schedule order."""
    sigs = [_signature(agent, params) for agent, params in as_data(loaded)]
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(tuple(sigs[i] for i in cell.lineup), []).append(cell)
    return groups


def chunk_size(n_cells: int, episodes: int, chunk: int | None) -> int:
    limit = chunk if chunk else max(1, EPISODES_PER_CALL // episodes)
    return max(1, min(limit, n_cells))


def run_cells(
    env,
    loaded: Sequence,
    all_cells: Sequence[Cell],
    todo: set[int],
    episodes: int,
    *,
    chunk: int | None = None,
    record: int = 0,
    on_results: Callable[[list[CellResult]], None] = lambda results: None,
) -> ExecutionStats:
    """Play the cells whose index is in `todo`; hand each chunk's results to `on_results`
    as soon as its call returns (the store commits them there). `record` > 0 also records
    each cell's first `record` episodes (`CellResult.recorded`)."""
    record = min(int(record), episodes)
    stats = ExecutionStats()
    metric_names = [m.name for m in env.spec.metrics]
    data = as_data(loaded)
    for group in group_cells(all_cells, loaded).values():
        pending = [c for c in group if c.index in todo]
        if not pending:
            continue
        size = chunk_size(len(group), episodes, chunk)
        n_sides = len(group[0].lineup)
        # Per side: the distinct agents that play it in this group, stacked once.
        members = [sorted({c.lineup[s] for c in group}) for s in range(n_sides)]
        population = tuple(
            jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *[data[i][1] for i in m])
            for m in members
        )
        row = [{agent: k for k, agent in enumerate(m)} for m in members]
        agents = tuple(data[i][0] for i in group[0].lineup)
        compiled, built = compiled_population_match(env, agents, population, episodes, size, record=record)
        if built:
            stats.compiles += 1
            stats.compile_seconds += compiled.compile_seconds
        for start in range(0, len(pending), size):
            batch = pending[start:start + size]
            padded = batch + [batch[0]] * (size - len(batch))
            index = np.array([[row[s][c.lineup[s]] for s in range(n_sides)] for c in padded], np.int32)
            keys = np.stack([np.asarray(jax.random.PRNGKey(c.match_seed)) for c in padded])
            t0 = time.perf_counter()
            out = jax.block_until_ready(compiled.fn(population, jnp.asarray(index), jnp.asarray(keys), env.default_params))
            seconds = time.perf_counter() - t0
            stats.calls += 1
            stats.compute_seconds += seconds
            returns = np.asarray(out.returns)
            length = np.asarray(out.length)
            faults = np.asarray(out.faults)
            metrics = {k: np.asarray(out.metrics[k]) for k in metric_names}
            host = jax.device_get(out) if record else None
            on_results([
                CellResult(c, returns[p], length[p], {k: metrics[k][p] for k in metric_names}, seconds / len(batch), faults[p],
                           _recorded(env, host, p, c, loaded, seconds / len(batch), record) if host is not None else None)
                for p, c in enumerate(batch)
            ])
    return stats


def _recorded(env, out: MatchOutput, p: int, cell: Cell, loaded: Sequence, seconds: float, record: int) -> MatchResult:
    """Pairing p of a population call's host-side output as the MatchResult of its cell."""
    mine = jax.tree.map(lambda x: x[p], out)
    return match_result(env, mine, seed=cell.match_seed, agent_names=tuple(loaded[i].name for i in cell.lineup),
                        seconds=seconds, compile_seconds=0.0, record=record)
