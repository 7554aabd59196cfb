"""The trainer contract: everything the driver reads from a trainer, declared in one place.

A trainer is a frozen, hashable dataclass (it is the static part of the jit) with a pure
`init(key) -> state` and a pure `update(state) -> (state, metrics)` over a frozen pytree
state that has an `update` field (int32 scalar: updates done). The driver (`driver.py`) only
ever touches what `Trainer` below declares.

`PolicyGradientConfig` and `PolicyGradientTrainer` are the part of the contract PPO and IOP
fill the same way: run length, optimizer and reward shaping follow from the config.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Protocol

import jax

from arena.agents.trainers.pieces import optimizer
from arena.errors import UserError


class Trainer(Protocol):
    """What the driver reads. Metric names are keys of `update`'s metrics dict."""

    algorithm: str  # provenance "algorithm", e.g. "ippo"
    title: str  # how manifests describe the run, e.g. "IPPO (mlp_actor_critic)"
    trained_with: str  # provenance "trained_with", e.g. "self-play, one network shared by every seat"
    env: Any
    agents: tuple  # the agent trained for each team of `env`, in team order
    num_updates: int  # updates in the whole run
    steps_per_update: int  # env steps each update takes, over all parallel envs
    progress_keys: tuple[str, ...]  # metrics on the progress bar
    curve_keys: tuple[str, ...]  # metrics drawn in X.curves.png

    def init(self, key: jax.Array) -> Any: ...

    def update(self, state: Any) -> tuple[Any, dict]: ...

    def team_params(self, state: Any, team: int) -> Any: ...

    def hyperparameters(self) -> dict: ...

    def reward_shaping(self) -> dict: ...

    # Teams played by a fixed agent rather than trained (a frozen opponent); () in self-play.
    frozen: tuple[int, ...]

    def seed_state(self, state: Any) -> Any:
        """Host side, once, on a new run's fresh state: put in what `init` cannot compute from a
        key (a frozen opponent's params). A resumed state already holds it."""
        ...


@dataclasses.dataclass(frozen=True)
class Output:
    """One checkpoint a run writes: where, which agent (and team) and its manifest name; in a
    population, which member (index along the state's leading axis) and that member's own
    provenance (its seed, its shaping), written over the run's."""

    path: Path
    agent: Any
    team: int
    plays: tuple[str, ...]
    name: str
    member: int | None = None
    provenance: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PolicyGradientConfig:
    """The hyperparameters every trainer here has (JaxMARL ippo_ff_overcooked defaults);
    a trainer's config adds its own and overrides defaults. Subclasses define `num_envs`."""

    # Env steps in the whole run, counted per env (not per seat), over all parallel envs.
    total_steps: int = 5_000_000
    # Steps each env runs between updates.
    num_steps: int = 128
    lr: float = 2.5e-4
    # Fall the learning rate linearly to 0 over the run.
    anneal_lr: bool = True
    update_epochs: int = 4
    num_minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # Env steps over which the shaped-reward coefficient falls from 1 to 0 (0: no shaping).
    shaping_horizon: int = 2_500_000

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.steps_per_update)

    def check_ranges(self) -> None:
        """Raise ValueError for a setting outside its range: counts below 1 (a shaping horizon
        below 0), a negative coefficient, a learning rate of 0 or less, a discount above 1."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            least = 0 if f.name == "shaping_horizon" or f.type in ("float", float) else 1
            if value < least:
                raise ValueError(f"{f.name} must be at least {least}, got {value}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        for name in ("gamma", "gae_lambda"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must be at most 1, got {getattr(self, name)}")

    def validate(self) -> None:
        """Raise ValueError for settings that cannot run."""
        if self.num_envs * self.num_steps % self.num_minibatches:
            raise ValueError("num_envs * num_steps must be divisible by num_minibatches")


def settings_config(Config: type, settings: dict | None, what: str, *check_args: Any) -> Any:
    """`Config(**settings)`, checked by its `validate(*check_args)`; an unknown setting or a bad
    value is one UserError naming `what` ("offline", "encoder") and the settings there are."""
    settings = dict(settings or {})
    known = [f.name for f in dataclasses.fields(Config)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise UserError(f"bad {what} setting: no setting {', '.join(unknown)}; settings: {', '.join(known)}")
    try:
        config = Config(**settings)
        config.validate(*check_args)
    except (TypeError, ValueError) as err:
        raise UserError(f"bad {what} setting: {err}") from None
    return config


class PolicyGradientTrainer:
    """A Trainer whose `config` is a PolicyGradientConfig."""

    config: PolicyGradientConfig
    frozen: tuple[int, ...] = ()

    def seed_state(self, state: Any) -> Any:
        return state

    @property
    def num_updates(self) -> int:
        return self.config.num_updates

    @property
    def steps_per_update(self) -> int:
        return self.config.steps_per_update

    @functools.cached_property
    def tx(self):
        c = self.config
        anneal = c.num_updates * c.update_epochs * c.num_minibatches if c.anneal_lr else None
        return optimizer(c.lr, c.max_grad_norm, anneal)

    def hyperparameters(self) -> dict:
        return dataclasses.asdict(self.config)

    def reward_shaping(self) -> dict:
        if not self.config.shaping_horizon:
            return {"kind": "none"}
        return {"kind": "env shaped_reward, coefficient annealed linearly 1 -> 0",
                "anneal_steps": self.config.shaping_horizon}
