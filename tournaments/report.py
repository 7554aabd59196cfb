"""Reports: turn stored cells into numbers (matrices, per-agent scores, ratings, each with a
bootstrap interval), and render them as terminal tables, JSON, CSV and a heatmap PNG.

Everything here reads the store's numpy arrays only (no jax), so `arena tournament show ID`
reprints a tournament without loading a single agent.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict

import numpy as np

from arena import numfmt, stats
from arena.fileio import atomic_write
from arena.tables import Col, numbered, print_table
from arena.tournaments.leaks import leak
from arena.tournaments.outcomes import describe, head_to_head, role_games, roles
from arena.tournaments.ratings import Games, elo_ratings, openskill_ratings
from arena.tournaments.spec import HUMAN

_SEED_SUFFIX = re.compile(r"^(.+)-s(\d+)$")


def seed_groups(agents: list[dict]) -> dict[str, list[int]]:
    """Training-seed groups: provenance `group`, else a name prefix before `-s<N>`. Only
    groups of two or more agents count (a group of one has no seed variance to measure)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(agents):
        prov = a["manifest"].get("provenance", {}) or {}
        m = _SEED_SUFFIX.match(a["name"])
        name = prov.get("group") or (m.group(1) if m else None)
        if name:
            groups[str(name)].append(i)
    return {g: m for g, m in groups.items() if len(m) >= 2}


def display_names(agents: list[dict]) -> list[str]:
    """How every table, CSV and JSON names the agents: the manifest name, and for a name that
    different agents share, `name@` and the first hex digits of the content id that tell them
    apart (6, more if those collide), so no two rows read the same."""
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(agents):
        by_name[a["name"]].append(i)
    out = [a["name"] for a in agents]
    for name, members in by_name.items():
        if len(members) < 2:
            continue
        width = 6
        while len({agents[i]["id"][:width] for i in members}) < len(members) and width < 64:
            width += 2
        for i in members:
            out[i] = f"{name}@{agents[i]['id'][:width]}"
    return out


def _est(e: stats.Estimate) -> dict:
    return e.to_dict()


class _Cells:
    """Stored cells indexed by lineup; arrays concatenated over replicates in seed order."""

    def __init__(self, cells, sides: list[list[int]]):
        by_lineup = defaultdict(list)
        for c in sorted(cells, key=lambda c: (c.lineup, c.replicate)):
            by_lineup[c.lineup].append(c)
        self.by_lineup = dict(by_lineup)
        self.sides = sides

    def __contains__(self, lineup) -> bool:
        return tuple(lineup) in self.by_lineup

    def team(self, lineup) -> np.ndarray:
        """(R*E,) mean return over all seats per episode: the shared score of a cooperative game."""
        return np.concatenate([c.returns.mean(axis=1) for c in self.by_lineup[tuple(lineup)]])

    def side(self, lineup, s: int) -> np.ndarray:
        return np.concatenate([c.returns[:, self.sides[s]].mean(axis=1) for c in self.by_lineup[tuple(lineup)]])

    def metric(self, lineup, name: str) -> np.ndarray:
        return np.concatenate([c.metrics[name] for c in self.by_lineup[tuple(lineup)]])

    def xp(self, a: int, b: int) -> np.ndarray | None:
        """J_XP(a, b) per episode: both seat orders share match seeds, so episodes pair up."""
        if (a, b) not in self or (b, a) not in self:
            return None
        return 0.5 * (self.team((a, b)) + self.team((b, a)))


