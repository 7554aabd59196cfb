"""`arena play AGENT...`: a human plays one seat from the keyboard, agents the other sides."""
from __future__ import annotations

import click

from arena.commands.options import agents_argument, env_kwargs_option, env_option, json_option, parse_env_kwargs


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@agents_argument
@env_option
@env_kwargs_option
@click.option("--seat", default=0, show_default=True, type=int, help="The seat you play.")
@click.option("--seed", default=0, show_default=True, type=int, help="The episode's seed (as in `arena match`).")
@click.option("--tick-hz", default=None, type=float, help="Env steps per second (default: 6 overcooked, 8 mpe_tag, 1 ipd/coord_game).")
@click.option("--countdown", default=2.0, show_default=True, type=float, help="Seconds before the first step.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="Replay file to write (default: in the data dir).")
@click.option("--size", default="1280x760", show_default=True, help="Initial window size.")
@click.option("--frames", default=None, type=int, hidden=True, help="Quit after this many frames (scripts, tests).")
@json_option
def play(agents, env_id, env_kw, seat, seed, tick_hz, countdown, out, size, frames, as_json):
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
    """
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
        click.echo(f"{row['env']}: {row['steps']} steps, your return {row['human_return']:+.2f}, metrics {row['metrics']}")
        click.echo(f"replay: {row['replay']}  (arena view {row['replay']})")
        click.echo(f"result appended to {game.results_path}")
