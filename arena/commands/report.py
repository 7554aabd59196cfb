"""Terminal and JSON rendering of reports; all formatting lives here, no computing."""
from __future__ import annotations

import click

from arena.numfmt import dumps, interval


def print_json(data) -> None:
    """JSON on stdout, floats at float32 precision."""
    click.echo(dumps(data))


def print_match_report(report: dict, as_json: bool = False) -> None:
    if as_json:
        print_json(report)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    kw = ", ".join(f"{k}={v}" for k, v in report["env_kwargs"].items())
    console.print(
        f"[bold]{report['env']}[/bold]{f' ({kw})' if kw else ''}: {report['episodes']} episodes, "
        f"seed {report['seed']}, 95% bootstrap CIs"
    )
    for order in report["orders"]:
        title = "seat order " + " / ".join(f"{s['side']}={s['agent']}" for s in order["sides"])
        table = Table(title=title if len(report["orders"]) > 1 else None, title_justify="left")
        for col in ("side", "team", "seats", "agent", "return (mean [95% CI])"):
            table.add_column(col)
        for s in order["sides"]:
            table.add_row(s["side"], s["team"], ", ".join(s["seats"]), s["agent"], interval(s["return"]))
        console.print(table)
        metrics = "  ".join(f"{name}: {interval(e)}" for name, e in order["metrics"].items())
        compile_note = f", compiled in {order['compile_seconds']:.1f}s" if order["compile_seconds"] else ""
        console.print(
            f"  per episode: {metrics}  |  {order['steps_per_second']:,.0f} env steps/s{compile_note}"
        )
    if report.get("xp"):
        console.print(f"[bold]J_XP[/bold] = 1/2 (J(a,b) + J(b,a)) = {interval(report['xp'])}")
