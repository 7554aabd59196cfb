"""The episode key scheme, written once: the runner, `replay verify`, the live view and human
play all call these, so an episode is the same episode wherever it is played.

    match key        PRNGKey(seed)
    episode i        fold_in(match key, i)         (the same at any batch size)
    reset            fold_in(episode key, 0)
    step t (0-based) fold_in(episode key, t + 1), split into the env's key and one per side

A meta-episode (`arena.meta`) numbers its inner episodes into this scheme: inner episode m
of lane b of meta-episode u is episode (u * M + m) * B + b.
"""
from __future__ import annotations

import jax


def match_key(seed: int) -> jax.Array:
    return jax.random.PRNGKey(seed)


def episode_key(key: jax.Array, episode) -> jax.Array:
    """Episode `episode`'s key from the match key."""
    return jax.random.fold_in(key, episode)


def reset_key(ep_key: jax.Array) -> jax.Array:
    return jax.random.fold_in(ep_key, 0)


def step_key(ep_key: jax.Array, t) -> jax.Array:
    """The key of step t (0-based) of the episode."""
    return jax.random.fold_in(ep_key, t + 1)


def split_step_key(key: jax.Array, n_sides: int) -> tuple[jax.Array, list[jax.Array]]:
    """A step's key -> (the env's key, one key per side)."""
    key_env, *side_keys = jax.random.split(key, n_sides + 1)
    return key_env, side_keys


def seed_episode_key(seed: int, episode: int) -> jax.Array:
    """fold_in(PRNGKey(seed), episode): the key a replay's episode was played with."""
    return episode_key(match_key(seed), episode)
