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

    from arena.tables import Col, print_table

    console = Console()
    kw = ", ".join(f"{k}={v}" for k, v in report["env_kwargs"].items())
    console.print(
        f"[bold]{report['env']}[/bold]{f' ({kw})' if kw else ''}: {report['episodes']} episodes, "
        f"seed {report['seed']}, 95% bootstrap CIs"
    )
    for order in report["orders"]:
        title = "seat order " + " / ".join(f"{s['side']}={s['agent']}" for s in order["sides"])
        cols = [Col("side", key=True), Col("team", drop=1), Col("seats", drop=2), Col("agent", key=True),
                Col("return (mean [95% CI])")]
        print_table(cols, [[s["side"], s["team"], ", ".join(s["seats"]), s["agent"], interval(s["return"])]
                           for s in order["sides"]], title=title if len(report["orders"]) > 1 else None,
                    console=console)
        shown = report.get("headline_metrics", list(order["metrics"]))
        metrics = "  ".join(f"{name}: {interval(e)}" for name, e in order["metrics"].items() if name in shown)
        compile_note = f", compiled in {order['compile_seconds']:.1f}s" if order["compile_seconds"] else ""
        console.print(
            f"  per episode: {metrics}  |  {order['steps_per_second']:,.0f} env steps/s{compile_note}"
        )
    hidden = len(report["orders"][0]["metrics"]) - len(report.get("headline_metrics", report["orders"][0]["metrics"]))
    if hidden > 0:
        console.print(f"  (+{hidden} per-seat metrics: --json)")
    if report.get("xp"):
        console.print(f"[bold]J_XP[/bold] = 1/2 (J(a,b) + J(b,a)) = {interval(report['xp'])}")


def print_calibration_report(report: dict, as_json: bool = False) -> None:
    """`arena calibration`: a line on the source and truth, then per believer its scores over
    all steps and a table of its scores per range of steps, ± the CI's half-width."""
    if as_json:
        print_json(report)
        return
    from rich.console import Console

    from arena.numfmt import plus_minus
    from arena.tables import Col, print_table

    console = Console()
    truth = report["truth"]
    names = {"p_true": "p(true)", "accuracy": "accuracy", "ece": "ECE", "nll": "NLL"}
    kw = ", ".join(f"{k}={v}" for k, v in report["env_kwargs"].items())
    click.echo(f"{report['env']}{f' ({kw})' if kw else ''}: {report['episodes']} episodes of up to "
               f"{report['steps']} steps, seed {report['seed']}")
    click.echo(f"truth: state leaf {truth['leaf']}, episodes " + ", ".join(f"{k} {n}" for k, n in truth["episodes"].items()))
    click.echo(f"± = 95% bootstrap CI half-width over episodes; ECE over {report['bins']} equal-width confidence bins")
    for a in report["agents"]:
        click.echo(f"\n{a['agent']} ({a['arch']}) on {a['side']} ({', '.join(a['seats'])})")
        rows = [[str(r["steps"][0]) if r["steps"][1] - r["steps"][0] == 1 else f"{r['steps'][0]}-{r['steps'][1] - 1}",
                 *(plus_minus(r[m]) for m in names)] for r in a["per_step"]]
        rows.append(["all", *(plus_minus(a["overall"][m]) for m in names)])
        print_table([Col("step", key=True, justify="right"), *(Col(h, justify="right") for h in names.values())], rows,
                    console=console)
    for path in report.get("png", []):
        click.echo(f"wrote {path}")
