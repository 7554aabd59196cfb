"""Options shared by several commands, defined once."""
from __future__ import annotations

import json

import click

from arena.errors import UserError

CTX = {"help_option_names": ["-h", "--help"]}  # every command's context_settings

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")

env_kwargs_option = click.option(
    "--env-kw", "env_kw", multiple=True, metavar="KEY=VALUE",
    help="Env option passed through, e.g. --env-kw max_steps=200 (repeatable).",
)


# The env of a match, tournament or game: optional, since a manifest names its env.
env_option = click.option("--env", "env_id", default=None, help="Env id; defaults to the one the first manifest names.")



def lineup_options(required: bool = True):
    """AGENTS... with --env and --env-kw: who plays (a match, a game) and in which env."""

    def decorate(command):
        command = env_kwargs_option(command)
        command = env_option(command)
        return click.argument("agents", nargs=-1, required=required)(command)

    return decorate


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
