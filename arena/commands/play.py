"""`arena play AGENT...`: a human plays one seat from the keyboard, agents the other sides."""
from __future__ import annotations

import dataclasses
import json

import click

from arena.commands.options import CTX, json_option, lineup_options, parse_env_kwargs


@click.command(context_settings=CTX)
@lineup_options(required=False)
@click.option("--seat", default=0, show_default=True, type=int, help="The seat you play.")
@click.option("--seed", default=0, show_default=True, type=int, help="The episode's seed (as in `arena match`).")
@click.option("--tick-hz", default=None, type=float, help="Env steps per second (default: 6 overcooked, 8 mpe_tag, 1 ipd/coord_game).")
@click.option("--countdown", default=2.0, show_default=True, type=float, help="Seconds before the first step.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="Replay file to write (default: in the data dir).")
@click.option("--size", default="1280x760", show_default=True, help="Initial window size.")
@click.option("--frames", default=None, type=int,
              help="Quit after this many frames. Headless (SDL_VIDEODRIVER=dummy) the game ends with the episode, "
                   "your seat playing no key.")
@click.option("--server", default=None, metavar="URL",
              help="Play your games of a human series on this server (then the argument is the series id, if any).")
@click.option("--player", default=None, metavar="NAME", help="--server: who plays [default: your user name].")
@json_option
def play(agents, env_id, env_kw, seat, seed, tick_hz, countdown, out, size, frames, server, player, as_json):
    """Play with (or against) AGENTS: you control one seat with the keyboard in real time.

    Overcooked: arrows move, space interacts, no key = stay. mpe_tag: arrows, no key = no-op.
    ipd: C cooperate, D defect. coord_game: left/right arrows. The game never waits: the last
    key before each step is your action. One agent fills every other side, or give one per
    other side in order. As one of mpe_tag's predators (seats 0-2) the predators' agent still
    drives the team and your key replaces its choice for your seat: give one agent per side. Each game is saved as a replay (with your reaction times)
    and a row in human_games.csv in the data dir.

    \b
    Examples:
      arena play partner.ckpt --env overcooked_v2/cramped_room --seat 1
      arena play predators.ckpt --env mpe_tag --seat 3 --tick-hz 6
      arena play predators.ckpt prey.ckpt --env mpe_tag --seat 0
      arena play tft.ckpt --env ipd --env-kw rounds=10
      arena play --server http://127.0.0.1:8765 --player p07 3f2a9c04d1e8

    With --server URL (or ARENA_SERVER) you play your games of a human series the server
    runs: it hands out each game (the agent shown only as a letter), this window plays it,
    and the replay goes back, where it is re-simulated before it counts; then you rate the
    agent 1-5. Esc stops; the same command resumes. The token comes from ARENA_TOKEN (or, for
    a server on this machine, its data dir).
    """
    if server is not None or player is not None:
        return _play_on_server(agents, server, player, tick_hz, countdown, size, as_json)
    if not agents:
        raise click.UsageError("give the agent(s) to play with, or --server URL for a server's human series")
    from pathlib import Path

    from arena.commands.report import print_json
    from arena.commands.view import open_window_or_explain, parse_size
    from arena.paths import enable_compilation_cache
    from arena.viewer.human_game import HumanGame, PlayConfig

    enable_compilation_cache()
    config = PlayConfig(seat=seat, seed=seed, tick_hz=tick_hz, countdown=max(0.0, countdown), size=parse_size(size),
                        replay_path=Path(out) if out else None)
    game = HumanGame(list(agents), env_id=env_id, env_kwargs=parse_env_kwargs(env_kw), config=config)
    row = open_window_or_explain(lambda: game.run(max_frames=frames))
    if not row:
        click.echo("no step was played; nothing saved", err=True)
        return
    if as_json:
        print_json(row)
    else:
        click.echo(f"{row['env']}: {row['steps']} steps, your return {row['human_return']:+.2f}, "
                   f"metrics {json.dumps(game.env.spec.headline(json.loads(row['metrics'])), sort_keys=True)}")
        click.echo(f"replay: {row['replay']}  (arena view {row['replay']})")
        click.echo(f"result appended to {game.results_path}")


def _play_on_server(args, server, player, tick_hz, countdown, size, as_json) -> None:
    """`arena play --server URL --player NAME [SERIES_ID]`: the games of a server's human series."""
    from arena.commands.report import print_json
    from arena.commands.tournament import series_window, user_name
    from arena.commands.view import open_window_or_explain, parse_size
    from arena.errors import UserError
    from arena.paths import enable_compilation_cache
    from arena.server.client import Client
    from arena.server.human_client import pick_series, play_remote_series
    from arena.viewer.human_game import PlayConfig

    if len(args) > 1:
        raise UserError(f"with --server give at most one argument, the human series' id; got {len(args)}")
    client = Client(server)
    series = pick_series(client, args[0] if args else None)
    enable_compilation_cache()
    play = PlayConfig(tick_hz=tick_hz, countdown=max(0.0, countdown), size=parse_size(size))
    done = open_window_or_explain(lambda: play_remote_series(client, series, player or user_name(), **series_window(play)))
    if as_json:
        print_json(dataclasses.asdict(done))
        return
    left = done.games_total - done.games_done
    click.echo(f"{done.played} game(s) played now, {done.games_done} of {done.games_total} stored on {client.url}"
               + (f"; {left} left: run the same command to go on" if left else "; your series is complete")
               + f"; `arena remote status {series}` shows the series")
