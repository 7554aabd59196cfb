"""The calibration report's pictures: p(true) over the episode and the reliability diagram,
one PNG each with every believer of the report, drawn with matplotlib and written atomically."""
from __future__ import annotations

import io
from pathlib import Path

from arena.fileio import atomic_write

FILES = ("p_true.png", "reliability.png")


def _label(agent: dict) -> str:
    return f"{agent['agent']} ({agent['side']})"


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def write_calibration_pngs(report: dict, out_dir) -> list[Path]:
    """DIR/p_true.png (p(true) and argmax accuracy per step, 95% CI bands, chance at 1/K) and
    DIR/reliability.png (accuracy against confidence per bin, the diagonal is calibrated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    K = len(report["truth"]["labels"])
    where = f"{report['env']}, {report['episodes']} episodes"

    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for k, agent in enumerate(report["agents"]):
        color = f"C{k}"
        rows = agent["per_step"]
        x = [(r["steps"][0] + r["steps"][1] - 1) / 2 for r in rows]
        p = [r["p_true"] for r in rows]
        ax.plot(x, [e["mean"] for e in p], color=color, marker="o", ms=3, label=f"{_label(agent)}: p(true)")
        if all(e["low"] is not None for e in p):
            ax.fill_between(x, [e["low"] for e in p], [e["high"] for e in p], color=color, alpha=0.2, lw=0)
        ax.plot(x, [r["accuracy"]["mean"] for r in rows], color=color, ls="--", lw=1, label=f"{_label(agent)}: accuracy")
    ax.axhline(1 / K, color="grey", ls=":", lw=1, label=f"chance (1/{K})")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("step of the episode")
    ax.set_ylabel("probability on the true class")
    ax.set_title(f"belief on the truth: {where}; bands: 95% bootstrap CI over episodes", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    paths = [_save(fig, out_dir / FILES[0])]

    fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="calibrated")
    for k, agent in enumerate(report["agents"]):
        bins = [b for b in agent["reliability"] if b["items"]]
        total = sum(b["items"] for b in bins) or 1
        ece = agent["overall"]["ece"]["mean"]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], color=f"C{k}", lw=1)
        ax.scatter([b["confidence"] for b in bins], [b["accuracy"] for b in bins], color=f"C{k}",
                   s=[10 + 200 * b["items"] / total for b in bins], label=f"{_label(agent)}: ECE {ece:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"confidence (max probability), {report['bins']} bins")
    ax.set_ylabel("accuracy (argmax is the truth)")
    ax.set_title(f"reliability, every live step: {where}\n(marker area: share of the items)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    paths.append(_save(fig, out_dir / FILES[1]))
    return paths
