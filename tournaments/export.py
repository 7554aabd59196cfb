"""Per-episode export of a stored tournament: one CSV row per episode of every cell, so a user
can run their own statistics on what arena's tables summarise (numpy only, no jax)."""
from __future__ import annotations

import csv
import io

from arena.numfmt import float32_round
from arena.tournaments.report import display_names
from arena.tournaments.spec import HUMAN
from arena.tournaments.store import Store


def episodes_csv(t: dict, cells) -> str:
    """Rows: tournament, cell, replicate, match_seed, the agent on each side (the seat order),
    episode (its index in the match: its key is fold_in(PRNGKey(match_seed), episode)),
    length, the return of every seat, then every metric. t: Store.tournament; cells: Store.cells."""
    info = t["env_info"]
    names = display_names(t["agents"])
    sides = [s["name"] for s in info["sides"]]
    n_seats = max((c.returns.shape[1] for c in cells), default=0)
    seats = info.get("seats") or [f"seat{k}" for k in range(n_seats)]  # tournaments stored before seats were
    metric_names = sorted({k for c in cells for k in c.metrics})
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["tournament", "cell", "replicate", "match_seed", *[f"agent_{s}" for s in sides], "episode", "length",
                *[f"return_{s}" for s in seats], *metric_names])
    for c in sorted(cells, key=lambda c: c.index):
        lineup = ["human" if i == HUMAN else names[i] for i in c.lineup]
        for e in range(c.returns.shape[0]):
            w.writerow([t["id"], c.index, c.replicate, c.match_seed, *lineup, e, int(c.length[e]),
                        *[float32_round(float(v)) for v in c.returns[e]],
                        *[float32_round(float(c.metrics[k][e])) if k in c.metrics else "" for k in metric_names]])
    return out.getvalue()


def export_episodes(ref: str, db: str | None = None) -> tuple[str, int, str]:
    """(tournament id, episodes, CSV text) of a stored tournament (id or unique prefix)."""
    store = Store(db)
    try:
        t = store.tournament(ref)
        cells = store.cells(t["id"])
    finally:
        store.close()
    return t["id"], sum(c.returns.shape[0] for c in cells), episodes_csv(t, cells)
