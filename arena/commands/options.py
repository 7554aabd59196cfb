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


def spec_options(*, mode_help: str, pool_metavar: str, pool_help: str):
    """AGENTS... and the flags of a tournament spec (a TOML --spec, which the other flags
    override): `arena tournament run` and `arena remote run` differ only in what they say
    about modes and the zero-shot pool."""
    options = [
        click.argument("agents", nargs=-1),
        click.option("--mode", default=None, metavar="MODE", help=mode_help),
        click.option("--spec", "spec_file", default=None, metavar="FILE.toml",
                     help="Read the spec from a TOML file; flags given here override it."),
        click.option("--pool", multiple=True, metavar=pool_metavar, help=pool_help),
        env_option,
        env_kwargs_option,
        click.option("--episodes", default=None, type=int, help="Episodes per cell and seed [default: 64]."),
        click.option("--seeds", default=None, type=int,
                     help="Match seeds (replicates) per cell; human: games with each agent [default: 1]."),
        click.option("--seed", default=None, type=int, help="Tournament seed; every match key derives from it [default: 0]."),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

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
