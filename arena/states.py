"""Env states as `{leaf path: array}`, the form traces and replays hold them in, and back.

A state pytree flattens to its leaves keyed by jax's keystr path (`.agents.pos.x`), in the
pytree's own leaf order: that is what a recording becomes, what a replay stores and what a
reader in any language gets. Only code that hands a state to the env or to its renderer needs
the pytree again, and `state_tree` rebuilds it from the env's own structure (its `reset`,
traced abstractly). Host side; jax is imported only to flatten and unflatten.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from arena.cache import CompileCache
from arena.errors import UserError

# env spec -> (treedef, leaf paths) of its state; small and cheap, but tracing reset is not.
_STRUCTURES = CompileCache(maxsize=64)


class StateMismatch(UserError):
    """Recorded state leaves that are not the env's: it changed since they were recorded."""


def state_leaves(tree: Any) -> dict[str, np.ndarray]:
    """{path: leaf as numpy} of a state pytree, in its leaf order; paths as jax's keystr gives."""
    import jax

    return {jax.tree_util.keystr(p): np.asarray(leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def state_structure(env) -> tuple[Any, list[str]]:
    """(treedef, leaf paths) of `env`'s state, from its reset traced abstractly (cached)."""

    def build():
        import jax

        shapes = jax.eval_shape(lambda k: env.reset(k)[0], jax.random.PRNGKey(0))
        flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
        return treedef, [jax.tree_util.keystr(p) for p, _ in flat]

    return _STRUCTURES.get(env.spec, build)[0]


def state_tree(env, leaves: Mapping[str, Any]) -> Any:
    """The env's state pytree with these leaves (any leading axes: one state or a whole
    episode's). Raises StateMismatch when the paths are not exactly the env's, in order."""
    import jax

    treedef, paths = state_structure(env)
    recorded = list(leaves)
    if recorded != paths:
        first = next((f"recorded {a!r}, env has {b!r}" for a, b in zip(recorded, paths) if a != b),
                     f"{len(recorded)} leaves recorded, env has {len(paths)}")
        raise StateMismatch(f"env state leaves of {env.spec.id} do not match the replay ({first}); "
                            "the env changed since it was recorded")
    return jax.tree_util.tree_unflatten(treedef, [leaves[p] for p in paths])
