"""A human game played somewhere else (by a client of the server) and sent back as a replay:
is it the game that was handed out, and what did it really score?

The replay must be whole, hold one finished episode of the series' env with the game's seed,
the human on the series' seat and the game's agent on every other side. Its states must
re-simulate from its actions (`arena.verify`), and the game is then played again with the
server's own copy of the agent, the human's recorded keys replacing the human's seat
(`arena.verify.reenact`): the agent must have chosen exactly the recorded actions and the
env paid exactly the recorded rewards. What is stored is the re-enactment's returns, length
and metrics, never a number the file states.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from arena.errors import UserError
from arena.lineup import human_lineup
from arena.replay import open_replay
from arena.replay.framing import ReplayDamaged, ReplayError
from arena.runner import human_match_agents
from arena.tournaments.execute import CellResult
from arena.tournaments.schedule import HUMAN, Cell
from arena.tournaments.tournament import Prepared
from arena.verify import reenact, verify_traces


class NotAReplay(UserError):
    """The bytes are no arena replay at all (HTTP 415)."""


class InvalidGame(UserError):
    """A replay that is not the game handed out, or that does not re-simulate (HTTP 422)."""


@dataclasses.dataclass
class CheckedGame:
    result: CellResult  # returns (1, S), length (1,) and metrics as the re-enactment found them
    human_return: float
    mean_reaction_ms: float | None  # the client's measurement, from the replay's reaction_ms column


def check_game(prep: Prepared, cell: Cell, path: Path, label: str) -> CheckedGame:
    """Check the replay at `path` against `cell` of the series `prep`; InvalidGame (or
    NotAReplay) with one line otherwise. `label` ("partner B") is all a message may call the
    agent: the player must not learn its name from a refusal."""
    try:
        rep = open_replay(path)
    except ReplayDamaged as err:
        raise InvalidGame(f"the replay is damaged: {err.problem}") from None
    except ReplayError as err:
        said = err.problem if err.problem.startswith("is ") else f"is not a replay this arena reads: {err.problem}"
        raise NotAReplay(f"the upload {said}") from None
    if rep.torn is not None or not rep.checksum_ok:
        raise InvalidGame(f"the replay is not whole ({rep.torn.reason if rep.torn else 'its sha256 checksum does not match'}): "
                          "post the file arena wrote when the game ended")
    if len(rep.index) != 1 or rep.index[0].episode != 0:
        raise InvalidGame(f"a game is one episode (episode 0); the replay holds {len(rep.index)} episode(s)")
    env = prep.env
    spec = prep.spec
    want = _plain(dict(env.spec.kwargs))
    if rep.env_id != env.spec.id or _plain(rep.env_kwargs) != want:
        raise InvalidGame(f"the replay is of {rep.env_id} {json.dumps(_plain(rep.env_kwargs))}; game {cell.index + 1} is "
                          f"on {env.spec.id} {json.dumps(want)}")
    if int(rep.header["seed"]) != cell.match_seed:
        raise InvalidGame(f"the replay was played with seed {rep.header['seed']}; game {cell.index + 1} has seed {cell.match_seed}")
    seat = (rep.header.get("meta") or {}).get("human_seat")
    if seat != spec.seat:
        raise InvalidGame(f"the replay's human played seat {seat}; this series' human plays seat {spec.seat}")
    agent = prep.loaded[next(i for i in cell.lineup if i != HUMAN)]
    m = agent.manifest
    for s, side in enumerate(rep.sides):
        if cell.lineup[s] == HUMAN:
            if not side.human:
                raise InvalidGame(f"the replay's side {side.name} was played by an agent; it is the human's")
        elif (side.agent, side.arch, side.sha256) != (m.name, m.arch, m.params.sha256):
            raise InvalidGame(f"the replay's side {side.name} was played by another agent than the one game "
                              f"{cell.index + 1} hands out ({label})")
    try:
        trace = rep.episodes[0]
        report = verify_traces([trace])
    except UserError as err:
        raise InvalidGame(f"the replay does not re-simulate: {getattr(err, 'problem', err)}") from None
    if not report.ok:
        raise InvalidGame(f"the replay's states do not re-simulate from its actions: {report.divergence.describe()}")
    again = _reenact(prep, agent, cell, trace.actions)
    theirs = np.ones(env.spec.num_seats, bool)
    theirs[spec.seat] = False
    differs = np.nonzero((again.actions[:, theirs] != trace.actions[:, theirs]).any(axis=1))[0]
    if differs.size:
        t = int(differs[0])
        raise InvalidGame(f"at step {t} the replay has {label} choose {trace.actions[t, theirs].tolist()}, but it chooses "
                          f"{again.actions[t, theirs].tolist()} there: this is not the game it played")
    if not again.ended:
        raise InvalidGame(f"the game stops after {trace.length} steps, before its end: only a game played to its end counts")
    if again.length != trace.length:
        raise InvalidGame(f"the game ends at step {again.length}; the replay holds {trace.length} steps")
    stated = np.asarray(rep.index[0].returns, np.float64)
    if not np.allclose(trace.rewards, again.rewards, rtol=1e-6, atol=1e-6) or stated.shape != again.returns.shape \
            or not np.allclose(stated, again.returns, rtol=1e-6, atol=1e-6):
        raise InvalidGame(f"the replay says the game returned {stated.tolist()}; re-simulated from its actions it returns "
                          f"{again.returns.tolist()}")
    rt = trace.reaction_ms[:, spec.seat] if trace.reaction_ms is not None else np.array([np.nan])
    metrics = {k: np.array([v], np.float32) for k, v in again.metrics.items()}
    result = CellResult(cell, again.returns[None].astype(np.float32), np.array([again.length], np.int32), metrics, 0.0)
    return CheckedGame(result, float(again.returns[spec.seat]),
                       float(np.nanmean(rt)) if np.isfinite(rt).any() else None)


def _reenact(prep: Prepared, agent, cell: Cell, actions: np.ndarray):
    env = prep.env
    line = human_lineup([agent], prep.spec.seat, env_id=env.spec.id, env_kwargs=dict(env.spec.kwargs))
    agents, params = human_match_agents(line)
    mask = np.zeros(env.spec.num_seats, bool)
    mask[prep.spec.seat] = True
    return reenact(line.env, agents, params, cell.match_seed, 0, mask, np.asarray(actions, np.int32))


def _plain(kwargs: dict) -> dict:
    """Env options as JSON has them (tuples as lists), to compare a replay's with the series'."""
    return json.loads(json.dumps(kwargs, sort_keys=True, default=str))
