"""The reference return a trained checkpoint records: its self-play return measured by arena
once training ends (`provenance.best_return`, with the episodes and seed it was measured over).
Zero-shot tournaments normalise a partner's cross-play by it.

Self-play is the agent in every seat of a cooperative env, or, for a team game, the run's
agents together (predators with the prey they trained against), each recording its own side's
return. The zoo's shipped checkpoints get theirs from `python -m arena.agents.zoo.build
--references`, which rewrites provenance only.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena.checkpoint import params_to_bytes, read_checkpoint, save_checkpoint, sha256_hex
from arena.errors import UserError
from arena.match import play_match

REFERENCE_EPISODES = 256
REFERENCE_SEED = 0


def measure(paths: Sequence[str | Path], *, env_kwargs: dict | None = None, episodes: int = REFERENCE_EPISODES,
            seed: int = REFERENCE_SEED) -> list[float]:
    """Self-play mean return of each checkpoint's side: one path plays every seat; several
    (one per team, in side order) play together."""
    refs = [str(p) for p in paths]
    lineup = refs * 2 if len(refs) == 1 else refs
    report, _ = play_match(lineup, env_kwargs=env_kwargs, episodes=episodes, seed=seed, swap=False)
    sides = report["orders"][0]["sides"]
    if len(refs) == 1:
        return [sum(s["return"]["mean"] for s in sides) / len(sides)]
    return [s["return"]["mean"] for s in sides]


def record(paths: Sequence[str | Path], *, env_kwargs: dict | None = None, episodes: int = REFERENCE_EPISODES,
           seed: int = REFERENCE_SEED, lineup: Sequence[str | Path] | None = None) -> list[float]:
    """Measure and write each checkpoint's provenance.best_return (and how it was measured);
    params stay byte for byte as they were. `lineup` (side order, `paths` among them) is
    measured instead when other checkpoints play the other sides (a frozen opponent)."""
    measured = [str(p) for p in (lineup or paths)]
    everyone = measure(measured, env_kwargs=env_kwargs, episodes=episodes, seed=seed)
    values = [everyone[measured.index(str(p))] for p in paths]
    for path, value in zip(paths, values):
        manifest, params, _ = read_checkpoint(path)
        if sha256_hex(params_to_bytes(params)) != manifest.params.sha256:
            raise UserError(f"{path}: its params would not be written back byte for byte; provenance left as it was")
        provenance = {**manifest.provenance, "best_return": round(float(value), 4),
                      "best_return_episodes": episodes, "best_return_seed": seed,
                      "best_return_measured": "self-play mean return after training, arena match"}
        save_checkpoint(path, manifest.replace(provenance=provenance), params)
    return values
