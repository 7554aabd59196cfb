"""Ladder efficiency: episodes a ladder needs before its ranking agrees with the exhaustive one,
match-making by information (arena.tournaments.matchmaking) against uniform random pairing.

IPD agents of known strength: the scripted always_defect and always_cooperate, the uniform
random agent, and mlp_actor_critic agents whose policy is a fixed defection probability (zero
actor kernel, logit bias). The side that defects more scores more, so strength is the
defection rate. tit_for_tat is left out by default (--scripted adds it): it never wins (it
draws or loses by its last move), so Bradley–Terry on a balanced design ranks it above agents
that beat it head-to-head, and a ladder, which plays close pairs more, keeps disagreeing.

One exhaustive round-robin (the code of `arena tournament --mode roundrobin`: every pair, both
seat orders, --bank episodes a cell) is the bank; the reference ranking is Bradley–Terry on the
whole bank. The ladder is then simulated: each round a policy picks pairs, each match draws its
episodes from that pair's bank (without replacement, cycling), BT is refitted and Kendall's tau
against the reference recorded; averaged over seeds.

Prints the reference ratings, the episodes each policy needs to reach tau >= 0.9 (first round
at which the seed-averaged curve reaches it, and the median over seeds), their ratio (goal:
<= 0.5), the same at 0.95; with --out FILE.png, both curves.

    python benchmarks/ladder_efficiency.py [--rounds 10] [--bank 256] [--per-match 4] [--pairs 2]
                                           [--seeds 20] [--out ladder.png]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from arena.tournaments.matchmaking import MatchmakingConfig, describe, laplace_covariance, next_pairs, random_pairs
from arena.tournaments.ratings import ELO_SCALE, bradley_terry

# name -> (arch, config) of the agents without weights that may take part.
SCRIPTED = {"always_defect": ("scripted", {"rule": "always_defect"}),
            "always_cooperate": ("scripted", {"rule": "always_cooperate"}),
            "random": ("random", {}),
            "tit_for_tat": ("scripted", {"rule": "tit_for_tat"})}
DEFAULT_SCRIPTED = ("always_defect", "always_cooperate", "random")
DEFECT_PROBS = (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95)
TARGET = 0.9


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties in either ranking allowed); 0 when either is all ties."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(len(x), 1)
    dx, dy = dx[iu], dy[iu]
    denom = math.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float(np.sum(dx * dy) / denom) if denom else 0.0


def make_agents(folder: Path, env_kwargs: dict, scripted=DEFAULT_SCRIPTED, defect_probs=DEFECT_PROBS) -> list[str]:
    """Checkpoints of the scripted agents and the fixed-defection-rate MLP agents."""
    import jax

    from arena.checkpoint import new_agent, save_checkpoint

    refs = []
    for name in scripted:
        arch, config = SCRIPTED[name]
        manifest, params = new_agent(arch, "ipd", config=config, name=name, env_kwargs=env_kwargs)
        save_checkpoint(folder / f"{name}.ckpt", manifest, params)
        refs.append(str(folder / f"{name}.ckpt"))
    for p in defect_probs:
        name = f"defect-{p:.2f}"
        manifest, params = new_agent("mlp_actor_critic", "ipd", config={"hidden": [8]}, name=name, env_kwargs=env_kwargs)
        actor = params["params"]["Dense_1"]  # the logits layer of a one-hidden-layer actor
        actor["kernel"] = jax.numpy.zeros_like(actor["kernel"])
        actor["bias"] = jax.numpy.array([0.0, math.log(p / (1 - p))], actor["bias"].dtype)
        save_checkpoint(folder / f"{name}.ckpt", manifest, params)
        refs.append(str(folder / f"{name}.ckpt"))
    return refs


def play_bank(refs: list[str], env_kwargs: dict, episodes: int, db: Path) -> tuple[list[str], dict]:
    """The round-robin (every pair, both seat orders): per pair (i < j), i's outcomes (2E,)."""
    from arena.tournaments.spec import make_spec
    from arena.tournaments.store import Store
    from arena.tournaments.tournament import run_tournament

    n = len(refs)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    spec = make_spec("roundrobin", refs, env="ipd", env_kwargs=env_kwargs, episodes=episodes, pairs=pairs)
    report, info = run_tournament(spec, db=str(db))
    print(f"bank: {info.cells_total} cells x {episodes} episodes, {info.compiles} compilations "
          f"({info.compile_seconds:.1f}s), compute {info.compute_seconds:.1f}s, wall {info.wall_seconds:.1f}s")
    store = Store(db)
    try:
        cells = store.cells(info.id)
    finally:
        store.close()
    bank: dict[tuple[int, int], list[np.ndarray]] = {p: [] for p in pairs}
    for c in cells:
        a, b = c.lineup  # a on side 0 (seat row), b on side 1 (seat col)
        won = np.where(c.returns[:, 0] > c.returns[:, 1], 1.0, np.where(c.returns[:, 0] == c.returns[:, 1], 0.5, 0.0))
        bank[(a, b) if a < b else (b, a)].append(won if a < b else 1.0 - won)
    names = [a["name"] for a in report["agents"]]
    return names, {p: np.concatenate(v) for p, v in bank.items()}