def build_report(t: dict, cells) -> dict:
    """The full report of a stored tournament `t` (Store.tournament) from its cells."""
    info = t["env_info"]
    sides = [s["seats"] for s in info["sides"]]
    agents = t["agents"]
    names = display_names(agents)
    data = _Cells(cells, sides)
    seed = t["spec"].get("seed", 0)
    # Seed groups change the CI unit of the SP/XP summaries; round-robin ratings ignore them.
    groups = {} if t["mode"] == "roundrobin" else seed_groups(agents[: t["n_focal"]] if t["mode"] == "zeroshot" else agents)
    report = {
        "id": t["id"], "mode": t["mode"], "env": t["env"], "env_kwargs": info.get("kwargs", {}),
        "cooperative": info["cooperative"], "sides": [s["name"] for s in info["sides"]],
        "episodes": t["spec"]["episodes"], "seeds": t["spec"]["seeds"], "seed": seed,
        "cells_total": t["n_cells"], "cells_done": len(cells), "finished": t["finished"] is not None,
        "agents": [{"name": names[i], "manifest_name": a["name"], "id": a["id"], "arch": a["arch"], "source": a["source"]}
                   for i, a in enumerate(agents)],
        "ci_unit": "training seed" if groups else "episode",
        "groups": {g: [names[i] for i in m] for g, m in groups.items()},
        "cells": [_cell_row(c, names, sides) for c in sorted(cells, key=lambda c: c.index)],
    }
    builder = {"selfplay": _selfplay, "crossplay": _crossplay, "zeroshot": _zeroshot, "roundrobin": _roundrobin,
               "human": _human}
    report[t["mode"]] = builder[t["mode"]](t, data, names, groups, seed)
    return report


def _cell_row(c, names, sides) -> dict:
    return {
        "cell": c.index, "lineup": ["human" if i == HUMAN else names[i] for i in c.lineup], "replicate": c.replicate,
        "match_seed": c.match_seed,
        "side_returns": [float(c.returns[:, s].mean()) for s in sides],
        "metrics": {k: float(v.mean()) for k, v in c.metrics.items()},
    }


def _selfplay(t, data, names, groups, seed) -> dict:
    n_sides = len(data.sides)
    rows = []
    for i, nm in enumerate(names):
        lineup = (i,) * n_sides
        if lineup not in data:
            continue
        row = {"agent": nm, "score": _est(stats.bootstrap_ci(data.team(lineup), seed=seed)),
               "sides": [_est(stats.bootstrap_ci(data.side(lineup, s), seed=seed)) for s in range(n_sides)]}
        rows.append(row)
    out = {"agents": rows}
    if groups:
        out["groups"] = [
            {"group": g, "members": len(m), "score": _est(stats.bootstrap_groups_ci(
                [data.team((i,) * n_sides) for i in m if (i,) * n_sides in data], seed=seed))}
            for g, m in groups.items()
        ]
    return out


def _mean_over_partners(arrays: list[np.ndarray]) -> np.ndarray:
    """(E,) per-episode mean over partners (episodes aligned by index)."""
    return np.mean(np.stack(arrays), axis=0)


def _crossplay(t, data, names, groups, seed) -> dict:
    n = len(names)
    matrix = [[None] * n for _ in range(n)]
    for a in range(n):
        for b in range(n):
            x = data.team((a, a)) if a == b and (a, a) in data else data.xp(a, b)
            if x is not None:
                matrix[a][b] = _est(stats.bootstrap_ci(x, seed=seed))
    per_agent, xp_series = [], {}
    for a in range(n):
        partners = [data.xp(a, b) for b in range(n) if b != a]
        partners = [p for p in partners if p is not None]
        if not partners or (a, a) not in data:
            continue
        xp = _mean_over_partners(partners)
        sp = data.team((a, a))
        xp_series[a] = xp
        per_agent.append({
            "agent": names[a],
            "sp": _est(stats.bootstrap_ci(sp, seed=seed)),
            "xp": _est(stats.bootstrap_ci(np.stack(partners, axis=1), lambda x, axis: x.mean(axis=axis).mean(axis=-1), seed=seed)),
            "xp_iqm": _est(stats.iqm_ci(np.concatenate(partners), seed=seed)),
            "gap": _est(stats.bootstrap_ci(sp - xp, seed=seed)),
        })
    done = sorted(xp_series)
    poi = {names[i]: {names[j]: stats.probability_of_improvement(xp_series[i], xp_series[j]) for j in done if j != i}
           for i in done}
    out = {"agents_order": names, "matrix": matrix, "per_agent": per_agent, "probability_of_improvement": poi}
    if groups:
        out["groups"] = _group_crossplay(data, groups, seed)
    return out


