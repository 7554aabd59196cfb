"""The `arena` command line: a thin, lazy front. Each command lives in arena/commands/ and is
imported only when it runs, so `arena --help` starts instantly and never imports jax."""
from __future__ import annotations

import importlib
import sys

import click

from arena.errors import FieldError, UserError, did_you_mean

# name -> (module under arena.commands, one-line help shown by `arena --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "Cross-play the shipped zoo agents and replay the most interesting pairing."),
    "match": ("match", "Play two agents (or teams) over hundreds of episodes at once."),
    "envs": ("catalog", "List every env id with its seats, teams, shapes and metrics."),
    "archs": ("catalog", "List the agent architectures with their config fields and extras."),
    "new-agent": ("agents", "Write a randomly initialised agent checkpoint."),
    "inspect": ("agents", "Print a checkpoint's manifest and a summary of its params."),
    "pack": ("agents", "Turn a folder checkpoint (manifest.toml + params) into one .ckpt file."),
    "ensemble": ("agents", "Make a mode-action ensemble checkpoint from member checkpoints."),
    "dataset": ("dataset", "Offline datasets from matches and replays: export, info."),
    "replay": ("replay", "Inspect a recorded replay (info) and re-simulate it to check every state (verify)."),
    "calibration": ("calibration", "Score agents' beliefs against the env's hidden truth, per step, with CIs."),
    "tournament": ("tournament", "Self-play, cross-play, zero-shot, round-robin and human-AI tournaments with ratings."),
    "view": ("view", "Open a replay in the viewer: scene, per-seat probs/routing/belief/value, timeline."),
    "play": ("play", "Play one seat yourself, from the keyboard, with or against agents."),
    "train": ("train", "Train agents: PPO self-play, Internal Other-Play, COALA-PG, offline learners, intent encoders."),
    "serve": ("server", "Run the arena server: submissions, a durable job queue, ladders, a leaderboard."),
    "token": ("server", "Make tokens for a server's clients."),
    "submit": ("server", "Upload an agent to a server (validated, smoke-tested, stored by content)."),
    "remote": ("server", "Run tournaments on a server; their status; download match replays."),
    "leaderboard": ("server", "A server's ladder of one env: ranks and ratings with CIs."),
}


def as_flags(err: UserError) -> str:
    """The error's message for a command line: each library field `name_x` is flag --name-x
    (every command names its flags after the fields they set)."""
    text = str(err)
    if isinstance(err, FieldError):
        for field in err.fields:
            text = text.replace(f"`{field}`", "--" + field.replace("_", "-"))
    return text


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click docs: LazyGroup)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            raise click.UsageError(f"no command {name!r}{did_you_mean(name, COMMANDS)}", ctx)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"arena.commands.{COMMANDS[name][0]}")
        return getattr(module, name.replace("-", "_"))

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arena")
def cli():
    """arena: the evaluation ground for multi-agent RL on JAX.

    \b
    Examples:
      arena envs
      arena new-agent --arch random --env overcooked_v2/cramped_room -o a.ckpt
      arena match a.ckpt a.ckpt --episodes 256
    """


def main(argv=None) -> None:
    try:
        code = cli.main(args=argv, prog_name="arena", standalone_mode=False)
        # standalone_mode=False returns ctx.exit()'s code instead of exiting with it.
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as err:
        click.echo(f"error: {as_flags(err)}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as err:
        # One line, like every other error: what is wrong, and where the usage is.
        where = f"; see `{err.ctx.command_path} --help`" if err.ctx else ""
        click.echo(f"error: {err.format_message().rstrip('.')}{where}", err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