def bank_wins(bank: dict, n: int) -> np.ndarray:
    w = np.zeros((n, n))
    for (i, j), out in bank.items():
        w[i, j] += out.sum()
        w[j, i] += out.size - out.sum()
    return w


def simulate(bank: dict, n: int, reference: np.ndarray, policy: str, seed: int, rounds: int,
             cfg: MatchmakingConfig, per_match: int) -> np.ndarray:
    """Kendall tau vs the reference after each round of a ladder run by `policy`."""
    rng = np.random.default_rng(seed)
    order = {p: rng.permutation(out.size) for p, out in bank.items()}
    cursor = dict.fromkeys(bank, 0)
    wins = np.zeros((n, n))
    recent: list = []
    keep = max(cfg.recent_window, cfg.floor)
    taus = np.zeros(rounds)
    for t in range(rounds):
        if policy == "matchmaking":
            pairs = next_pairs(n, wins, recent, cfg, rng)
        else:
            pairs = random_pairs(n, cfg.pairs_per_round, rng)
        for i, j in pairs:
            key = (min(i, j), max(i, j))
            out = bank[key]
            idx = order[key][(cursor[key] + np.arange(per_match)) % out.size]  # cycles when exhausted
            cursor[key] += per_match
            won = out[idx].sum() if key == (i, j) else per_match - out[idx].sum()
            wins[i, j] += won
            wins[j, i] += per_match - won
        recent = (recent + [pairs])[-keep:]
        taus[t] = kendall_tau(bradley_terry(wins, l2=cfg.l2), reference)
    return taus


def first_reach(curve: np.ndarray, target: float) -> int | None:
    hit = np.flatnonzero(curve >= target)
    return int(hit[0]) if hit.size else None


