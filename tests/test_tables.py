"""Tables in 80 and 120 columns: the column that names a row is never cut, the others wrap or
are hidden (and said to be), and no line is wider than the terminal."""
import io

import pytest
from click.testing import CliRunner
from rich.console import Console

from arena.cli import cli
from arena.tables import Col, fit_widths

WIDTHS = (80, 120)


def _check_fits(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= width, text
    return lines


def _cells(lines: list[str]) -> set[str]:
    """Every table cell's text, line by line."""
    return {c.strip() for line in lines for c in line.replace("┃", "│").split("│")}


def test_fit_widths_keeps_keys_whole_and_drops_by_priority():
    cols = [Col("id", key=True), Col("a b"), Col("extra", drop=1), Col("more", drop=2)]
    rows = [["x" * 30, "one two three", "e" * 12, "m" * 12]]
    # Everything fits: each column its longest line.
    assert fit_widths(cols, rows, 120) == ([0, 1, 2, 3], [30, 13, 12, 12])
    # 60 cells: borders 5 + padding 8 leave 47; minimums 30+5+12+12 = 59: "more" goes, then "extra".
    shown, widths = fit_widths(cols, rows, 60)
    assert shown == [0, 1, 2] and widths[0] == 30 and sum(widths) <= 60 - 4 - 6
    shown, widths = fit_widths(cols, rows, 46)
    assert shown == [0, 1] and widths == [30, 9]  # room 46 - 3 - 4 = 39: "a b" wraps to 9
    # Nothing left to drop: the non-key column folds, the key stays whole.
    shown, widths = fit_widths(cols, rows, 40)
    assert shown == [0, 1] and widths[0] == 30 and widths[1] == 4


@pytest.mark.parametrize("width", WIDTHS)
def test_envs_shows_every_id_whole(width):
    from arena.envs import registered_ids

    out = CliRunner().invoke(cli, ["envs"], env={"COLUMNS": str(width)})
    assert out.exit_code == 0, out.output
    cells = _cells(_check_fits(out.output, width))
    assert set(registered_ids()) <= cells
    assert any(i.startswith("overcooked_v2/asymm_advantages_recipes_") for i in cells)
    if width == 80:
        assert "hid " in out.output  # what did not fit is said, not silently gone


@pytest.mark.parametrize("width", WIDTHS)
def test_archs_shows_every_config_field_name(width):
    from arena.agent import config_fields, registered_archs

    out = CliRunner().invoke(cli, ["archs"], env={"COLUMNS": str(width)})
    assert out.exit_code == 0, out.output
    text = "\n".join(_check_fits(out.output, width))
    for key, cls in registered_archs().items():
        assert f"│ {key} " in text
        for name, _, _ in config_fields(cls):
            assert f"│ {name}=" in text, (key, name)


@pytest.fixture(scope="module")
def seeds_crossplay(tmp_path_factory):
    """Three agents whose names differ only in their last characters, as training seeds do."""
    from arena.checkpoint import new_agent, save_checkpoint
    from arena.tournaments.spec import make_spec
    from arena.tournaments.tournament import run_tournament

    folder = tmp_path_factory.mktemp("seeds")
    refs = []
    for seed, action in enumerate((0, 1, 0)):
        name = f"coord-constant-action-seed{seed}"
        manifest, params = new_agent("scripted", "coord_game", config={"rule": "constant", "action": action}, name=name)
        save_checkpoint(folder / f"{name}.ckpt", manifest, params)
        refs.append(str(folder / f"{name}.ckpt"))
    spec = make_spec("crossplay", refs, env_kwargs={"rounds": 1}, episodes=4)
    report, _ = run_tournament(spec, db=str(folder / "t.sqlite"), progress=False)
    return report


@pytest.mark.parametrize("width", WIDTHS)
def test_crossplay_report_tells_seeds_apart(seeds_crossplay, width):
    from arena.tournaments.report import print_report

    buf = io.StringIO()
    print_report(seeds_crossplay, console=Console(width=width, file=buf))
    lines = _check_fits(buf.getvalue(), width)
    cells = _cells(lines)
    names = [f"coord-constant-action-seed{i}" for i in range(3)]
    # The matrix numbers its columns and names its rows; the per-agent table names its rows.
    for i, name in enumerate(names):
        assert f"#{i + 1} {name}" in cells and name in cells
    assert {"#1", "#2", "#3"} <= cells
