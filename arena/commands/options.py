"""Options shared by several commands, defined once, and what shell completion offers for
them (`_ARENA_COMPLETE=bash_source arena`): env ids, zoo agents, tournament modes. Completion
imports no jax: env ids come from the cached `arena envs` listing, zoo names from the folder."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from arena.errors import UserError

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def complete_env_id(ctx, param, incomplete: str) -> list[str]:
    from arena.commands.env_catalogue import env_catalogue

    return [r["id"] for r in env_catalogue() if r["id"].startswith(incomplete)]


def zoo_names() -> list[str]:
    """The shipped zoo agents, found without importing arena.agents (which imports jax)."""
    spec = importlib.util.find_spec("arena.agents")
    folders = spec.submodule_search_locations if spec and spec.submodule_search_locations else []
    return sorted(p.stem for folder in folders for p in (Path(folder) / "zoo").glob("*.ckpt"))


def complete_agent(ctx, param, incomplete: str) -> list:
    """zoo:NAME for what could start one; files and folders (the shell's own completion) always."""
    zoo = [f"zoo:{n}" for n in zoo_names()] if "zoo:".startswith(incomplete[:4]) else []
    return [*(CompletionItem(n) for n in zoo if n.startswith(incomplete)), CompletionItem(incomplete, type="file")]


def complete_mode(ctx, param, incomplete: str) -> list[str]:
    from arena.tournaments.spec import MODES

    return [m for m in MODES if m.startswith(incomplete)]


env_option = click.option("--env", "env_id", default=None, shell_complete=complete_env_id,
                          help="Env id; defaults to the one the first manifest names.")
agents_argument = click.argument("agents", nargs=-1, required=True, shell_complete=complete_agent)

env_kwargs_option = click.option(
    "--env-kw", "env_kw", multiple=True, metavar="KEY=VALUE",
    help="Env option passed through, e.g. --env-kw max_steps=200 (repeatable).",
)


def parse_env_kwargs(pairs) -> dict:
    """KEY=VALUE strings to a dict; values are read as JSON when they parse (ints, bools)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--env-kw {pair!r}: expected KEY=VALUE, e.g. max_steps=200")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
