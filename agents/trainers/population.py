"""Populations: N runs of one PPO trainer whose members differ by seed and env params
(reward weights, payoffs, shaping), trained as one compiled call.

A member is a seed and an env-params pytree. `PopulationTrainer` vmaps the PPO trainer's own
`update` over the members and maps its `init` over them (PPO keeps its env params in its
state), so member i of a population is the run `RunSpec(seed=seeds[i])` under its env params
would be, and the driver runs the population like any trainer: one state file, one metrics
file, chunks, Ctrl-C and `--resume`. With `opponent` (team games) every member trains against
the same frozen checkpoint, as `train("ppo", ...)` does for one seed. A run `-o DIR` writes

    DIR/member-00.ckpt ...           one checkpoint per member (per member and team in team
                                     games: member-00-predators.ckpt), provenance per member
    DIR/population.state             the whole population's training state
    DIR/population.metrics.jsonl     per update: each metric's mean over members, and
                                     `<metric>/member-03` per member
    DIR/population.curves.png        one panel per metric, one line per member
    DIR/population.json              each member's seed, env params, provenance extras and
                                     measured sparse self-play return (`write_results`),
                                     and the frozen opponent if any

    from arena.agents.trainers.population import PopulationSpec, train_population
    train_population(PopulationSpec(env="mpe_tag", out="tag-pop", seeds=(0, 1, 2)))
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from arena.agents.trainers import runfiles, selection
from arena.agents.trainers.contract import Output
from arena.agents.trainers.driver import RunResult, Schedule, outputs, run
from arena.agents.trainers.run import RunSpec, build_trainer, check_recorded, normalized, read_recorded
from arena.agents.trainers.runfiles import member_metric
from arena.checkpoint import read_checkpoint
from arena.envs import make
from arena.envs import overcooked_shaping as shaping
from arena.errors import FieldError, UserError
from arena.fileio import atomic_write
from arena.trees import plain

KIND = "population"
RESULTS_FORMAT = "arena.population"
RESULTS_VERSION = 1


@struct.dataclass
class Members:
    """What a population's `init` takes: per member a PRNG key and env params."""

    keys: jax.Array  # (N, 2) PRNGKey(seed) of each member
    env_params: Any  # the env's params, leaves (N, ...)


@struct.dataclass
class PopulationState:
    members: Any  # the PPO trainer's state, leaves (N, ...)
    update: jax.Array  # () int32, updates done (the same for every member)


@dataclasses.dataclass(frozen=True)
class PopulationTrainer:
    """`size` runs of `inner` (a PPOTrainer) vmapped; fills the driver's Trainer contract.

    Metrics are each of the inner trainer's metrics averaged over members, under its own
    name, and each member's value as `member_metric(name, i)`.
    """

    inner: Any
    size: int

    @property
    def algorithm(self) -> str:
        return self.inner.algorithm

    @property
    def title(self) -> str:
        return self.inner.title

    @property
    def trained_with(self) -> str:
        return self.inner.trained_with

    @property
    def env(self):
        return self.inner.env

    @property
    def agents(self) -> tuple:
        return self.inner.agents

    @property
    def num_updates(self) -> int:
        return self.inner.num_updates

    @property
    def steps_per_update(self) -> int:  # per member: what each member's provenance counts
        return self.inner.steps_per_update

    @property
    def progress_keys(self) -> tuple[str, ...]:
        return self.inner.progress_keys

    @property
    def curve_keys(self) -> tuple[str, ...]:
        return tuple(member_metric(k, i) for k in self.inner.curve_keys for i in range(self.size))

    def hyperparameters(self) -> dict:
        return self.inner.hyperparameters()

    def reward_shaping(self) -> dict:
        return self.inner.reward_shaping()

    def init(self, members: Members) -> PopulationState:
        # A loop over members, not a vmap: init runs once, and jaxlib 0.10's CPU QR (the
        # orthogonal initialisers) deadlocks when batched over some sizes (3, 5, 8 members).
        states = jax.lax.map(lambda m: self.inner.init(*m), (members.keys, members.env_params))
        return PopulationState(members=states, update=jnp.zeros((), jnp.int32))

    def update(self, state: PopulationState):
        members, metrics = jax.vmap(self.inner.update)(state.members)
        out = {k: v.mean() for k, v in metrics.items()}
        out.update({member_metric(k, i): v[i] for k, v in metrics.items() for i in range(self.size)})
        return state.replace(members=members, update=state.update + 1), out

    def team_params(self, state: PopulationState, team: int):
        """Team `team`'s params of every member, leaves (N, ...)."""
        return self.inner.team_params(state.members, team)

    @property
    def frozen(self) -> tuple[int, ...]:
        return self.inner.frozen

    def seed_state(self, state: PopulationState) -> PopulationState:
        """Every member plays the same frozen opponent (PPO broadcasts its params)."""
        return state.replace(members=self.inner.seed_state(state.members))


