"""Small inline SVG line plots of a replay's per-step numbers (extras, rewards), drawn in
Python: no JS library, nothing to fetch, readable with the page's text."""
from __future__ import annotations

import numpy as np
from markupsafe import Markup, escape

# Colour-blind-safe (Okabe-Ito), one per line; more lines than colours cycle.
COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
MAX_POINTS = 600  # a longer series is thinned to this many points (the plot is ~600 px wide)
# Extras that are distributions: plotted on [0, 1] whatever their values.
UNIT = ("probs", "routing", "belief")


def line_plot(title: str, series: list[tuple[str, np.ndarray]], *, y_range: tuple[float, float] | None = None,
              width: int = 640, height: int = 150) -> Markup:
    """An <svg> with one polyline per (label, values) over steps 0..T-1, its y range (the
    data's unless given), a legend."""
    left, right, top, bottom = 44, 8, 18, 34  # bottom: step numbers, then the legend
    w, h = width - left - right, height - top - bottom
    values = [np.asarray(v, dtype=float).reshape(-1) for _, v in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    lo, hi = y_range or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo)  # a line at the extremes stays off the frame

    def y(v):
        return top + h * (hi + pad - v) / (hi - lo + 2 * pad)

    steps = max((len(v) for v in values), default=1)
    parts = [f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="{left}" y="12" class="plot-title">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" class="plot-frame"/>',
             f'<text x="{left - 4}" y="{y(hi) + 4:.1f}" text-anchor="end">{_num(hi)}</text>',
             f'<text x="{left - 4}" y="{y(lo) + 4:.1f}" text-anchor="end">{_num(lo)}</text>',
             f'<text x="{left}" y="{top + h + 13}">0</text>',
             f'<text x="{left + w}" y="{top + h + 13}" text-anchor="end">step {steps - 1}</text>']
    legend_x = left
    for k, ((label, _), v) in enumerate(zip(series, values)):
        idx = np.arange(len(v))
        if len(v) > MAX_POINTS:
            idx = np.unique(np.linspace(0, len(v) - 1, MAX_POINTS).astype(int))
        xs = left + w * idx / max(steps - 1, 1)
        ys = y(np.nan_to_num(v[idx], nan=lo))
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        color = COLORS[k % len(COLORS)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5">'
                     f'<title>{escape(label)}</title></polyline>')
        short = label[:16]
        parts.append(f'<text x="{legend_x}" y="{height - 4}" fill="{color}">&#9473; {escape(short)}</text>')
        legend_x += 7 * len(short) + 28
    parts.append("</svg>")
    return Markup("".join(parts))


def _num(x: float) -> str:
    return f"{x:.3g}"


def trace_plots(trace) -> list[dict]:
    """Plots of one EpisodeTrace: per side and seat, each extra it emitted (one line per
    component, labelled from the manifest or the side's action names), then its rewards."""
    out = []
    for s, side in enumerate(trace.sides):
        extras = trace.extras[s] if s < len(trace.extras) else {}
        for k, seat in enumerate(side.seats):
            seat_name = trace.seats[seat] if seat < len(trace.seats) else str(seat)
            who = f"{side.name}: {side.agent}" if len(side.seats) == 1 else f"{side.name}, seat {seat_name}: {side.agent}"
            for name, arr in extras.items():
                x = np.asarray(arr)[:, k].reshape(arr.shape[0], -1)  # (T, components)
                labels = list((side.extras.get(name) or {}).get("labels") or [])
                if len(labels) != x.shape[1] and name in ("probs", "logits") and len(side.action_labels) == x.shape[1]:
                    labels = list(side.action_labels)
                if len(labels) != x.shape[1]:
                    labels = [name] if x.shape[1] == 1 else [f"{name}[{i}]" for i in range(x.shape[1])]
                out.append({"side": who, "name": name,
                            "svg": line_plot(f"{name}, {who}", [(str(lab), x[:, i]) for i, lab in enumerate(labels)],
                                             y_range=(0.0, 1.0) if name in UNIT else None)})
            rewards = np.asarray(trace.rewards)[:, seat]
            out.append({"side": who, "name": "reward", "svg": line_plot(f"reward, {who}", [("reward", rewards)])})
    return out