def _group_crossplay(data, groups, seed) -> list[dict]:
    """Per seed group: SP and within-group XP (between different seeds), CIs over seeds."""
    rows = []
    for g, members in groups.items():
        sp = [data.team((i, i)) for i in members if (i, i) in data]
        xp = []
        for i in members:
            partners = [data.xp(i, j) for j in members if j != i]
            partners = [p for p in partners if p is not None]
            if partners:
                xp.append(_mean_over_partners(partners))
        row = {"group": g, "members": len(members)}
        if sp:
            row["sp"] = _est(stats.bootstrap_groups_ci(sp, seed=seed))
        if xp:
            row["xp"] = _est(stats.bootstrap_groups_ci(xp, seed=seed))
        if sp and xp and len(sp) == len(xp):
            row["gap"] = _est(stats.bootstrap_groups_ci([s - x for s, x in zip(sp, xp)], seed=seed))
        rows.append(row)
    return rows


def _zeroshot(t, data, names, groups, seed) -> dict:
    agents = t["agents"]
    n_focal = t["n_focal"]
    reference = t["spec"].get("reference", "provenance")
    references = _references(agents, data, n_focal, reference)
    focal_rows, matrix = [], []
    member_series = {}
    for f in range(n_focal):
        partners, row_cells, held_out, normalised = [], [], [], []
        for p in range(n_focal, len(names)):
            x = data.xp(f, p)
            if x is None:
                row_cells.append(None)
                continue
            best = references[p]
            reason = leak(agents[f]["manifest"], agents[p]["manifest"])
            trained_with = reason is not None
            est = stats.bootstrap_ci(x, seed=seed)
            norm = min(1.0, est.mean / best) if isinstance(best, (int, float)) and best > 0 else None
            partners.append({"partner": names[p], "score": _est(est), "best_return": best,
                             "normalised": norm, "trained_with": trained_with, "leak": reason})
            row_cells.append(_est(est))
            if not trained_with:
                held_out.append(x)
                if norm is not None:
                    normalised.append(norm)
        matrix.append(row_cells)
        row = {"agent": names[f], "partners": partners,
               "flagged": [p["partner"] for p in partners if p["trained_with"]]}
        if held_out:
            series = _mean_over_partners(held_out)
            member_series[f] = series
            row["mean"] = _est(stats.bootstrap_ci(np.stack(held_out, axis=1), lambda x, axis: x.mean(axis=axis).mean(axis=-1), seed=seed))
        if normalised:
            row["normalised_iqm"] = _est(stats.iqm_ci(np.array(normalised), seed=seed))
        focal_rows.append(row)
    out = {"focal": focal_rows, "pool": names[n_focal:], "matrix": matrix, "reference": reference,
           "self_play": {names[p]: _est(stats.bootstrap_ci(data.team((p, p)), seed=seed))
                         for p in range(n_focal, len(names)) if (p, p) in data},
           "missing_reference": [names[p] for p in range(n_focal, len(names)) if references[p] is None]}
    if groups:
        out["groups"] = [
            {"group": g, "members": len(m),
             "mean": _est(stats.bootstrap_groups_ci([member_series[i] for i in m if i in member_series], seed=seed))}
            for g, m in groups.items()
        ]
    return out


def _references(agents, data, n_focal: int, reference: str) -> dict[int, float | None]:
    """Each pool partner's reference return: its self-play in this tournament (`selfplay`)
    or its manifest's provenance.best_return; None when there is none."""
    out: dict[int, float | None] = {}
    for p in range(n_focal, len(agents)):
        if reference == "selfplay":
            out[p] = float(data.team((p, p)).mean()) if (p, p) in data else None
        else:
            best = (agents[p]["manifest"].get("provenance", {}) or {}).get("best_return")
            out[p] = float(best) if isinstance(best, (int, float)) and not isinstance(best, bool) else None
    return out