@dataclasses.dataclass(frozen=True)
class PopulationSpec(RunSpec):
    """A population run: a PPO `RunSpec` (its `seed` is the population's own, e.g. the seed
    its shapings were selected with; `out` is the folder) and the members."""

    # Each member's training seed; their number is the population's size.
    seeds: tuple = ()
    # Per member, env params given by field name over the env's defaults ({}: the defaults),
    # e.g. {"payoffs": [[[1, 1], [0, 0]], [[0, 0], [2, 2]]]}; empty: every member the defaults.
    env_params: tuple = ()
    # Per member, provenance written into its checkpoints besides the run's (e.g. shaping).
    provenance: tuple = ()


def run_files(out: str | Path) -> runfiles.RunFiles:
    """The population-wide files of the run in folder `out`."""
    return runfiles.RunFiles.of(Path(out) / "population")


def results_path(out: str | Path) -> Path:
    return Path(out) / "population.json"


def member_path(out: str | Path, i: int) -> Path:
    return Path(out) / f"member-{i:02d}.ckpt"


def normalized_population(spec: PopulationSpec) -> PopulationSpec:
    """`spec` with every default filled in and the member fields as tuples, as recorded."""
    base = normalized("ppo", spec)
    n = len(spec.seeds)
    if n < 1:
        raise UserError("a population needs at least one member (seeds)")
    env_params = tuple(plain(dict(p)) for p in spec.env_params) or ({},) * n
    provenance = tuple(plain(dict(p)) for p in spec.provenance) or ({},) * n
    if len(env_params) != n or len(provenance) != n:
        raise UserError(f"a population of {n} seeds needs {n} env params and provenance entries, "
                        f"got {len(env_params)} and {len(provenance)}")
    name = spec.name or Path(spec.out).name
    return dataclasses.replace(base, name=name, seeds=tuple(int(s) for s in spec.seeds), env_params=env_params,
                               provenance=provenance)


def member_env_params(env, overrides: dict) -> Any:
    """The env's default params with `overrides` ({field: value}) put in, each value cast to
    its field's dtype and checked against its shape; a UserError names the field."""
    defaults = env.default_params
    if not overrides:
        return defaults
    fields = [f.name for f in dataclasses.fields(defaults)] if dataclasses.is_dataclass(defaults) else []
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        have = ", ".join(fields) or "none"
        raise UserError(f"env {env.spec.id!r} has no param {unknown[0]!r} (its params: {have})")
    values = {}
    for k, v in overrides.items():
        default = jnp.asarray(getattr(defaults, k))
        try:
            value = jnp.asarray(v, default.dtype)
        except (TypeError, ValueError):
            raise UserError(f"env param {k} of {env.spec.id!r} must be numbers, got {v!r}") from None
        if value.shape != default.shape:
            raise UserError(f"env param {k} of {env.spec.id!r} has shape {list(default.shape)}, got {list(value.shape)}")
        values[k] = value
    return defaults.replace(**values)


def members_of(env, spec: PopulationSpec) -> Members:
    params = [member_env_params(env, p) for p in spec.env_params]
    return Members(
        keys=jnp.stack([jax.random.PRNGKey(s) for s in spec.seeds]),
        env_params=jax.tree.map(lambda *xs: jnp.stack(xs), *params),
    )


def build_population(spec: PopulationSpec) -> tuple[PopulationTrainer, Members]:
    """The population trainer `spec` describes and what its `init` takes."""
    spec = normalized_population(spec)
    inner = build_trainer("ppo", spec)
    return PopulationTrainer(inner, len(spec.seeds)), members_of(inner.env, spec)


def member_outputs(trainer: PopulationTrainer, spec: PopulationSpec) -> list[Output]:
    """Each member's checkpoints (`outputs` of its own run), tagged with its index and provenance."""
    outs = []
    for i, (seed, extra) in enumerate(zip(spec.seeds, spec.provenance)):
        one = dataclasses.replace(spec, out=str(member_path(spec.out, i)), name=f"{spec.name}-{i:02d}")
        prov = {**extra, "seed": seed, "population": {"name": spec.name, "member": i, "size": len(spec.seeds)},
                "reward_shaping": member_reward_shaping(trainer.reward_shaping(), spec.env_params[i])}
        outs += [dataclasses.replace(o, member=i, provenance=prov) for o in outputs(trainer.inner, one)]
    return outs


