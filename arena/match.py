"""`arena match`: load agents, check they can play the env, run both seat orders, summarise.

The report is plain data (what `--json` prints); the CLI only formats it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from arena.checkpoint import LoadedAgent, load_agent
from arena.dataset import check_dataset_path, write_dataset
from arena.env import Env
from arena.errors import FieldError
from arena.lineup import can_play, check_lineup, resolve_env
from arena.meta import MetaShape, inner_view, run_meta_match
from arena.replay import check_writable, write_replay
from arena.runner import MatchResult, run_match
from arena.stats import bootstrap_ci
from arena.trace import side_infos, traces_from_result, trimmed
from arena.trees import thaw


def _order_report(env: Env, result: MatchResult, lineup: Sequence[LoadedAgent], seed: int) -> dict:
    sides = env.spec.sides
    return {
        "sides": [
            {
                "side": side.name,
                "team": env.spec.team_of(side).name,
                "seats": [env.spec.seats[s] for s in side.seats],
                "agent": loaded.name,
                "source": loaded.source,
                "return": bootstrap_ci(result.side_returns[:, i], seed=seed).to_dict(),
            }
            for i, (side, loaded) in enumerate(zip(sides, lineup))
        ],
        "metrics": {k: bootstrap_ci(v, seed=seed).to_dict() for k, v in result.metrics.items()},
        "episode_length": float(result.length.mean()),
        "steps_per_second": result.steps_per_second,
        "seconds": result.seconds,
        "compile_seconds": result.compile_seconds,
    }


def play_match(
    refs: Sequence[str],
    *,
    env_id: str | None = None,
    env_kwargs: dict | None = None,
    episodes: int = 256,
    seed: int = 0,
    swap: bool | None = None,
    record: int = 0,
    observer: Callable | None = None,
    record_path: str | None = None,
    record_episodes: int = 4,
    force: bool = False,
    dataset_path: str | None = None,
    inner_episodes: int = 1,
    lanes: int = 1,
) -> tuple[dict, list[MatchResult]]:
    """Run a match (both seat orders when swapping) and return (report, raw results).

    With `record_path`, the first `record_episodes` episodes are also written there as a
    replay (only those are kept on device, so recording costs little); with the swapped order,
    its episodes go beside it, to swapped_path(record_path). A replay already there is kept
    (the match is refused before it runs) unless `force`. With `dataset_path`, every
    episode of the first seat order is recorded and written there as an offline dataset (arena.dataset).


    With `inner_episodes` or `lanes` above 1 the match is `episodes` meta-episodes (`arena.meta`)
    of `inner_episodes` inner episodes in `lanes` coupled lanes; results and the replay then hold every
    inner episode, and the report adds each side's mean return per inner episode.
    """
    if episodes < 1:
        raise FieldError("`episodes` must be at least 1")
    if inner_episodes < 1 or lanes < 1:
        raise FieldError("`inner_episodes` and `lanes` must be at least 1")
    shape = MetaShape(units=episodes, inner=inner_episodes, lanes=lanes) if inner_episodes > 1 or lanes > 1 else None
    played = shape.episodes if shape is not None else episodes  # episodes in the results
    if record_path is not None:
        if record_episodes < 1:
            raise FieldError("`record_episodes` must be at least 1")
        check_writable(record_path)
        check_writable(swapped_path(record_path))
    if dataset_path is not None:
        check_dataset_path(dataset_path)
    lineup = [load_agent(r) for r in refs]
    env = resolve_env(lineup, env_id, env_kwargs)
    check_lineup(lineup, env)
    reversed_ok = len(lineup) == 2 and all(
        can_play(a, env, s) is None for a, s in zip(lineup[::-1], env.spec.sides)
    )
    if swap is None:
        swap = env.spec.cooperative and reversed_ok
    elif swap and not reversed_ok:
        raise FieldError(f"`swap` needs two agents that can each play either side of {env.spec.id}")
    orders = [lineup, lineup[::-1]] if swap else [lineup]
    if record_path is not None and not force:
        taken = [p for p in [Path(record_path), swapped_path(record_path)][: len(orders)] if p.exists()]
        if taken:
            raise FieldError(f"{taken[0]} exists; record to another path, or replace it with `force`")
    first_record = max(record, min(record_episodes, played)) if record_path is not None else record
    if dataset_path is not None:
        first_record = played
    results = []
    for k, order in enumerate(orders):
        if shape is not None:
            results.append(run_meta_match(env, [a.agent for a in order], [a.params for a in order], shape, seed=seed,
                                          record=first_record, agent_names=[a.name for a in order]))
            continue
        results.append(
            run_match(
                env,
                [a.agent for a in order],
                [a.params for a in order],
                episodes=episodes,
                seed=seed,
                # Same record count in both orders: one compiled function serves both.
                record=first_record,
                observer=observer if k == 0 else None,
                agent_names=[a.name for a in order],
            )
        )
    order_reports = [_order_report(env, r, o, seed) for r, o in zip(results, orders)]
    report = {
        "env": env.spec.id,
        "env_kwargs": dict(env.spec.kwargs),
        "cooperative": env.spec.cooperative,
        "episodes": played,
        "seed": seed,
        "agents": [{"name": a.name, "source": a.source, "arch": a.manifest.arch} for a in lineup],
        "orders": order_reports,
        "xp": None,
        # Metrics the text summary shows; the per-seat feature counts stay in the JSON.
        "headline_metrics": list(env.spec.headline_metrics),
    }
    if shape is not None:
        report["meta"] = {"meta_episodes": episodes, "inner": inner_episodes, "lanes": lanes}
        for order_report, r in zip(order_reports, results):
            per_inner = inner_view(r.side_returns, shape).mean(axis=(0, 2))  # (M, n_sides)
            for i, side in enumerate(order_report["sides"]):
                side["return_per_inner_episode"] = [round(float(x), 4) for x in per_inner[:, i]]
    if swap and env.spec.cooperative:
        # J_XP(a, b) = 1/2 (J(a, b) + J(b, a)); episodes are paired by key across orders.
        team = [team_return(r) for r in results]
        report["xp"] = bootstrap_ci(0.5 * (team[0] + team[1]), seed=seed).to_dict()
    if record_path is not None:
        n = min(record_episodes, played)
        # A meta match's batch shape is its own: its episodes are re-simulated one at a time.
        batch = None if shape is None else 1
        report["replay"] = record_replay(record_path, env, results[0], orders[0], n, batch)
        if swap:
            report["replay_swapped"] = record_replay(swapped_path(record_path), env, results[1], orders[1], n, batch)
    if dataset_path is not None:
        report["dataset"] = record_dataset(dataset_path, env, results[0], orders[0])
    return report, results


def record_dataset(path, env: Env, result: MatchResult, lineup: Sequence[LoadedAgent]) -> dict:
    """Write every recorded episode of `result` (played by `lineup`) as a dataset folder."""
    sides = side_infos(env, lineup)
    traces = [trimmed(t) for t in traces_from_result(result, sides, thaw(dict(env.spec.kwargs)), env.spec.seats)]
    source = {"kind": "match", "seed": result.seed, "agents": [a.source for a in lineup],
              "episodes": list(range(len(traces)))}
    meta = write_dataset(path, traces, [source], [0] * len(traces), manifests=[a.manifest.to_dict() for a in lineup])
    return {"path": str(path), "episodes": meta["episodes"], "steps": meta["steps"]}


def swapped_path(path) -> Path:
    """Where `--record out.replay` puts the swapped seat order: out-swapped.replay."""
    path = Path(path)
    return path.with_name(f"{path.stem}-swapped{path.suffix}")


def record_replay(path, env: Env, result: MatchResult, lineup: Sequence[LoadedAgent], episodes: int,
                  batch: int | None = None) -> dict:
    """Write the first `episodes` recorded episodes of `result` (played by `lineup`) as a replay;
    `batch` is how many episodes the runner stepped at once, the width `arena replay verify`
    re-simulates them at (`arena.verify.recorded_batch`): all of `result`'s by default."""
    sides = side_infos(env, lineup)
    env_kwargs = thaw(dict(env.spec.kwargs))
    traces = [trimmed(t) for t in traces_from_result(result, sides, env_kwargs, env.spec.seats)][:episodes]
    metrics = [{k: float(v[i]) for k, v in result.metrics.items()} for i in range(len(traces))]
    meta = {"source": "arena match", "agents": [a.source for a in lineup], "episodes_played": result.episodes,
            "batch": result.episodes if batch is None else batch}
    out = write_replay(path, traces, metrics=metrics, meta=meta)
    return {"path": str(out), "episodes": len(traces), "bytes": out.stat().st_size}


def team_return(result: MatchResult) -> np.ndarray:
    """(E,) mean return over all seats: the shared score of a cooperative game."""
    return result.returns.mean(axis=1)
