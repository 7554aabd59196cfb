"""Beliefs and the truth they estimate, read out of played episodes.

An env with a hidden per-episode class declares it (`EnvSpec.truth`: the state leaf, its labels
and the extra agents estimate it in, `belief` by default); a side whose agent emits that extra
is a *believer*. `believers` picks them from the sides' declarations (a replay's header or the
manifests of a match) and refuses, in one line, an env without a truth, a line-up where no one
emits the extra, and an extra of the wrong width or label order. `belief_series` then reads
each believer's beliefs from the EpisodeTraces' extras and the truth from their recorded state
(`Env.truth`), as the arrays `arena.calibration` scores, and `calibration_report` scores them
(what `arena calibration` prints). The traces come from a replay or from `match_traces`, a match
lined up as `arena match` lines it up, every episode recorded.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from arena.calibration import BINS, estimates, items, per_step, reliability
from arena.checkpoint import load_agent
from arena.env import Env, EnvSpec, TruthSpec
from arena.errors import FieldError, UserError
from arena.lineup import check_lineup, resolve_env
from arena.runner import run_match
from arena.states import state_tree
from arena.trace import EpisodeTrace, SideInfo, side_infos, traces_from_result
from arena.trees import thaw

# How far from 1 a belief's sum may be: replays keep extras as float16 by default (relative
# error <= 2^-11 an entry), so a recorded softmax may sum to 1 +- 5e-4.
TOLERANCE = 1e-2


@dataclasses.dataclass(frozen=True)
class BeliefSeries:
    """One believer's beliefs over E episodes padded to T steps: beliefs (E, T, M, K) for its
    M seats, truths (E,) int, live (E, T) bool (steps its episode was still running)."""

    side: SideInfo
    beliefs: np.ndarray
    truths: np.ndarray
    live: np.ndarray


def env_truth(spec: EnvSpec) -> TruthSpec:
    """The env's truth, or a one-line UserError for an env that has none."""
    if spec.truth is None:
        raise UserError(f"env {spec.id} has no hidden per-episode truth to score beliefs against "
                        "(an env declares one, as mpe_tag_intent declares the prey's corner)")
    return spec.truth


def believers(spec: EnvSpec, sides: Sequence[SideInfo]) -> list[int]:
    """Indices of the sides whose agents emit the env's truth extra, each checked for width
    and label order; a UserError when the env has no truth or no side emits it."""
    truth = env_truth(spec)
    K = len(truth.labels)
    found = []
    for i, side in enumerate(sides):
        declared = side.extras.get(truth.extra)
        if declared is None:
            continue
        shape, labels = list(declared.get("shape") or []), list(declared.get("labels") or [])
        who = f"agent {side.agent!r} ({side.name})"
        if shape != [K]:
            raise UserError(f"{who} emits {truth.extra} of shape {tuple(shape)}, but {spec.id}'s truth has {K} classes "
                            f"({' '.join(truth.labels)}): its belief cannot be scored")
        if labels and labels != list(truth.labels):
            raise UserError(f"{who} labels its {truth.extra} {' '.join(labels)}, but {spec.id}'s truth is "
                            f"{' '.join(truth.labels)} in this order: its belief would be scored against the wrong classes")
        found.append(i)
    if not found:
        emits = "; ".join(f"{s.agent} ({s.name}): {', '.join(s.extras) or 'nothing'}" for s in sides)
        raise UserError(f"no agent emits {truth.extra} ({K},), the belief {spec.id}'s truth is scored in; they emit {emits}")
    return found


def _check_distribution(series: BeliefSeries) -> None:
    """Refuse live beliefs that are not distributions (negative, or not summing to 1)."""
    b = series.beliefs
    sums = b.sum(axis=-1)
    bad = series.live[:, :, None] & (~np.isfinite(sums) | (np.abs(sums - 1) > TOLERANCE) | (b.min(axis=-1) < 0))
    if bad.any():
        e, t, m = (int(x) for x in np.argwhere(bad)[0])
        raise UserError(f"agent {series.side.agent!r} ({series.side.name}) emits a {b.shape[-1]}-class belief that is not "
                        f"a probability distribution (episode {e}, step {t}: {np.round(b[e, t, m], 4).tolist()})")


