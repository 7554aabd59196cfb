"""`arena replay info|verify FILE`: what a replay holds, and whether it re-simulates exactly.

The group's subcommands are imported when they run, like the top-level commands. `info` reads
the file alone (no env is built, jax is never imported); `verify` builds the replay's env.
"""
from __future__ import annotations

import importlib
import sys

import click

from arena.commands.options import CTX, json_option

# name -> (module, attribute, one-line help) of subcommands defined elsewhere, imported on use.
# `arena replay export` (the viewer's GIF/MP4 export) plugs in here with one entry, e.g.
#   "export": ("arena.commands.view", "export", "Render an episode of a replay to a GIF or MP4."),
LAZY_SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "export": ("arena.commands.view", "export", "Render an episode of a replay to a GIF or MP4."),
}


class _ReplayGroup(click.Group):
    """`replay`'s own commands plus the lazily imported ones in LAZY_SUBCOMMANDS."""

    def list_commands(self, ctx):
        return [*super().list_commands(ctx), *LAZY_SUBCOMMANDS]

    def get_command(self, ctx, name):
        if name in LAZY_SUBCOMMANDS:
            module, attr, _ = LAZY_SUBCOMMANDS[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        rows = [(name, cmd.get_short_help_str(60)) for name, cmd in self.commands.items()]
        rows += [(name, help_) for name, (_, _, help_) in LAZY_SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_ReplayGroup, context_settings=CTX)
def replay():
    """Inspect and check recorded replays (`arena match ... --record out.replay` writes one).

    \b
    Examples:
      arena match a.ckpt b.ckpt --record out.replay
      arena replay info out.replay
      arena replay verify out.replay --json
    """


def replay_env(rep):
    """The env `rep` was recorded on, or a one-line ReplayError naming the file."""
    from arena.envs import UnknownEnv, make, registered_ids
    from arena.replay import ReplayError

    if rep.env_id not in registered_ids():
        raise ReplayError(rep.path, f"replay is of env {rep.env_id!r}, which this arena does not know; "
                                    "`arena envs` lists the known ids")
    try:
        return make(rep.env_id, **rep.env_kwargs)
    except UnknownEnv as err:
        raise ReplayError(rep.path, f"the replay's env cannot be built: {err}") from None


def _info(rep) -> dict:
    h = rep.header
    return {
        "path": str(rep.path),
        "bytes": rep.size,
        "format": h["format"],
        "schema": h["schema"],
        "arena_version": h.get("arena_version"),
        "jax_version": h.get("jax_version"),
        "jaxmarl_version": h.get("jaxmarl_version"),
        "created": h.get("created"),
        "env_id": h["env_id"],
        "env_kwargs": h.get("env_kwargs") or {},
        "seats": h["seats"],
        "seed": h["seed"],
        "sides": h["sides"],
        "episodes_declared": h.get("episodes"),
        "episodes": [
            {"episode": e.episode, "length": e.length, "returns": list(e.returns), "metrics": e.metrics, "bytes": e.size}
            for e in rep.index
        ],
        "complete": rep.footer is not None,
        "checksum_ok": rep.checksum_ok,
        "torn": _torn(rep),
        "summary": (rep.footer or {}).get("summary"),
        "meta": h.get("meta") or {},
    }


def _torn(rep) -> dict | None:
    """Where a replay stops being readable, for JSON: a tail cut short (with what it lost) or
    damage (`damaged`: whole records follow the bad bytes, or the footer disagrees)."""
    if rep.torn is None:
        return None
    out = {"offset": rep.torn.offset, "reason": rep.torn.reason, "damaged": rep.torn.damaged}
    if not rep.torn.damaged:
        out["lost"] = rep.lost()
    return out


def _episodes(n: int) -> str:
    return f"{n} whole episode{'' if n == 1 else 's'}"


def _status_line(info: dict) -> str:
    torn = info["torn"]
    if torn and torn["damaged"]:
        return (f"[red]damaged at byte {torn['offset']} of {info['bytes']}: {torn['reason']}; "
                f"{_episodes(len(info['episodes']))} before it listed[/red]")
    if torn:
        return (f"[yellow]torn at byte {torn['offset']} of {info['bytes']}: {torn['reason']}; "
                f"{_episodes(len(info['episodes']))} kept, lost {torn['lost']}[/yellow]")
    if info["checksum_ok"]:
        return "[green]complete, sha256 checksum ok[/green]"
    return "[red]complete, but the sha256 checksum does not match: the file was changed after it was written[/red]"


@replay.command(context_settings=CTX)
@click.argument("file")
@json_option
def info(file, as_json):
    """Summarise a replay: env, seed, who played each side, episodes and their returns.

    Reads the file alone (no env is built, no array is decoded, but every episode's array maps
    are checked); a torn file is reported with where it tears and what it lost, and its whole
    episodes are listed. Exit code 1 when the file is damaged (bytes changed after writing,
    arrays no writer writes), 2 when it is not a replay.

    \b
    Examples:
      arena replay info out.replay
      arena replay info out.replay --json
    """
    from arena.commands.report import print_json
    from arena.replay import open_replay

    rep = open_replay(file)
    for k in range(len(rep.index)):
        rep.check(k)  # an episode whose arrays cannot be decoded is one line, exit 1
    data = _info(rep)
    damaged = bool(data["torn"] and data["torn"]["damaged"]) or data["checksum_ok"] is False
    if as_json:
        print_json(data)
        if damaged:
            sys.exit(1)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    kw = ", ".join(f"{k}={v}" for k, v in data["env_kwargs"].items())
    console.print(f"[bold]{data['path']}[/bold]: {data['format']} schema {data['schema']}, "
                  f"arena {data['arena_version']}, created {data['created']}, {data['bytes']:,} bytes")
    console.print(f"env [bold]{data['env_id']}[/bold]{f' ({kw})' if kw else ''}, seed {data['seed']}, "
                  f"seats {', '.join(data['seats'])}")
    for s in data["sides"]:
        extras = " ".join(f"{k}{tuple(v['shape'])}" for k, v in s["extras"].items()) or "none"
        who = "human" if s.get("human") else f"{s['agent']} ({s['arch']}, params {s['sha256'][:12]})"
        if s.get("human_seats"):
            who += f", a human on seat {', '.join(data['seats'][i] for i in s['human_seats'])}"
        console.print(f"  side {s['name']} (seats {', '.join(data['seats'][i] for i in s['seats'])}): {who}; extras: {extras}")
    console.print(_status_line(data))
    if data["meta"].get("episodes_played"):
        console.print(f"holds {len(data['episodes'])} of the {data['meta']['episodes_played']} episodes played")
    table = Table()
    # Per-seat breakdowns ("<metric>/<seat>": overcooked's feature counts) stay in --json.
    per_seat = tuple(f"/{seat}" for seat in data["seats"])
    every = sorted({k for e in data["episodes"] for k in e["metrics"]})
    metric_names = [m for m in every if not m.endswith(per_seat)]
    for col in ("episode", "steps", *(f"return {s}" for s in data["seats"]), *metric_names, "bytes"):
        table.add_column(col, justify="right")
    for e in data["episodes"]:
        table.add_row(str(e["episode"]), str(e["length"]), *(f"{r:.2f}" for r in e["returns"]),
                      *(f"{e['metrics'].get(m, float('nan')):.2f}" for m in metric_names), f"{e['bytes']:,}")
    console.print(table)
    if len(metric_names) < len(every):
        console.print(f"(+{len(every) - len(metric_names)} per-seat metrics: --json)")
    if damaged:
        sys.exit(1)


@replay.command(context_settings=CTX)
@click.argument("file")
@json_option
def verify(file, as_json):
    """Re-simulate every episode from its seed and recorded actions; check every state.

    Each recorded env state leaf must equal the re-simulated one bit for bit. Exit code 0
    when all match, 1 at the first divergence (reported as episode, step, leaf), when the
    file is damaged (bytes changed after writing: reported with their byte offset; arrays no
    writer writes), when the footer's sha256 does not match the file or when no whole episode
    is left to check, 2 when the file is not a readable replay. A torn tail (a crash while
    writing) is a warning: the whole episodes before it are checked. A replay recorded under
    other jax or jaxmarl versions than the installed ones is a warning too.

    \b
    Examples:
      arena replay verify out.replay
      arena replay verify out.replay --json
    """
    from rich.progress import Progress

    from arena.commands.report import print_json
    from arena.replay import open_replay
    from arena.verify import recorded_batch, verify_traces
    from arena.versions import version_mismatches

    rep = open_replay(file)
    replay_env(rep)  # an env this arena cannot build is one line, before any episode is decoded
    for k in range(len(rep.index)):
        rep.check(k)  # and so is an episode whose arrays cannot be decoded (exit 1)
    versions = version_mismatches(rep.header)
    damaged = rep.torn is not None and rep.torn.damaged
    from rich.console import Console

    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=as_json or not console.is_terminal) as progress:
        task = progress.add_task("re-simulating", total=len(rep.index))
        report = verify_traces(rep.episodes, progress=lambda n: progress.advance(task, n), batch=recorded_batch(rep.header))
    ok = report.ok and rep.checksum_ok is not False and report.episodes > 0 and not damaged
    if as_json:
        print_json({
            "path": str(rep.path), "ok": ok, "episodes_checked": report.episodes, "steps_checked": report.steps,
            "divergence": None if report.divergence is None else report.divergence.to_dict(),
            "checksum_ok": rep.checksum_ok,
            "torn": _torn(rep),
            "version_mismatch": versions,
        })
    else:
        if versions:
            click.echo(f"warning: recorded with {', '.join(versions)}: re-simulation is bit-exact only under the "
                       "versions that recorded it", err=True)
        if damaged:
            click.echo(f"FAILED: {rep.torn.describe()}; {_episodes(len(rep.index))} before it checked")
        elif rep.torn is not None:
            click.echo(f"warning: {rep.torn.describe()}; lost {rep.lost()}; checking {_episodes(len(rep.index))}", err=True)
        if rep.checksum_ok is False:
            click.echo("FAILED: the footer's sha256 does not match the file: it was changed after it was written")
        if report.divergence is not None:
            click.echo(f"FAILED: re-simulation diverges at {report.divergence.describe()}")
        elif report.episodes == 0:
            click.echo("FAILED: nothing to verify: the replay holds no whole episode")
        elif report.ok and not damaged and rep.checksum_ok is not False:
            click.echo(f"ok: {report.episodes} episodes, {report.steps} steps: every recorded state re-simulates exactly")
    if not ok:
        # sys.exit, not click's Exit: arena's main runs click with standalone_mode=False, where
        # an Exit's code is returned rather than used as the process's exit status.
        sys.exit(1)
