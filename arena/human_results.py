"""`human_games.csv` in `arena.paths.data_dir()`: one row per human game, whoever played it
(`arena play`, a human series). Pure Python: read and written without a window.

A row holds RESULTS_COLUMNS. In memory `complete` is a bool and numbers are numbers; lists and
dicts (env_kwargs, agents, returns, metrics) are JSON text, as in the file. `replay` is an
absolute path, so the row finds its replay from any working directory.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from arena.paths import data_dir

RESULTS_FILE = "human_games.csv"
RESULTS_COLUMNS = ("finished_utc", "env", "env_kwargs", "seed", "human_seat", "agents", "steps", "complete",
                   "human_return", "returns", "metrics", "mean_reaction_ms", "replay")


def results_path() -> Path:
    return data_dir() / RESULTS_FILE


def append_result(row: dict) -> Path:
    """Append one row (header on first write); the file's path. Append-only: a whole line per
    write, fsync'd, so a crash can at worst lose the row being written."""
    replay = str(row.get("replay", ""))
    if replay and not os.path.isabs(replay):
        raise ValueError(f"human_games.csv holds absolute replay paths, got {replay!r}")
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RESULTS_COLUMNS, lineterminator="\n")
    # The umask decides the mode, as for every other file arena writes.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_size == 0:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in RESULTS_COLUMNS})
        os.write(fd, buf.getvalue().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_results() -> list[dict]:
    """Every row so far, as the file holds them (all values text)."""
    path = results_path()
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