def recorded_population(ref: str | Path) -> PopulationSpec:
    """The description of the population run in folder `ref` (for --resume)."""
    spec = read_recorded(KIND, run_files(ref).state, PopulationSpec, ref=ref)
    return dataclasses.replace(spec, out=str(ref))


def train_population(
    spec: PopulationSpec,
    *,
    resume: bool = False,
    force: bool = False,
    chunk: int = 10,
    checkpoint_every: int = 50,
    progress: bool = True,
    results: dict | None = None,
) -> RunResult:
    """Train the population `spec` describes into folder `spec.out` and write its results
    file (`results`: more top-level fields for it); with `resume`, continue the run recorded
    there (which must be this description)."""
    if not spec.out:
        raise UserError("a population run needs an output folder (out)")
    spec = normalized_population(spec)
    trainer, members = build_population(spec)
    outs = member_outputs(trainer, spec)
    if not (resume or force):
        taken = [p for p in (*run_files(spec.out).existing(), results_path(spec.out), *(o.path for o in outs))
                 if p.exists()]
        if taken:
            raise FieldError(f"{spec.out}: a population is already there ({', '.join(p.name for p in taken[:3])}"
                             f"{', ...' if len(taken) > 3 else ''}); continue it with `resume`, or replace it with "
                             "`force`")
    if resume:
        recorded = dataclasses.replace(normalized_population(recorded_population(spec.out)), out=spec.out)
        check_recorded(spec, recorded, run_files(spec.out).state)
    Path(spec.out).mkdir(parents=True, exist_ok=True)
    driven = dataclasses.replace(spec, out=str(run_files(spec.out).out))
    result = run(trainer, KIND, driven, Schedule(resume, chunk, checkpoint_every, progress), outs=outs, start=members)
    if not result.interrupted:
        write_results(spec, outs, {**shaping_report(spec), **opponent_report(trainer, spec), **(results or {})})
    return result


def opponent_report(trainer: PopulationTrainer, spec: PopulationSpec) -> dict:
    """What population.json says of the frozen opponent every member trained against: the
    checkpoint as given, its name, params sha256 and team; {} in self-play."""
    if not spec.opponent:
        return {}
    manifest, _, _ = read_checkpoint(spec.opponent)
    teams = [trainer.env.spec.teams[k].name for k in trainer.frozen]
    return {"opponent": {"checkpoint": spec.opponent, "name": manifest.name, "sha256": manifest.params.sha256,
                         "team": " and ".join(teams)}}


def write_results(spec: PopulationSpec, outs: list[Output], extra: dict | None = None) -> dict:
    """DIR/population.json: per member its seed, env params, provenance extras, checkpoints and
    measured sparse self-play return (provenance.best_return of its checkpoints; per team in
    team games), read back from the checkpoints. `extra` adds top-level fields."""
    members = []
    for i, (seed, env_params, prov) in enumerate(zip(spec.seeds, spec.env_params, spec.provenance)):
        mine = [o for o in outs if o.member == i]
        returns = {}
        for o in mine:
            manifest, _, _ = read_checkpoint(o.path)
            returns[o.plays[0] if o.plays else ""] = manifest.provenance.get("best_return")
        members.append({
            "member": i, "seed": seed, "env_params": env_params, **prov,
            "checkpoints": [o.path.name for o in mine],
            "sparse_return": returns.get("", returns),
        })
    doc = {
        "format": RESULTS_FORMAT, "version": RESULTS_VERSION, "name": spec.name, "env": spec.env,
        "env_kwargs": spec.env_kwargs, "seed": spec.seed, "config": spec.config,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}), "members": members,
    }
    atomic_write(results_path(spec.out), json.dumps(doc, indent=1) + "\n")
    return doc


# ---------------------------------------------------------------- populations of shapings

# The env params field holding each seat's shaping weights (overcooked's ShapingWeights, v1 and v2).
SHAPING_FIELD = "features"
NO_SHAPING = "none"
FIXED_SHAPING = "fixed weights on the env's shaping features, constant over the run"


def member_reward_shaping(base: dict, env_params: dict) -> dict:
    """A member's provenance.reward_shaping: the trainer's own (`base`: JaxMARL's annealed
    shaped reward, or none) plus the fixed feature weights its env params (`env_params`, as
    the spec gives them) set, if any is nonzero: one named map when every seat has the same,
    else a list of them, one per seat."""
    weights = env_params.get(SHAPING_FIELD)
    if weights is None or not np.any(np.asarray(weights, np.float64)):
        return base
    seats = [shaping.weights_dict(w) for w in np.asarray(weights, np.float64)]
    kind = FIXED_SHAPING if base.get("kind") == "none" else f"{base['kind']}; and {FIXED_SHAPING}"
    return {**base, "kind": kind, "weights": seats[0] if all(s == seats[0] for s in seats) else seats}


