"""Training curves (X.curves.png), drawn by real matplotlib and checked on the rendered
pixels: the title clears the first panel, a one-update run draws a mark in every panel, and
expert usage is one stacked panel in which a collapse of the routing onto one expert shows."""
from __future__ import annotations

import numpy as np
import pytest

from arena.agents.trainers.runfiles import curve_panels, curves_figure, plot_curves

EXPERTS = 4
KEYS = ("return", "agreement", "action_entropy", "routing_entropy", *(f"expert_usage/{i}" for i in range(EXPERTS)))
CYCLE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]  # matplotlib's C0..C3


def iop_rows(n: int) -> list[dict]:
    """Metric rows as the IOP trainer logs them; the routing collapses onto expert 0."""
    rows = []
    for u in range(1, n + 1):
        f = u / n
        usage = np.array([0.25 + 0.7 * f, 0.25 - 0.25 * f, 0.25 - 0.22 * f, 0.25 - 0.23 * f]) + 0.01
        usage /= usage.sum()
        rows.append({"update": u, "env_steps": 2048 * u, "return": f, "agreement": 0.5 + 0.4 * f,
                     "action_entropy": 0.69 - 0.4 * f, "routing_entropy": 1.38 - f,
                     **{f"expert_usage/{i}": float(usage[i]) for i in range(EXPERTS)}})
    return rows


def rendered(fig):
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    return img, fig.canvas.get_renderer()


def inside(img, ax):
    """The pixels of `ax`'s plotting area (display coordinates have y up; images y down)."""
    b = ax.get_window_extent()
    H = img.shape[0]
    return img[int(H - b.y1) + 2:int(H - b.y0) - 2, int(b.x0) + 2:int(b.x1) - 2]


def is_color(region, color) -> np.ndarray:
    return np.abs(region - np.array(color)).sum(-1) < 40


def share_of(region, color) -> float:
    return float(is_color(region, color).mean())


def column(img, ax, x) -> np.ndarray:
    """The plotting area's pixels at data x (one pixel wide)."""
    b = ax.get_window_extent()
    px = int(ax.transData.transform((x, 0))[0])
    H = img.shape[0]
    return img[int(H - b.y1) + 2:int(H - b.y0) - 2, px:px + 1]


def test_title_clears_the_first_panel():
    import matplotlib.pyplot as plt

    fig = curves_figure(iop_rows(30), KEYS, "IOP (softmoe_gru) on overcooked_v2/cramped_room, seed 0")
    _, renderer = rendered(fig)
    title = fig._suptitle.get_window_extent(renderer)
    first = fig.axes[0].get_tightbbox(renderer)  # with its tick labels
    assert title.y0 >= first.y1, (title, first)
    plt.close(fig)


@pytest.mark.parametrize("updates", [1, 2])
def test_few_updates_still_draw_every_panel(updates, tmp_path):
    import matplotlib.pyplot as plt

    out = tmp_path / "X.curves.png"
    plot_curves(out, iop_rows(updates), KEYS, "IPPO on coord_game")
    assert out.read_bytes()[:4] == b"\x89PNG"
    fig = curves_figure(iop_rows(updates), KEYS, "IPPO on coord_game")
    img, _ = rendered(fig)
    *lines, usage = fig.axes
    for ax in lines:
        assert is_color(inside(img, ax), CYCLE[0]).sum() >= 10, f"{ax.get_ylabel()}: nothing drawn"
    for color in CYCLE:
        assert share_of(inside(img, usage), color) > 0.001
    plt.close(fig)


def test_expert_usage_is_one_stacked_panel_that_shows_the_collapse():
    import matplotlib.pyplot as plt

    assert curve_panels(KEYS) == [("return", ["return"]), ("agreement", ["agreement"]),
                                  ("action_entropy", ["action_entropy"]), ("routing_entropy", ["routing_entropy"]),
                                  ("expert_usage", [f"expert_usage/{i}" for i in range(EXPERTS)])]
    rows = iop_rows(40)
    fig = curves_figure(rows, KEYS, "IOP")
    assert len(fig.axes) == 5
    usage = fig.axes[-1]
    assert usage.get_ylim() == (0.0, 1.0) and usage.get_ylabel() == "expert_usage"
    img, _ = rendered(fig)
    start, end = column(img, usage, rows[0]["env_steps"] + 1000), column(img, usage, rows[-1]["env_steps"] - 1000)
    # At the start the four experts share the panel's height; at the end expert 0 fills most of it.
    assert all(0.15 < share_of(start, c) < 0.35 for c in CYCLE)
    assert share_of(end, CYCLE[0]) > 0.8 and all(share_of(end, c) < 0.1 for c in CYCLE[1:])
    plt.close(fig)
