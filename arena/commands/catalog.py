"""`arena envs` and `arena archs`: what arena can run."""
from __future__ import annotations

import click

from arena.commands.options import CTX, complete_env_id, json_option


@click.command(context_settings=CTX)
@click.argument("prefix", required=False, default="", shell_complete=complete_env_id)
@json_option
def envs(prefix, as_json):
    """List every env id (or those starting with PREFIX) with seats, teams, shapes, metrics.

    Given a whole env id, also list the options it takes (--env-kw KEY=VALUE) with defaults.
    The listing is built once per installed JaxMARL (and arena) and cached, so this is quick.

    \b
    Examples:
      arena envs
      arena envs overcooked_v2 --json
      arena envs mpe_tag
    """
    from arena.commands.env_catalogue import env_catalogue

    every = env_catalogue()
    rows = [r for r in every if r["id"].startswith(prefix)]
    if not rows:
        from arena.errors import UserError, did_you_mean

        ids = [r["id"] for r in every]
        raise UserError(f"no env id starts with {prefix!r}{did_you_mean(prefix, ids)}; `arena envs` lists them all")
    if as_json:
        from arena.commands.report import print_json

        print_json(rows)
        return
    from arena.tables import Col, print_table

    cols = [Col("id", key=True), Col("seats", drop=2), Col("teams: obs shape dtype, actions"), Col("steps", drop=1),
            Col("metrics", drop=3)]
    print_table(cols, [
        [r["id"], ", ".join(r["seats"]),
         "\n".join(f"{t['name']} ({len(t['seats'])}): {tuple(t['obs_shape'])} {t['obs_dtype']}, {t['num_actions']}"
                   for t in r["teams"]),
         str(r["max_steps"]), ", ".join(r["metrics"])]
        for r in rows
    ])
    whole = [r for r in rows if r["id"] == prefix]
    if whole:
        print_table([Col("option (--env-kw)", key=True), Col("default")], sorted(whole[0].get("options", {}).items()),
                    title=f"{prefix} options")

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
            "privileged": cls.privileged,
        })
    if as_json:
        from arena.commands.report import print_json

        print_json(rows)
        return
    from arena.tables import Col, print_table

    cols = [Col("arch", key=True), Col("config fields (default)"), Col("extras (with 6 actions)", drop=1),
            Col("what it is", drop=2)]
    print_table(cols, [
        [r["arch"], "\n".join(f"{c['name']}={c['default']!r}" for c in r["config"]) or "-",
         ", ".join(r["extras"]) or "-", ("[privileged: reads the env state] " if r["privileged"] else "") + r["doc"]]
        for r in rows
    ])


def _declared_extras(cls) -> list[str]:
    """Extras of the architecture with its default config, on a small vector observation."""
    from arena.agent import build_agent

    try:
        agent = build_agent(cls.arch, {}, (4, 5, 26), "float32", 6)
        return [f"{e.name} {tuple(e.shape)}" for e in agent.extras()]
    except Exception:  # archs that need config (scripted rules, ensembles) list theirs in docs
        return list(getattr(cls, "extras_names", ()))
