"""A training run: its description (`RunSpec`), the trainer kinds, and `train(kind, spec)`.

    from arena.agents.trainers import RunSpec, train
    train("ppo", RunSpec(env="overcooked/cramped_room", out="ppo.ckpt", config={"total_steps": 10**6}))
    train("ppo", recorded_spec("ppo", "ppo.ckpt"), resume=True)   # after Ctrl-C

A run's state file records `spec.meta(kind)`, so a resumed run is rebuilt from exactly the
description it started with; there is one set-up path for every trainer kind.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from arena.agent import dataclass_fields
from arena.agents import ArchError
from arena.agents.trainers import coala, iop, ppo, runfiles
from arena.agents.trainers.contract import PolicyGradientConfig, Trainer
from arena.agents.trainers.driver import RunResult, Schedule, run
from arena.envs import make
from arena.errors import FieldError, UserError, did_you_mean
from arena.trees import kind_name, plain, same_kind

# Meta fields a state file holds besides the run description.
PROGRESS_FIELDS = ("update", "wall_time")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run, and exactly what its state file records (with the
    trainer kind and the progress counters): `train` builds the trainer from it alone."""

    # Env id, e.g. "overcooked_v2/cramped_room".
    env: str
    # The checkpoint to write (X.ckpt; team games write X-<team>.ckpt); metrics, curves and
    # the resumable state go beside it. `train` needs it; building a trainer does not.
    out: str = ""
    # Training seed: same seed and settings, same agent.
    seed: int = 0
    # Architecture trained; "" is the trainer kind's own (ppo: mlp_actor_critic, iop: softmoe_gru).
    arch: str = ""
    # Architecture config fields.
    arch_config: dict = dataclasses.field(default_factory=dict)
    # Env options (`make(env, **env_kwargs)`).
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    # Trainer settings (the kind's config fields, `total_steps` among them); missing ones
    # take the kind's defaults.
    config: dict = dataclasses.field(default_factory=dict)
    # Manifest name of the checkpoint(s); "" is the stem of `out`.
    name: str = ""

    def meta(self, kind: str) -> dict:
        return {"trainer": kind, **plain(dataclasses.asdict(self))}

    @classmethod
    def from_meta(cls, meta: dict) -> RunSpec:
        return cls(**{f.name: meta[f.name] for f in dataclasses.fields(cls) if f.name in meta})


@dataclasses.dataclass(frozen=True)
class TrainerKind:
    """One algorithm `arena train KIND` runs."""

    label: str  # how messages name it
    Config: type[PolicyGradientConfig]
    arch: str  # the architecture it trains unless told otherwise
    build: Callable[..., Trainer]  # build(env, arch, arch_config, config) -> Trainer; ValueError if unfit


TRAINERS: dict[str, TrainerKind] = {
    "ppo": TrainerKind("PPO", ppo.PPOConfig, "mlp_actor_critic", ppo.build_trainer),
    "iop": TrainerKind("IOP", iop.IOPConfig, "softmoe_gru", iop.build_trainer),
    # Learning-aware training against in-match naive learners (issue 14, section 1).
    "coala": TrainerKind("COALA-PG", coala.CoalaConfig, "history_gru", coala.build_trainer),
}


def trainer_kind(kind: str) -> TrainerKind:
    try:
        return TRAINERS[kind]
    except KeyError:
        raise UserError(f"unknown trainer {kind!r}; trainers: {', '.join(TRAINERS)}") from None


def settings_of(kind: str) -> list[tuple[str, str, object]]:
    """(name, type, default) of every setting trainer `kind` takes (`--set KEY=VALUE`)."""
    return dataclass_fields(trainer_kind(kind).Config)


