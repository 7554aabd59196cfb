"""Agent protocol, built-in architectures, scripted agents, trainers and the zoo."""
from arena.agent import Agent, ArchError, ExtraSpec, build_agent, register_arch, registered_archs

__all__ = ["Agent", "ArchError", "ExtraSpec", "build_agent", "register_arch", "registered_archs"]
