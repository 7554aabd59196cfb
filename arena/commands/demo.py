"""`arena demo`: the README's first command."""
from __future__ import annotations

import click

from arena.commands.options import CTX, json_option


@click.command(context_settings=CTX)
@click.option("-o", "--out", "out_dir", default="arena-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the results, heatmap and replay.")
@click.option("--episodes", default=64, show_default=True, type=int, help="Episodes per cross-play cell.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--no-view", is_flag=True, help="Do not open the viewer even when a display exists.")
@json_option
def demo(out_dir, episodes, seed, no_view, as_json):
    """Cross-play the overcooked zoo agents, then replay the most interesting pairing.

    Prints the cross-play table, writes results (SQLite, JSON, CSV), a heatmap PNG and a replay
    into OUT, and opens the viewer on the replay when a display exists.

    \b
    Examples:
      arena demo
      arena demo --episodes 256 -o my-demo --no-view
    """
    from arena.paths import enable_compilation_cache
    from arena.tournaments.demo import display_available, run_demo

    enable_compilation_cache()
    summary = run_demo(out_dir, episodes=episodes, seed=seed, progress=not as_json)
    if as_json:
        from arena.commands.report import print_json

        print_json({k: v for k, v in summary.items() if k != "replay_match"})
        return
    from arena.tournaments.report import print_report

    print_report(summary["tournament"])
    files = summary["files"]
    a, b = summary["pair"]
    click.echo(f"\nmost interesting pairing: {a} with {b} (cross-play furthest below their self-play)")
    for label, path in files.items():
        click.echo(f"  {label:<8} {path}")
    if not no_view and display_available():
        from arena.replay import open_replay
        from arena.viewer.app import view_traces

        view_traces(list(open_replay(files["replay"]).episodes))
    else:
        click.echo(f"\nwatch it: arena view {files['replay']}")
