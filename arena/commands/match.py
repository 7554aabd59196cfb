"""`arena match A B`: the CLI front of arena.match.play_match."""
from __future__ import annotations

import click

from arena.commands.options import CTX, json_option, lineup_options, parse_env_kwargs


@click.command(context_settings=CTX)
@lineup_options()
@click.option("--episodes", default=256, show_default=True, type=int, help="Episodes played at once (vmapped).")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same numbers.")
@click.option("--swap/--no-swap", default=None, help="Also play the reversed seat order and report J_XP (default: on for cooperative two-seat games).")
@click.option("--record", "record_path", default=None, metavar="OUT.replay",
              help="Also write the first episodes as a replay (see `arena replay`); the swapped order's go to OUT-swapped.replay.")
@click.option("--force", is_flag=True, help="Let --record replace a replay already at OUT.replay.")
@click.option("--record-episodes", default=4, show_default=True, type=int, help="How many episodes --record keeps.")
@click.option("--dataset", "dataset_path", default=None, metavar="DIR",
              help="Also write every episode (first seat order) as an offline dataset folder (see `arena dataset`).")
@click.option("--inner-episodes", "inner", default=1, show_default=True, type=int,
              help="Meta-episodes: each of --episodes is this many inner episodes, carries persisting where the manifest asks.")
@click.option("--lanes", default=1, show_default=True, type=int,
              help="Meta-episodes: coupled episodes per inner episode, seen together by each agent (a learner's batch).")
@click.option("--view", is_flag=True, help="Watch episode 0 live in the viewer while the match runs.")
@click.option("--frames", "--view-frames", "view_frames", default=None, type=int,
              help="Close the --view window after this many frames. Headless (SDL_VIDEODRIVER=dummy) it closes "
                   "when episode 0 ends.")
@json_option
def match(agents, env_id, env_kw, episodes, seed, swap, record_path, force, record_episodes, dataset_path, inner, lanes, view,
          view_frames, as_json):
    """Play AGENTS against (or with) each other over many episodes at once.

    Each AGENT is a .ckpt file, a checkpoint folder or zoo:NAME. In an env with one team
    (overcooked) the agents take the seats in order; in a team game (mpe_tag) the first agent
    plays every seat of the first team, the second agent the second team.

    \b
    Examples:
      arena match a.ckpt b.ckpt
      arena match a.ckpt b.ckpt --env overcooked_v2/cramped_room --episodes 1024 --seed 3
      arena match predators.ckpt prey.ckpt --env mpe_tag --json
      arena match a.ckpt b.ckpt --record out.replay --record-episodes 8
      arena match a.ckpt b.ckpt --episodes 64 --view
      arena match row.ckpt col.ckpt --env coord_game --env-kw rounds=1 --episodes 1000 --dataset data/
      arena match la-row.ckpt learner.ckpt --env ipd --inner-episodes 16 --lanes 8 --record meta.replay
    """
    from arena.commands.report import print_match_report
    from arena.match import play_match
    from arena.paths import enable_compilation_cache

    enable_compilation_cache()
    kwargs = dict(env_id=env_id, env_kwargs=parse_env_kwargs(env_kw), episodes=episodes, seed=seed, swap=swap,
                  record_path=record_path, record_episodes=record_episodes, force=force, dataset_path=dataset_path)
    if inner != 1 or lanes != 1:
        if view:
            from arena.errors import UserError

            raise UserError("--view shows independent episodes; drop --inner-episodes/--lanes to watch live")
        kwargs.update(inner_episodes=inner, lanes=lanes)
    if view:
        from arena.commands.view import open_window_or_explain
        from arena.viewer.live import watch_match

        # The statistics print as soon as the match ends; the window stays open until closed.
        done = lambda live: live.report and print_match_report(live.report, as_json)  # noqa: E731
        report, _ = open_window_or_explain(lambda: watch_match(list(agents), max_frames=view_frames, on_done=done, **kwargs))
    else:
        report, _ = play_match(list(agents), **kwargs)
        print_match_report(report, as_json)
    if "meta" in report and not as_json:
        for order in report["orders"]:
            for side in order["sides"]:
                curve = side["return_per_inner_episode"]
                click.echo(f"{side['agent']} ({side['side']}) return per inner episode: "
                           + " ".join(f"{x:.2f}" for x in curve))
    for key in ("replay", "replay_swapped"):
        if report.get(key) and not as_json:
            r = report[key]
            click.echo(f"replay: {r['path']} ({r['episodes']} episodes, {r['bytes']:,} bytes); `arena replay info {r['path']}`")
    if report.get("dataset") and not as_json:
        d = report["dataset"]
        click.echo(f"dataset: {d['path']} ({d['episodes']} episodes, {d['steps']} steps); `arena dataset info {d['path']}`")
