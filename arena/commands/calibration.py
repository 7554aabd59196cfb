"""`arena calibration REPLAY | AGENTS...`: how well each agent's belief tracks the env's hidden
truth, per step of the episode (the CLI front of arena.beliefs.calibration_report)."""
from __future__ import annotations

from pathlib import Path

import click

from arena.commands.options import CTX, complete_agent, env_kwargs_option, env_option, json_option, parse_env_kwargs


def is_replay(ref: str) -> bool:
    """`ref` is a replay file (by its magic bytes), not an agent."""
    from arena.replay import MAGIC

    path = Path(ref)
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


@click.command(context_settings=CTX)
@click.argument("agents", nargs=-1, required=True, metavar="REPLAY|AGENTS...", shell_complete=complete_agent)
@env_option
@env_kwargs_option
@click.option("--episodes", default=None, type=int, help="A match: episodes played at once (vmapped) [default: 256].")
@click.option("--seed", default=None, type=int, help="A match: its seed [default: 0]. Also seeds the bootstrap.")
@click.option("--rows", default=25, show_default=True, type=int,
              help="Bin the steps into at most this many rows, in the table and the JSON (0: one row per step).")
@click.option("--png", "png_dir", default=None, metavar="DIR", type=click.Path(file_okay=False),
              help="Also write DIR/p_true.png and DIR/reliability.png.")
@json_option
def calibration(agents, env_id, env_kw, episodes, seed, rows, png_dir, as_json):
    """Score every agent that emits a belief against the env's hidden truth, step by step.

    In an env with a hidden per-episode class (mpe_tag_intent: the prey's corner), each agent
    that emits the env's belief extra is scored per step of the episode: the probability on
    the true class, argmax accuracy, expected calibration error (10 equal-width bins of the
    max probability) and negative log-likelihood, each with a 95% bootstrap CI over episodes.
    Give a replay (the truth is read from its recorded states, the belief from the agents'
    recorded extras) or the agents of a match, lined up as `arena match` does.

    \b
    Examples:
      arena calibration out.replay
      arena calibration predators.ckpt prey.ckpt --env mpe_tag_intent --episodes 1000 --seed 1
      arena calibration out.replay --png calib/ --json
    """
    from arena.beliefs import believers, calibration_report, match_traces
    from arena.commands.report import print_calibration_report
    from arena.errors import UserError

    if rows < 0:
        raise UserError(f"--rows {rows}: give a positive number of rows, or 0 for one row per step")
    if is_replay(agents[0]):
        if len(agents) > 1:
            raise UserError(f"give one replay, or the agents of a match; got the replay {agents[0]} and {len(agents) - 1} more")
        for flag, value in (("--env", env_id), ("--env-kw", env_kw), ("--episodes", episodes)):
            if value:
                raise UserError(f"{flag} sets up a match; a replay holds its own env and episodes")
        from arena.commands.replay import replay_env
        from arena.commands.view import load_episodes
        from arena.replay import open_replay

        rep = open_replay(agents[0])
        env = replay_env(rep)
        believers(env.spec, rep.sides)  # nothing to score is one line before any episode is decoded
        traces = list(load_episodes(agents[0]))
        source = {"replay": agents[0]}
        seed = traces[0].seed if seed is None else seed
    else:
        from arena.paths import enable_compilation_cache

        enable_compilation_cache()
        episodes, seed = 256 if episodes is None else episodes, 0 if seed is None else seed
        env, traces = match_traces(list(agents), env_id=env_id, env_kwargs=parse_env_kwargs(env_kw),
                                   episodes=episodes, seed=seed)
        source = {"match": list(agents)}
    report = {"source": source, **calibration_report(env, traces, rows=rows or None, seed=seed)}
    if png_dir is not None:
        from arena.calibration_plot import write_calibration_pngs

        report["png"] = [str(p) for p in write_calibration_pngs(report, png_dir)]
    print_calibration_report(report, as_json)
