"""Tournaments read back from the store: no agent is loaded and nothing imports jax, so
`arena tournament list` and `show` answer at once."""
from __future__ import annotations

from arena.tournaments.report import build_report
from arena.tournaments.store import Store


def show_tournament(ref: str, db: str | None = None) -> dict:
    """The report of a stored tournament (id or unique prefix), from the store alone."""
    store = Store(db)
    try:
        t = store.tournament(ref)
        return build_report(t, store.cells(t["id"]))
    finally:
        store.close()


def list_tournaments(db: str | None = None) -> list[dict]:
    store = Store(db)
    try:
        return store.list_tournaments()
    finally:
        store.close()
