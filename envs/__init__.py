"""Env registry and adapters: every env seen through one array interface (see core.py)."""
from arena.env import Env, EnvSpec, MetricSpec, Side, TeamSpec, TimeStep, UnknownEnv, make, register, registered_ids

__all__ = ["Env", "EnvSpec", "MetricSpec", "Side", "TeamSpec", "TimeStep", "UnknownEnv", "make", "register", "registered_ids"]