def _roundrobin(t, data, names, groups, seed) -> dict:
    lineups = sorted(data.by_lineup)
    rows = sorted({a for a, _ in lineups})
    cols = sorted({b for _, b in lineups})
    metric_names = t["env_info"].get("metrics", [])
    payoff = []
    for a in rows:
        line = []
        for b in cols:
            if (a, b) not in data:
                line.append(None)
                continue
            line.append({
                "returns": [_est(stats.bootstrap_ci(data.side((a, b), s), seed=seed)) for s in range(2)],
                "metrics": {m: _est(stats.bootstrap_ci(data.metric((a, b), m), seed=seed)) for m in metric_names},
            })
        payoff.append(line)
    # Head to head, or within each role when no agent plays both sides (outcomes.py).
    info = t["env_info"]
    role_of = roles(lineups)
    side_names = [sd["name"] for sd in info["sides"]]
    if role_of is None:
        played = [lu for lu in lineups if lu[0] != lu[1]]
        leagues = [([a for a, _ in played], [b for _, b in played],
                    [head_to_head([data.side(lu, 0), data.side(lu, 1)]) for lu in played])]
    else:
        def score(lineup, side, metric):
            return data.side(lineup, side) if metric == "return" else data.metric(lineup, metric)

        leagues = role_games(info, lineups, role_of, score)
    ratings = []
    for k, (first, second, outcomes) in enumerate(leagues):
        players = sorted(set(first) | set(second))
        if not players:
            continue
        local = {p: x for x, p in enumerate(players)}  # each league is fitted on its own players
        games = Games(tuple(local[i] for i in first), tuple(local[j] for j in second), tuple(outcomes))
        elo = elo_ratings(games, len(players), seed=seed)
        skill = openskill_ratings(games, [names[i] for i in players])
        for x, i in enumerate(players):
            ratings.append({"agent": names[i], **({"role": side_names[k]} if role_of else {}), **elo[x], **skill[x],
                            "games": int(sum(len(o) for f, s2, o in zip(first, second, outcomes) if i in (f, s2)))})
    ratings.sort(key=lambda r: (side_names.index(r["role"]) if role_of else 0, -r["elo"]))
    return {"rows": [names[a] for a in rows], "cols": [names[b] for b in cols], "payoff": payoff,
            "ratings": ratings, "win_rule": describe(info, role_of is not None), "rated_per_role": role_of is not None,
            "prior_dominated": sorted({r["role"] if role_of else "all" for r in ratings if r["prior_dominated"]})}


def _human(t, data, names, groups, seed) -> dict:
    """Per agent (by the letter the player saw): the player's return, the agent's, the
    player's 1-5 ratings, each with a bootstrap CI over games; and the games in play order."""
    games = {g["cell"]: g for g in t.get("human_games", [])}
    spec = t["spec"]
    human_side = next(s for s, seats in enumerate(data.sides) if spec["seat"] in seats)
    agent_seats = [seat for s, seats in enumerate(data.sides) if s != human_side for seat in seats]
    order, by_agent = [], defaultdict(list)
    for c in sorted((c for cells in data.by_lineup.values() for c in cells), key=lambda c: c.index):
        agent = next(i for i in c.lineup if i != HUMAN)
        g = games.get(c.index, {})
        by_agent[agent].append(len(order))
        order.append({"game": c.index + 1, "letter": g.get("letter"), "agent": names[agent],
                      "human_return": float(c.returns[0, data.sides[human_side]].mean()),
                      "agent_return": float(c.returns[0, agent_seats].mean()), "rating": g.get("rating"),
                      "reaction_ms": g.get("mean_reaction_ms"), "replay": g.get("replay")})
    rows = []
    for agent, played in by_agent.items():
        mine = [order[k] for k in played]
        ratings = np.array([g["rating"] for g in mine if g["rating"] is not None], float)
        reaction = [g["reaction_ms"] for g in mine if g["reaction_ms"] is not None]
        rows.append({
            "letter": mine[0]["letter"], "agent": names[agent], "games": len(mine),
            "human_return": _est(stats.bootstrap_ci(np.array([g["human_return"] for g in mine]), seed=seed)),
            "agent_return": _est(stats.bootstrap_ci(np.array([g["agent_return"] for g in mine]), seed=seed)),
            "rating": _est(stats.bootstrap_ci(ratings, seed=seed)) if ratings.size else None,
            "ratings": int(ratings.size),
            "reaction_ms": float(np.mean(reaction)) if reaction else None,
        })
    rows.sort(key=lambda r: r["letter"] or "")
    return {"player": spec["player"], "seat": spec["seat"], "side": t["env_info"]["sides"][human_side]["name"],
            "partners": rows, "games": order}


# ---------------------------------------------------------------- rendering