def reach_report(curves: dict, episodes: np.ndarray, target: float, seeds: int) -> dict:
    """Per policy: episodes at which the mean curve first reaches `target` (None: never)."""
    needed = {}
    for policy, runs in curves.items():
        hit = first_reach(runs.mean(axis=0), target)
        reached = [episodes[h] for h in (first_reach(r, target) for r in runs) if h is not None]
        needed[policy] = int(episodes[hit]) if hit is not None else None
        median = f"{np.median(reached):.0f}" if reached else "-"
        print(f"  {policy:>12s}: tau >= {target} after {needed[policy] or f'> {episodes[-1]}'} episodes "
              f"(per-seed median {median}, {len(reached)}/{seeds} seeds reach it)")
    if needed["matchmaking"] and needed["random"]:
        ratio = needed["matchmaking"] / needed["random"]
        print(f"  ratio matchmaking / random = {ratio:.2f}" + (f" (goal <= 0.5: {'met' if ratio <= 0.5 else 'not met'})"
                                                             if target == TARGET else ""))
    return needed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="IPD rounds an episode (fewer: noisier outcomes)")
    parser.add_argument("--bank", type=int, default=256, help="episodes a round-robin cell (each seat order)")
    parser.add_argument("--scripted", default=",".join(DEFAULT_SCRIPTED), help=f"from {', '.join(SCRIPTED)}")
    parser.add_argument("--defect-probs", default=",".join(map(str, DEFECT_PROBS)), help="fixed-policy agents")
    parser.add_argument("--per-match", type=int, default=4, help="episodes a ladder match plays")
    parser.add_argument("--pairs", type=int, default=2, help="matches a ladder round")
    parser.add_argument("--floor", type=int, default=None,
                        help="every agent plays at least every FLOOR rounds (default: forced slots <= 1/3 of a round)")
    parser.add_argument("--ladder-rounds", type=int, default=80)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", default=None, help="write both curves to this .png")
    args = parser.parse_args()

    start = time.perf_counter()
    env_kwargs = {"rounds": args.rounds}
    tmp = Path(tempfile.mkdtemp(prefix="arena-ladder-bench-"))
    scripted = tuple(x for x in args.scripted.split(",") if x)
    probs = tuple(float(x) for x in args.defect_probs.split(",") if x)
    refs = make_agents(tmp, env_kwargs, scripted, probs)
    names, bank = play_bank(refs, env_kwargs, args.bank, tmp / "bank.sqlite")
    n = len(names)
    # A floor that forces about n / floor agents a round must leave most of the round's 2 * pairs
    # slots to the information score, or it becomes a round-robin rotation.
    floor = args.floor if args.floor is not None else math.ceil(3 * n / (2 * args.pairs))
    cfg = MatchmakingConfig(pairs_per_round=args.pairs, newcomer_games=2 * args.per_match, newcomer_boost=2.0,
                            repeat_penalty=0.5, recent_window=3, l2=0.01, floor=floor, match_games=args.per_match)

    full = bank_wins(bank, n)
    reference = bradley_terry(full, l2=cfg.l2)
    cov = laplace_covariance(full, reference, cfg.l2)
    print(f"{n} IPD agents ({args.rounds} rounds an episode); reference = Bradley–Terry on the whole bank "
          f"({int(full.sum())} episodes), Elo +- SE, gap to the next in SE of the difference:")
    rank = np.argsort(-reference)
    for a, b in zip(rank, [*rank[1:], None]):
        gap = "" if b is None else f"   gap {(reference[a] - reference[b]) / math.sqrt(cov[a, a] + cov[b, b] - 2 * cov[a, b]):5.1f} SE"
        print(f"  {names[a]:>18s}  {1500 + ELO_SCALE * reference[a]:7.1f} +- {ELO_SCALE * math.sqrt(cov[a, a]):4.1f}{gap}")
    close = [(names[a], names[b]) for a, b in zip(rank, rank[1:])
             if reference[a] - reference[b] < 2 * math.sqrt(cov[a, a] + cov[b, b] - 2 * cov[a, b])]
    print("  every adjacent gap > 2 SE: the reference ranking has no ties" if not close else
          "  close in the reference (< 2 SE; pick agents whose strengths differ more): " + ", ".join(f"{a}/{b}" for a, b in close))
    print(f"ladder: {args.pairs} matches x {args.per_match} episodes a round, {args.ladder_rounds} rounds, {args.seeds} seeds")
    print(f"policy: {describe(cfg)}")

    curves = {policy: np.array([simulate(bank, n, reference, policy, s, args.ladder_rounds, cfg, args.per_match)
                                for s in range(args.seeds)]) for policy in ("matchmaking", "random")}
    episodes = args.pairs * args.per_match * (1 + np.arange(args.ladder_rounds))
    for target in (TARGET, 0.95):
        reach_report(curves, episodes, target, args.seeds)
    print("  final mean tau: " + ", ".join(f"{p} {runs[:, -1].mean():.3f}" for p, runs in curves.items()))
    print(f"total wall {time.perf_counter() - start:.1f}s")

    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for policy, runs in curves.items():
            mean = runs.mean(axis=0)
            lo, hi = np.quantile(runs, [0.25, 0.75], axis=0)
            ax.plot(episodes, mean, label=policy)
            ax.fill_between(episodes, lo, hi, alpha=0.2)
        ax.axhline(TARGET, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("ladder episodes played")
        ax.set_ylabel("Kendall tau vs exhaustive round-robin")
        ax.set_title(f"{n} IPD agents, {args.seeds} seeds (mean, interquartile band)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
