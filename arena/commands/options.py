"""Options shared by several commands, defined once."""
from __future__ import annotations

import json

import click

from arena.errors import UserError

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")

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