def heatmap_data(report: dict) -> tuple[list[str], list[str], list[list[dict | None]], str] | None:
    """(row labels, column labels, cells of Estimates, title) of the report's matrix."""
    mode = report["mode"]
    if mode == "crossplay":
        x = report["crossplay"]
        return x["agents_order"], x["agents_order"], x["matrix"], "cross-play J_XP (diagonal: self-play)"
    if mode == "zeroshot":
        x = report["zeroshot"]
        return [r["agent"] for r in x["focal"]], x["pool"], x["matrix"], "zero-shot J_XP: focal (rows) x pool"
    if mode == "roundrobin":
        x = report["roundrobin"]
        cells = [[c["returns"][0] if c else None for c in line] for line in x["payoff"]]
        return x["rows"], x["cols"], cells, f"round-robin: return of side {report['sides'][0]} (rows) vs {report['sides'][1]} (cols)"
    return None


def heatmap_size(n_rows: int, n_cols: int, dpi: int = 100) -> tuple[int, int]:
    """Pixel (width, height) of the heatmap PNG: fixed by the matrix shape, for tests and layout."""
    width, height = _fig_inches(n_rows, n_cols)
    return int(round(width * dpi)), int(round(height * dpi))


def _fig_inches(n_rows: int, n_cols: int) -> tuple[float, float]:
    return 3.0 + 1.1 * n_cols, 2.0 + 0.8 * n_rows