def episode_truths(env: Env, traces: Sequence[EpisodeTrace]) -> np.ndarray:
    """(E,) int: each episode's hidden class, read as the env reads it (`Env.truth`) from the
    recorded state after reset (the class holds for the whole episode)."""
    truth = env_truth(env.spec)
    truths = np.array([int(np.asarray(env.truth(state_tree(env, tr.state_at(0))))) for tr in traces], np.int64)
    if truths.size and (truths.min() < 0 or truths.max() >= len(truth.labels)):
        raise UserError(f"{env.spec.id}'s recorded truth holds {truths.max()}, outside its {len(truth.labels)} classes")
    return truths


def belief_series(env: Env, traces: Sequence[EpisodeTrace]) -> list[BeliefSeries]:
    """Every believer's BeliefSeries over `traces` (episodes of `env`, one line-up)."""
    if not traces:
        raise UserError("no episodes to score")
    extra = env_truth(env.spec).extra
    sides = traces[0].sides
    T = max(tr.length for tr in traces)
    live = np.zeros((len(traces), T), bool)
    for e, tr in enumerate(traces):
        ended = np.flatnonzero(tr.dones)  # the runner scans on after the end; replays are cut there
        live[e, : int(ended[0]) + 1 if ended.size else tr.length] = True
    truths = episode_truths(env, traces)
    out = []
    for i in believers(env.spec, sides):
        beliefs = np.zeros((len(traces), T, *traces[0].extras[i][extra].shape[1:]), np.float64)
        for e, tr in enumerate(traces):
            beliefs[e, : tr.length] = tr.extras[i][extra]
        series = BeliefSeries(sides[i], beliefs, truths, live)
        _check_distribution(series)
        out.append(series)
    return out


def match_traces(refs: Sequence[str], *, env_id: str | None = None, env_kwargs: dict | None = None,
                 episodes: int = 256, seed: int = 0) -> tuple[Env, list[EpisodeTrace]]:
    """Play `refs` as `arena match` lines them up (one seat order) and record every episode;
    the line-up is checked for believers before anything is compiled."""
    if episodes < 1:
        raise FieldError("`episodes` must be at least 1")
    lineup = [load_agent(r) for r in refs]
    env = resolve_env(lineup, env_id, env_kwargs)
    check_lineup(lineup, env)
    sides = side_infos(env, lineup)
    believers(env.spec, sides)
    result = run_match(env, [a.agent for a in lineup], [a.params for a in lineup], episodes=episodes, seed=seed,
                       record=episodes, agent_names=[a.name for a in lineup])
    return env, traces_from_result(result, sides, thaw(dict(env.spec.kwargs)), env.spec.seats)


def calibration_report(env: Env, traces: Sequence[EpisodeTrace], *, rows: int | None = None, bins: int = BINS,
                       seed: int = 0) -> dict:
    """Every believer's calibration over `traces` (plain data, what `--json` prints): per
    range of steps (`rows` at most; None: each step) and over all steps, each metric with its
    95% bootstrap CI over episodes, and the reliability diagram's bins."""
    truth = env_truth(env.spec)
    agents, series = [], belief_series(env, traces)
    for s in series:
        it = items(s.beliefs, s.truths, s.live)
        agents.append({
            "side": s.side.name, "agent": s.side.agent, "arch": s.side.arch, "sha256": s.side.sha256,
            "seats": [traces[0].seats[k] for k in s.side.seats],
            "overall": {m: e.to_dict() for m, e in estimates(it, bins=bins, seed=seed).items()},
            "per_step": per_step(it, rows=rows, bins=bins, seed=seed),
            "reliability": reliability(it, bins=bins),
        })
    counts = np.bincount(series[0].truths, minlength=len(truth.labels))
    return {
        "env": env.spec.id, "env_kwargs": dict(traces[0].env_kwargs), "episodes": len(traces),
        "steps": max(tr.length for tr in traces), "bins": bins, "seed": seed,
        "truth": {"leaf": truth.leaf, "extra": truth.extra, "labels": list(truth.labels),
                  "episodes": {lab: int(c) for lab, c in zip(truth.labels, counts)}},
        "agents": agents,
    }
