"""Terminal tables that fit the terminal without cutting what identifies a row.

rich shrinks every column of a too-wide table and cuts cells with an ellipsis, so in 80
columns every `overcooked_v2/...` id looked the same. Here widths are chosen before rich
sees the table: a key column (the env id, the agent, the arch) keeps its whole width, other
columns wrap at spaces and fold (never cut) words longer than their width, and when even
their narrowest widths do not fit, the columns marked droppable go first (highest `drop`
first) and the table says which it hid. Matrices whose column headers are agent names number
the agents instead (`#1`, `#2`, ...) and keep the names in the row labels.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

# A header word longer than this folds rather than widen its column; no column folds below
# FOLD_FLOOR cells.
HEADER_FOLD = 10
FOLD_FLOOR = 4


@dataclasses.dataclass(frozen=True)
class Col:
    """One column of a `Table`."""

    header: str
    # The row's identity (an id, a name): never wrapped, folded or cut.
    key: bool = False
    # 0 never dropped; otherwise dropped when the table does not fit, highest first.
    drop: int = 0
    justify: str = "left"


def _lines(text: str) -> list[str]:
    return text.splitlines() or [""]


def _natural(texts: Sequence[str]) -> int:
    """Width with no wrapping: the longest line."""
    from rich.cells import cell_len

    return max((cell_len(line) for t in texts for line in _lines(t)), default=0)


def _narrowest(texts: Sequence[str]) -> int:
    """Width when wrapping at spaces: the longest word."""
    from rich.cells import cell_len

    return max((cell_len(w) for t in texts for w in t.split()), default=0)


def fit_widths(cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> tuple[list[int], list[int]]:
    """(indices of the columns shown, their content widths) for a table `width` cells wide.

    A key column needs its longest cell line; any other column can go down to its longest
    word (a header word longer than HEADER_FOLD folds). Space beyond the minimums goes to the
    columns that would wrap, in proportion to what they lack. When the droppable columns are
    gone and it still does not fit, the other columns fold below their longest word; the key
    columns never do.
    """
    shown = list(range(len(cols)))
    natural = {i: _natural([cols[i].header, *(r[i] for r in rows)]) for i in shown}
    minimum = {
        i: max(min(_narrowest([cols[i].header]), HEADER_FOLD),
               _natural([r[i] for r in rows]) if cols[i].key else _narrowest([r[i] for r in rows]), 1)
        for i in shown
    }

    def room() -> int:  # content width left after borders (n + 1) and padding (2 per column)
        return width - (len(shown) + 1) - 2 * len(shown)

    droppable = sorted((i for i in shown if cols[i].drop), key=lambda i: (-cols[i].drop, -i))
    while sum(minimum[i] for i in shown) > room() and droppable:
        shown.remove(droppable.pop(0))
    if sum(natural[i] for i in shown) <= room():
        return shown, [natural[i] for i in shown]
    over = sum(minimum[i] for i in shown) - room()
    if over > 0:  # fold the others, in proportion to their width, down to FOLD_FLOOR cells
        others = [i for i in shown if not cols[i].key]
        total = sum(minimum[i] for i in others) or 1
        for i in others:
            minimum[i] = max(FOLD_FLOOR, minimum[i] - -(-over * minimum[i] // total))
        return shown, [minimum[i] for i in shown]
    # Cells unwrapped come before headers unwrapped: grow to the first target, then the next.
    cells = {i: max(minimum[i], _natural([r[i] for r in rows])) for i in shown}
    widths = {i: minimum[i] for i in shown}
    for target in (cells, natural):
        spare = room() - sum(widths.values())
        lack = {i: max(target[i] - widths[i], 0) for i in shown}
        if sum(lack.values()) <= spare:
            widths = {i: widths[i] + lack[i] for i in shown}
            continue
        total = sum(lack.values())
        grown = {i: widths[i] + spare * lack[i] // total for i in shown}
        # Integer division leaves a few cells: give them to the columns that still lack most.
        left = room() - sum(grown.values())
        for i in sorted(shown, key=lambda i: grown[i] - target[i])[:left]:
            grown[i] += 1 if grown[i] < target[i] else 0
        return shown, [grown[i] for i in shown]
    return shown, [widths[i] for i in shown]


def print_table(cols: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None = None,
                console=None) -> list[str]:
    """Print `rows` under `cols` to fit `console` (a rich Console; stdout's by default);
    returns the headers of the columns it had to hide."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    rows = [[str(c) for c in r] for r in rows]
    shown, widths = fit_widths(cols, rows, console.width)
    table = Table(title=title, title_justify="left")
    for i, w in zip(shown, widths):
        # Cells are Text, never markup: "[0.25, 0.75]" or a name in brackets prints as it is.
        table.add_column(Text(cols[i].header), width=w, overflow="fold", no_wrap=cols[i].key,
                         justify=cols[i].justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(*(Text(r[i]) for i in shown))
    console.print(table)
    hidden = [cols[i].header for i in range(len(cols)) if i not in shown]
    if hidden:
        console.print(Text(f"({console.width} columns: hid {', '.join(hidden)}; a wider terminal or --json shows all)"))
    return hidden


def numbered(names: Sequence[str], cell_width: int) -> tuple[list[str], list[str]]:
    """(column headers, row labels) of a matrix over agents `names`: the names themselves
    when none is wider than the cells under it, else `#1`, `#2`, ... with rows `#1 name`."""
    if max((len(n) for n in names), default=0) <= cell_width:
        return list(names), list(names)
    tags = [f"#{i + 1}" for i in range(len(names))]
    return tags, [f"{t} {n}" for t, n in zip(tags, names)]