def write_heatmap(report: dict, path, dpi: int = 100) -> bool:
    """Write the matrix as a PNG with mean and CI half-width in each cell; False if the mode
    has no matrix (selfplay)."""
    got = heatmap_data(report)
    if got is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols, cells, title = got
    values = np.array([[c["mean"] if c else np.nan for c in line] for line in cells], dtype=float)
    fig, ax = plt.subplots(figsize=_fig_inches(len(rows), len(cols)), dpi=dpi)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    finite = values[np.isfinite(values)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i, line in enumerate(cells):
        for j, c in enumerate(line):
            if c is None:
                continue
            # CI width written as +- half-width: what a reader compares between cells.
            ax.text(j, i, numfmt.plus_minus(c).replace(" ", "\n", 1), ha="center", va="center", fontsize=8,
                    color="black" if c["mean"] > mid else "white")
    ax.set_xticks(range(len(cols)), labels=cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), labels=rows, fontsize=8)
    ax.set_title(f"{report['env']}: {title}\n95% bootstrap CI half-width under each score", fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return True


def cells_csv(report: dict) -> str:
    """One row per cell (lineup and replicate): agents per side, mean side returns, metrics."""
    out = io.StringIO()
    sides = report["sides"]
    metric_names = sorted({k for c in report["cells"] for k in c["metrics"]})
    w = csv.writer(out)
    w.writerow(["tournament", "cell", "replicate", "match_seed", *[f"agent_{s}" for s in sides],
                *[f"return_{s}" for s in sides], *metric_names])
    for c in report["cells"]:
        w.writerow([report["id"], c["cell"], c["replicate"], c["match_seed"], *c["lineup"],
                    *[numfmt.float32_round(v) for v in c["side_returns"]],
                *[numfmt.float32_round(c["metrics"][k]) for k in metric_names]])
    return out.getvalue()


def _fmt(e: dict | None, unit: str = "episode") -> str:
    return numfmt.plus_minus(e, unit)


def _elo_interval(r: dict) -> str:
    if r["low"] is not None:
        return f"[{r['low']:.0f}, {r['high']:.0f}]"
    return "n/a: prior-dominated" if r["prior_dominated"] else f"n/a ({r['games']} games)"


def print_report(report: dict, console=None) -> None:
    """Terminal tables for every part of the report."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console()
    kw = ", ".join(f"{k}={v}" for k, v in report["env_kwargs"].items())
    mode = report["mode"]
    human = mode == "human"
    done = f"{report['cells_done']}/{report['cells_total']} {'games' if human else 'cells'}"
    status = "finished" if report["finished"] else done
    unit = (f"{report['seeds']} game(s) with each, player {report['human']['player']}" if human
            else f"{report['episodes']} episodes x {report['seeds']} seed(s) a cell")
    console.print(
        f"[bold]tournament {report['id']}[/bold] {mode} on {report['env']}{f' ({kw})' if kw else ''}: "
        f"{len(report['agents'])} agents, {unit}, seed {report['seed']}, {status}; "
        f"± = 95% bootstrap CI half-width (unit: {'game' if human else 'episode'})"
    )
    x = report[mode]

    def table(title, columns, rows):
        # The first column names the row (an agent): it is never cut; the others wrap.
        cols = [c if isinstance(c, Col) else Col(c, key=not i) for i, c in enumerate(columns)]
        print_table(cols, rows, title=title, console=console)

    def matrix(names, cells):
        """(column headers, row labels) over agents `names`: numbered when a name is wider than a cell."""
        return numbered(names, max((len(c) for line in cells for c in line), default=0))

    if mode == "selfplay":
        table("self-play", ["agent", "score", *[f"return {s}" for s in report["sides"]]],
              [[r["agent"], _fmt(r["score"]), *[_fmt(s) for s in r["sides"]]] for r in x["agents"]])
    if mode == "crossplay":
        cells = [[_fmt(c) for c in line] for line in x["matrix"]]
        heads, labels = matrix(x["agents_order"], cells)
        table("cross-play matrix J_XP (diagonal: self-play)", ["", *heads],
              [[labels[i], *line] for i, line in enumerate(cells)])
        best = max(x["per_agent"], key=lambda r: r["xp"]["mean"], default=None)
        poi = x["probability_of_improvement"].get(best["agent"], {}) if best else {}
        table("per agent", ["agent", "self-play", "mean XP (off-diagonal)", Col("XP IQM", drop=2),
                            Col("SP - XP gap", drop=1), Col(f"P({best['agent'] if best else '-'} > agent)", drop=3)],
              [[r["agent"], _fmt(r["sp"]), _fmt(r["xp"]), _fmt(r["xp_iqm"]), _fmt(r["gap"]),
                numfmt.sig(poi[r["agent"]]) if r["agent"] in poi else "-"] for r in x["per_agent"]])
    if mode == "zeroshot":
        for r in x["focal"]:
            flagged = f" (flagged, excluded from aggregates: {', '.join(r['flagged'])})" if r["flagged"] else ""
            ref_col = "self-play return" if x.get("reference") == "selfplay" else "best return"
            table(f"zero-shot: {r['agent']}{flagged}", ["partner", "J_XP", ref_col, "normalised", "not held out"],
                  [[p["partner"], _fmt(p["score"]), numfmt.sig(p["best_return"]),
                    numfmt.sig(p["normalised"]), p.get("leak") or ""]
                   for p in r["partners"]])
        table("zero-shot summary (held-out partners)", ["agent", "mean J_XP", "normalised IQM (over partners)"],
              [[r["agent"], _fmt(r.get("mean")), _fmt(r.get("normalised_iqm"), "partner")] for r in x["focal"]])
        missing = x.get("missing_reference")
        if missing:
            where = ("no self-play cell" if x.get("reference") == "selfplay"
                     else "no provenance.best_return in its manifest; --reference selfplay measures one")
            console.print(f"no reference return for {len(missing)} partner(s) ({', '.join(missing)}): {where}; "
                          "their normalised scores are '-'", soft_wrap=True, markup=False)
    if mode == "roundrobin":
        metric = next(iter(x["payoff"][0][0]["metrics"]), None) if x["payoff"] and x["payoff"][0][0] else None
        side0, side1 = report["sides"]
        cells = [["-" if c is None else " / ".join(
            [_fmt(c["returns"][0]), _fmt(c["returns"][1])] + ([_fmt(c["metrics"][metric])] if metric else []))
            for c in line] for line in x["payoff"]]
        heads, col_labels = matrix(x["cols"], cells)
        # A symmetric game has the same agents on rows and columns: the rows carry the numbering;
        # otherwise a legend under the table names the numbered columns.
        labels = col_labels if x["rows"] == x["cols"] else x["rows"]
        table(f"payoffs: return {side0} / return {side1}" + (f" / {metric}" if metric else "") + f" (rows {side0}, cols {side1})",
              ["", *heads], [[labels[i], *line] for i, line in enumerate(cells)])
        if labels is x["rows"] and heads != x["cols"]:
            console.print(Text("columns: " + ", ".join(col_labels)))
        console.print(f"an episode is won by: {x['win_rule']}", soft_wrap=True, markup=False)
        per_role = x.get("rated_per_role")
        table("ratings (Elo: Bradley-Terry MLE over all episodes, 95% bootstrap CI; Weng-Lin mu, sigma)"
              + ("; each role rated within itself, centred at 1500" if per_role else ""),
              ["agent", *(["role"] if per_role else []), "Elo", "Elo CI", Col("mu", drop=2), Col("sigma", drop=3),
               Col("ordinal", drop=1), "games"],
              [[r["agent"], *([r["role"]] if per_role else []), f"{r['elo']:.0f}", _elo_interval(r),
                numfmt.sig(r["mu"]), numfmt.sig(r["sigma"]), numfmt.sig(r["ordinal"]), str(r["games"])]
               for r in x["ratings"]])
        if x.get("prior_dominated"):
            which = "" if x["prior_dominated"] == ["all"] else f" ({', '.join(x['prior_dominated'])})"
            console.print(f"ratings{which} are prior-dominated: the results separate the agents perfectly (some never "
                          "lost to the others), so the maximum-likelihood Elo is infinite and the values shown are set "
                          "by the prior; no interval is given", soft_wrap=True, markup=False)
    if mode == "human":
        # In a cooperative game the agent's return is the player's: one column says it all.
        theirs = [] if report["cooperative"] else ["agent's return"]
        table(f"human series: {x['player']} on seat {x['seat']} ({x['side']}); agents shown by letter only",
              ["as", Col("agent", key=True), "games", "your return", *theirs, "rating 1-5 (n)", "reaction"],
              [[r["letter"] or "-", r["agent"], str(r["games"]), _fmt(r["human_return"], "game"),
                *([_fmt(r["agent_return"], "game")] if theirs else []),
                (f"{_fmt(r['rating'], 'game')} ({r['ratings']})" if r["rating"]["low"] is not None
                 else _fmt(r["rating"], "rating")) if r["rating"] else "-",
                "-" if r["reaction_ms"] is None else f"{r['reaction_ms']:.0f} ms"] for r in x["partners"]])
        table("games in play order", ["game", "as", Col("agent", key=True), "your return", *theirs, "rating"],
              [[str(g["game"]), g["letter"] or "-", g["agent"], f"{g['human_return']:+.2f}",
                *([f"{g['agent_return']:+.2f}"] if theirs else []), "-" if g["rating"] is None else str(g["rating"])]
               for g in x["games"]])
    if x.get("groups"):
        cols = sorted({k for g in x["groups"] for k in g if k not in ("group", "members")})
        table("seed groups (± = 95% bootstrap CI over training seeds)", ["group", "seeds", *cols],
              [[g["group"], str(g["members"]), *[_fmt(g.get(c), "seed") for c in cols]] for g in x["groups"]])


def pool_human(reports: list[dict], seed: int = 0) -> dict:
    """The human series of several players (each `build_report`'s, mode human) pooled per
    agent: the players' returns, the agent's, the 1-5 ratings (bootstrap CIs over all games),
    and how often each agent was met at each position of a round (the balance of the order)."""
    games: dict[str, list[dict]] = defaultdict(list)
    n = max((len(r["agents"]) for r in reports), default=0)
    positions: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for r in reports:
        for g in r["human"]["games"]:
            games[g["agent"]].append(g)
            positions[g["agent"]][(g["game"] - 1) % n] += 1
    rows = []
    for agent, mine in sorted(games.items()):
        ratings = np.array([g["rating"] for g in mine if g["rating"] is not None], float)
        reaction = [g["reaction_ms"] for g in mine if g["reaction_ms"] is not None]
        rows.append({
            "agent": agent, "games": len(mine), "players": sum(any(g["agent"] == agent for g in r["human"]["games"]) for r in reports),
            "human_return": _est(stats.bootstrap_ci(np.array([g["human_return"] for g in mine]), seed=seed)),
            "agent_return": _est(stats.bootstrap_ci(np.array([g["agent_return"] for g in mine]), seed=seed)),
            "rating": _est(stats.bootstrap_ci(ratings, seed=seed)) if ratings.size else None,
            "ratings": int(ratings.size),
            "reaction_ms": float(np.mean(reaction)) if reaction else None,
            "positions": positions[agent],
        })
    return {"players": len(reports), "games": sum(len(r["human"]["games"]) for r in reports), "agents": rows}
