"""`arena tournament`: run, show and list tournaments (the CLI front of arena.tournaments).

`arena tournament --mode crossplay A B C` is short for `arena tournament run --mode crossplay
A B C`: a first argument that is not a subcommand starts a run.
"""
from __future__ import annotations

from datetime import UTC

import click

from arena.commands.options import CTX, json_option, parse_env_kwargs, spec_options

db_option = click.option("--db", default=None, metavar="PATH",
                         help="Results database (default: tournaments.sqlite in the arena data dir).")


class _DefaultRun(click.Group):
    """A group whose unknown first word (an option or an agent path) means `run`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRun, context_settings=CTX)
def tournament():
    """Self-play, cross-play, zero-shot, round-robin and human tournaments, stored and resumable.

    \b
    Examples:
      arena tournament --mode crossplay a.ckpt b.ckpt c.ckpt --env overcooked_v2/cramped_room
      arena tournament run --mode zeroshot focal.ckpt --pool partners/ --episodes 128
      arena tournament run --mode roundrobin pred*.ckpt prey*.ckpt --env mpe_tag --out results/
      arena tournament --mode human a.ckpt b.ckpt c.ckpt --env overcooked/cramped_room --player p07
      arena tournament run --spec tournament.toml
      arena tournament list
      arena tournament show 3f2a9c
      arena tournament export 3f2a9c --episodes episodes.csv
    """


@tournament.command(context_settings=CTX)
@spec_options(mode_help="selfplay, crossplay, zeroshot, roundrobin, or human (you play them, blind) [default: crossplay].",
              pool_metavar="PATH", pool_help="zeroshot: a partner checkpoint or a folder of them (repeatable).")
@click.option("--reference", default=None, type=click.Choice(["provenance", "selfplay"]),
              help="zeroshot: normalise by each partner's provenance.best_return, or by its self-play measured in this "
                   "tournament [default: provenance].")
@click.option("--privileged", default=None, type=click.Choice(["allow", "forbid"]),
              help="Allow or forbid agents that read the env state (manifest privileged = true, e.g. planners) "
                   "[default: allow].")
@click.option("--chunk", default=None, type=int, help="Cells per compiled call (default: as many as fit 8192 episodes).")
@click.option("--out", "out_dir", default=None, metavar="DIR", help="Also write report.json, cells.csv and heatmap.png here.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--player", default=None, metavar="NAME", help="human: who plays; each player has their own series [default: your user name].")
@click.option("--seat", default=None, type=int, help="human: the seat you play (its side must have one seat) [default: 0].")
@click.option("--tick-hz", default=None, type=float, help="human: env steps per second (default: as `arena play`).")
@click.option("--countdown", default=2.0, show_default=True, type=float, help="human: seconds before each game's first step.")
@click.option("--size", default="1280x760", show_default=True, help="human: initial window size.")
@db_option
@json_option
def run(agents, mode, spec_file, pool, reference, privileged, env_id, env_kw, episodes, seeds, seed, chunk, out_dir, progress, player, seat,
        tick_hz, countdown, size, db, as_json):
    """Run a tournament of AGENTS (or finish one: the same spec resumes where it stopped).

    Each AGENT is a .ckpt file, a checkpoint folder, a folder of checkpoints or zoo:NAME.
    The tournament id is the hash of the spec (agents by content), printed with the report.

    --mode human opens a window: you play --seeds games with each agent, in a balanced
    order, the agents shown only as A, B, C...; after each game you rate the agent 1-5.
    Games, replays and ratings are stored as they finish; Esc stops, and the same command
    resumes the series. Keys are those of `arena play`.

    \b
    Examples:
      arena tournament run --mode crossplay a.ckpt b.ckpt c.ckpt --episodes 64
      arena tournament run --mode selfplay agents/ --env coord_game --json
      arena tournament run --mode roundrobin tft.ckpt alld.ckpt --env ipd --env-kw rounds=10
      arena tournament run --mode human zoo:ppo-cramped-s0 zoo:iop-cramped-s0 --seeds 2 --player p07
    """
    from arena.errors import UserError
    from arena.paths import enable_compilation_cache
    from arena.tournaments.spec import make_spec, spec_from_toml
    from arena.tournaments.tournament import run_tournament

    if chunk is not None and chunk < 1:
        raise UserError("--chunk must be at least 1")
    if mode == "human" and player is None:
        player = user_name()
    given = {"mode": mode, "agents": list(agents), "pool": list(pool), "env": env_id,
             "env_kwargs": parse_env_kwargs(env_kw) or None, "episodes": episodes, "seeds": seeds, "seed": seed,
             "player": player, "seat": seat, "reference": reference,
             "privileged": privileged}
    if spec_file:
        spec = spec_from_toml(spec_file, **given)
    else:
        if not agents:
            raise UserError("give the agents to play (or --spec FILE.toml); see `arena tournament run --help`")
        spec = make_spec(**{k: v for k, v in given.items() if v is not None})
    enable_compilation_cache()
    if spec.mode == "human":
        _human_series(spec, db, tick_hz, countdown, size, out_dir, as_json)
        return
    report, info = run_tournament(spec, db=db, chunk=chunk, progress=progress and not as_json)
    _emit(report, as_json, out_dir)
    if not as_json:
        click.echo(
            f"{info.cells_run} of {info.cells_total} cells played now ({info.cells_total - info.cells_run} from the store), "
            f"{info.calls} compiled call(s), {info.compiles} compilation(s), wall {info.wall_seconds:.1f}s, "
            f"compute {info.compute_seconds:.1f}s; `arena tournament show {info.id}` reprints it"
        )


@tournament.command(context_settings=CTX)
@click.argument("tournament_id")
@click.option("--out", "out_dir", default=None, metavar="DIR", help="Also write report.json, cells.csv and heatmap.png here.")
@db_option
@json_option
def show(tournament_id, out_dir, db, as_json):
    """Reprint a stored tournament (TOURNAMENT_ID or a unique prefix of it).

    \b
    Examples:
      arena tournament show 3f2a9c
      arena tournament show 3f2a9c --json --out results/
    """
    from arena.tournaments.stored import show_tournament

    _emit(show_tournament(tournament_id, db), as_json, out_dir)


@tournament.command(context_settings=CTX)
@click.argument("tournament_id")
@click.option("--episodes", "episodes_path", required=True, metavar="FILE.csv",
              help="Write one row per episode: cell, replicate, match seed, the agent on each side, episode, length, "
                   "the return of every seat and every metric.")
@db_option
def export(tournament_id, episodes_path, db):
    """Export a stored tournament's per-episode results (TOURNAMENT_ID or a unique prefix).

    \b
    Examples:
      arena tournament export 3f2a9c --episodes episodes.csv
    """
    from arena.fileio import atomic_write
    from arena.tournaments.export import export_episodes

    tid, episodes, text = export_episodes(tournament_id, db)
    atomic_write(episodes_path, text.encode())
    click.echo(f"wrote {episodes} episode(s) of tournament {tid} to {episodes_path}")


@tournament.command(name="list", context_settings=CTX)
@db_option
@json_option
def list_(db, as_json):
    """List stored tournaments: id, mode, env, agents, cells done.

    \b
    Examples:
      arena tournament list
      arena tournament list --json
    """
    from arena.commands.report import print_json
    from arena.tournaments.stored import list_tournaments

    rows = list_tournaments(db)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no tournaments stored yet; run one with `arena tournament run`")
        return
    from datetime import datetime

    # Plain columns, not a rich table: ids must never be cut short in a narrow terminal.
    click.echo(f"{'id':<12}  {'mode':<10}  {'cells':>9}  {'status':<10}  {'created (UTC)':<16}  agents  env")
    for r in rows:
        status = "finished" if r["finished"] else "incomplete"
        created = datetime.fromtimestamp(r["created"], UTC).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{r['id']:<12}  {r['mode']:<10}  {r['done']:>4}/{r['cells']:<4}  {status:<10}  {created:<16}  "
                   f"{r['agents']:>6}  {r['env']}")


def user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "player"


def _human_series(spec, db, tick_hz, countdown, size, out_dir, as_json) -> None:
    from arena.commands.view import open_window_or_explain, parse_size
    from arena.tournaments.human import run_human_series
    from arena.viewer.human_game import PlayConfig

    play = PlayConfig(tick_hz=tick_hz, countdown=max(0.0, countdown), size=parse_size(size))
    report, info = open_window_or_explain(lambda: run_human_series(spec, db=db, **series_window(play)))
    _emit(report, as_json, out_dir)
    if not as_json:
        left = info.games_total - report["cells_done"]
        click.echo(f"{info.games_played} game(s) played now, {report['cells_done']} of {info.games_total} stored"
                   + (f"; {left} left: run the same command to go on" if left else "")
                   + f"; `arena tournament show {info.id}` reprints it")


def series_window(play, on_frame=None) -> dict:
    """The window side of a human series, as `run_human_series` takes it: announce,
    play_game and ask_rating, each game starting from the PlayConfig `play` (tick rate, window
    size...). `on_frame(phase, obj)` is called every frame with phase "start" (the box before
    a game; obj: the Cell), "game" (obj: the HumanGame) or "rate" (obj: the Cell): scripts and
    tests post their key events there."""
    import dataclasses

    from arena.viewer.dialogs import ask, last_frame
    from arena.viewer.human_game import play_game
    from arena.viewer.keys import GO_KEYS, RATING_KEYS

    def hook(phase, obj):
        return None if on_frame is None else lambda *_: on_frame(phase, obj)

    def announce(cell, title, lines) -> bool:
        return bool(ask(title, lines, GO_KEYS, size=play.size, on_frame=hook("start", cell)))

    def game(request) -> dict:
        config = dataclasses.replace(play, seat=request.seat, seed=request.seed, replay_path=request.replay_path,
                                     partner_label=request.partner_label, close_at_end=True)
        return play_game([request.agent], env_id=request.env_id, env_kwargs=request.env_kwargs, config=config,
                         loading=request.title, on_frame=None if on_frame is None else lambda g: on_frame("game", g))

    def ask_rating(cell, title, lines, after_game) -> int | None:
        return ask(title, lines, RATING_KEYS, background=last_frame() if after_game else None, size=play.size,
                   on_frame=hook("rate", cell))

    return {"announce": announce, "play_game": game, "ask_rating": ask_rating}


def _emit(report: dict, as_json: bool, out_dir: str | None) -> None:
    from arena.commands.report import print_json
    from arena.tournaments.report import print_report

    heatmap = _write_outputs(report, out_dir) if out_dir else False
    if as_json:
        print_json(report)
    else:
        print_report(report)
        if out_dir:
            click.echo(f"wrote report.json, cells.csv{' and heatmap.png' if heatmap else ''} to {out_dir}")


def _write_outputs(report: dict, out_dir: str) -> bool:
    """report.json, cells.csv and (for a mode with a matrix) heatmap.png; whether it drew one."""
    from pathlib import Path

    from arena.fileio import atomic_write
    from arena.numfmt import dumps
    from arena.tournaments.report import cells_csv, write_heatmap

    out = Path(out_dir)
    atomic_write(out / "report.json", dumps(report).encode())
    atomic_write(out / "cells.csv", cells_csv(report).encode())
    return write_heatmap(report, out / "heatmap.png")