def _config(kind: str, settings: dict) -> PolicyGradientConfig:
    k = trainer_kind(kind)
    fields = {name: (type_, default) for name, type_, default in settings_of(kind)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise UserError(f"bad {k.label} setting: no setting {', '.join(unknown)}{did_you_mean(unknown[0], fields)}; "
                        f"settings: {', '.join(fields)}")
    for name, value in settings.items():
        if not same_kind(value, fields[name][1]):
            raise UserError(f"bad {k.label} setting: {name} must be {kind_name(fields[name][1])}, not {value!r}")
    try:
        config = k.Config(**settings)
        config.check_ranges()  # before validate, whose arithmetic needs counts of at least 1
        config.validate()
    except (TypeError, ValueError) as err:
        raise UserError(f"bad {k.label} setting: {err}") from None
    return config


def normalized(kind: str, spec: RunSpec) -> RunSpec:
    """`spec` with every default filled in (architecture, all settings, name): what is recorded."""
    k = trainer_kind(kind)
    config = dataclasses.asdict(_config(kind, plain(spec.config)))
    name = spec.name or (Path(spec.out).with_suffix("").name if spec.out else "")
    return dataclasses.replace(
        spec, out=str(spec.out), arch=spec.arch or k.arch, arch_config=plain(spec.arch_config),
        env_kwargs=plain(spec.env_kwargs), config=config, name=name,
    )


def build_trainer(kind: str, spec: RunSpec) -> Trainer:
    """The trainer `spec` describes; a UserError for an unknown env, setting or architecture."""

    k = trainer_kind(kind)
    spec = normalized(kind, spec)
    env = make(spec.env, **spec.env_kwargs)
    try:
        return k.build(env, spec.arch, spec.arch_config, k.Config(**spec.config))
    except (ArchError, ValueError) as err:
        raise UserError(f"{kind}: {err}") from None


def read_recorded(kind: str, path: Path, cls: type[RunSpec] = RunSpec, ref: str | Path | None = None) -> RunSpec:
    """The run description (a `cls`) the state file `path` records, which must be a `kind`
    run; errors name `ref` (default the path)."""
    meta, _ = runfiles.read_state(path)
    if meta.get("trainer") != kind:
        raise UserError(f"{ref or path}: the recorded run is {meta.get('trainer')!r}, not {kind}")
    try:
        return cls.from_meta(meta)
    except TypeError:
        raise UserError(f"{path}: training state does not describe its run (no env)") from None


def check_recorded(spec: RunSpec, recorded: RunSpec, path: Path) -> None:
    """A UserError naming the fields that differ, unless `recorded` (what the state file at
    `path` holds) is the run `spec` describes."""
    if recorded != spec:
        differ = [f.name for f in dataclasses.fields(spec) if getattr(spec, f.name) != getattr(recorded, f.name)]
        verb = "differs" if len(differ) == 1 else "differ"
        raise UserError(f"{path} records another run ({', '.join(differ)} {verb}); "
                        "resume it as recorded, or delete it to start over")


def recorded_spec(kind: str, ref: str | Path) -> RunSpec:
    """The description of the run `--resume ref` continues, `ref` being its -o path (X.ckpt) or
    its state file (X.ckpt.state); `out` is where the run is now, wherever it started."""
    spec = read_recorded(kind, runfiles.state_path_for(ref), ref=ref)
    return dataclasses.replace(spec, out=str(runfiles.out_for(ref)))


def train(
    kind: str,
    spec: RunSpec,
    *,
    resume: bool = False,
    force: bool = False,
    chunk: int = 10,
    checkpoint_every: int = 50,
    progress: bool = True,
) -> RunResult:
    """Run trainer `kind` ("ppo", "iop") as `spec` describes; with `resume`, continue the run
    whose state file is beside `spec.out`, which must record this same description. A new
    run refuses to replace the files of one already at `spec.out` unless `force`."""
    if not spec.out:
        raise UserError(f"a {kind} run needs an output path (out)")
    taken = [] if resume or force else runfiles.RunFiles.of(spec.out).existing()
    if taken:
        raise FieldError(f"{spec.out}: a run is already there ({', '.join(p.name for p in taken)}); continue it with "
                         f"`resume`, or replace it with `force`")
    spec = normalized(kind, spec)
    if resume:
        recorded = dataclasses.replace(normalized(kind, recorded_spec(kind, spec.out)), out=spec.out)
        check_recorded(spec, recorded, runfiles.state_path_for(spec.out))
    trainer = build_trainer(kind, spec)
    return run(trainer, kind, spec, Schedule(resume, chunk, checkpoint_every, progress))