def shaped_population(base: RunSpec, method: str, n: int, history: Sequence[str | Path] = (), *,
                      selection_seed: int | None = None) -> PopulationSpec:
    """n PPO runs of `base`, member i with seed base.seed + i and a shaping chosen by
    `method` (selection.METHODS, seeded with `selection_seed`, by default base.seed; the
    surrogate reads the `history` population.json files), fixed for the whole run and the
    same for every seat; or `NO_SHAPING` (members differ by seed only). Weights are rounded
    to 3 decimals, so a member's provenance holds exactly the weights it trained with. With
    a shaping, JaxMARL's own annealed shaped reward is off (shaping_horizon 0) unless
    `base.config` sets it."""
    if n < 1:
        raise FieldError("`n` must be at least 1")
    seeds = tuple(base.seed + i for i in range(n))
    fields = dataclasses.asdict(base)
    if method == NO_SHAPING:
        return PopulationSpec(**fields, seeds=seeds)
    if method not in selection.METHODS:
        raise UserError(f"unknown shaping selection {method!r}; choose from {', '.join(selection.METHODS)}, none")
    env = make(base.env, **base.env_kwargs)
    defaults = env.default_params
    if not hasattr(defaults, SHAPING_FIELD):
        raise UserError(f"env {base.env!r} takes no shaping weights (overcooked/<layout> and overcooked_v2/<layout> do); "
                        "train with shaping none")
    if method == "surrogate" and not history:
        raise FieldError("the surrogate selection needs earlier populations' results: `history` DIR/population.json")
    past = read_history(history) if method == "surrogate" else None
    try:
        chosen = selection.METHODS[method](base.seed if selection_seed is None else selection_seed, n,
                                           len(shaping.FEATURES), past)
    except ValueError as err:
        raise UserError(f"shaping {method}: {err}") from None
    weights = np.round(np.asarray(chosen, np.float64), 3)
    seats = env.spec.num_seats
    fields["config"] = {"shaping_horizon": 0, **base.config}
    return PopulationSpec(
        **fields, seeds=seeds,
        env_params=tuple({SHAPING_FIELD: [[float(x) for x in w]] * seats} for w in weights),
        provenance=tuple({"shaping": shaping.weights_dict(w), "shaping_selection": method} for w in weights),
    )


def shapings_of(spec: PopulationSpec) -> np.ndarray | None:
    """(n, 6) the members' shaping weights as their provenance records them; None without."""
    named = [p.get("shaping") for p in spec.provenance]
    if not named or any(s is None for s in named):
        return None
    return np.stack([shaping.weights_array(s) for s in named]).astype(np.float64)


def shaping_report(spec: PopulationSpec) -> dict:
    """What population.json says of the members' shapings: how they were chosen and how
    diverse they are (selection.diversity); {} for a population without shapings."""
    weights = shapings_of(spec)
    if weights is None:
        return {}
    return {"selection": spec.provenance[0].get("shaping_selection", ""),
            "diversity": selection.diversity(weights, shaping.FEATURES)}


def read_results(path: str | Path) -> dict:
    """A population.json, checked as far as its readers need; a UserError naming the file."""
    path = Path(path)
    if path.is_dir():
        path = results_path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such population results file") from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not a population results file ({str(err)[:60]})") from None
    if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT or not isinstance(doc.get("members"), list):
        raise UserError(f"{path}: not a population results file (format must be {RESULTS_FORMAT!r})")
    if doc.get("version", 0) > RESULTS_VERSION:
        raise UserError(f"{path}: population results version {doc.get('version')} is newer than this arena reads")
    return doc


def read_history(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """(weights (m, 6), sparse returns (m,)) of every member of the population.json files
    that has a shaping and a measured sparse return."""
    weights, returns = [], []
    for p in paths:
        for m in read_results(p)["members"]:
            named, value = m.get("shaping"), m.get("sparse_return")
            if isinstance(named, dict) and isinstance(value, (int, float)):
                weights.append(shaping.weights_array(named))
                returns.append(float(value))
    if len(weights) < 2:
        raise UserError(f"the surrogate needs at least 2 earlier members with a shaping and a sparse return; "
                        f"{', '.join(map(str, paths))} hold {len(weights)}")
    return np.stack(weights).astype(np.float64), np.asarray(returns)
