"""`arena envs` and `arena archs`: what arena can run."""
from __future__ import annotations

import click

from arena.commands.options import CTX, json_option


@click.command(context_settings=CTX)
@click.argument("prefix", required=False, default="")
@json_option
def envs(prefix, as_json):
    """List every env id (or those starting with PREFIX) with seats, teams, shapes, metrics.

    The listing is built once per installed JaxMARL (and arena) and cached, so this is quick.

    \b
    Examples:
      arena envs
      arena envs overcooked_v2 --json
    """
    from arena.commands.env_catalogue import env_catalogue

    rows = [r for r in env_catalogue() if r["id"].startswith(prefix)]
    if as_json:
        from arena.commands.report import print_json

        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("id", "seats", "teams: obs shape dtype, actions", "steps", "metrics"):
        table.add_column(col)
    for r in rows:
        teams = "\n".join(
            f"{t['name']} ({len(t['seats'])}): {tuple(t['obs_shape'])} {t['obs_dtype']}, {t['num_actions']}"
            for t in r["teams"]
        )
        table.add_row(r["id"], ", ".join(r["seats"]), teams, str(r["max_steps"]), ", ".join(r["metrics"]))
    Console().print(table)


@click.command(context_settings=CTX)
@json_option
def archs(as_json):
    """List the agent architectures with their config fields (defaults) and extras.

    \b
    Example:
      arena archs
    """
    from arena.agent import config_fields, registered_archs

    rows = []
    for key, cls in registered_archs().items():
        rows.append({
            "arch": key,
            "doc": (cls.doc or (cls.__doc__ or "")).strip().splitlines()[0] if (cls.doc or cls.__doc__) else "",
            "config": [{"name": n, "type": t, "default": d} for n, t, d in config_fields(cls)],
            "extras": _declared_extras(cls),
        })
    if as_json:
        from arena.commands.report import print_json

        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("arch", "config fields (default)", "extras (with 6 actions)", "what it is"):
        table.add_column(col)
    for r in rows:
        cfg = "\n".join(f"{c['name']}={c['default']!r}" for c in r["config"]) or "-"
        table.add_row(r["arch"], cfg, ", ".join(r["extras"]) or "-", r["doc"])
    Console().print(table)


def _declared_extras(cls) -> list[str]:
    """Extras of the architecture with its default config, on a small vector observation."""
    from arena.agent import build_agent

    try:
        agent = build_agent(cls.arch, {}, (4, 5, 26), "float32", 6)
        return [f"{e.name} {tuple(e.shape)}" for e in agent.extras()]
    except Exception:  # archs that need config (scripted rules, ensembles) list theirs in docs
        return list(getattr(cls, "extras_names", ()))
