"""What planning costs: belief_planner beside the reactive predator it plans with.

On mpe_tag_intent (25-step episodes), for each batch of episodes: one decision of the three
predators (a jitted `act` on one episode's state: the latency of a live or human game), and a
whole match through the runner (`compiled_match`), per episode and per decision, for the
planner and for its base predator alone. A decision of the planner rolls 3 x 5 x K x H env
steps. Compile times are printed apart. Without checkpoints the policies are random-init
mlp_actor_critic (cost does not depend on their weights) and the belief is flat; give
--prey/--predators (and --encoder) to time trained ones.

    python benchmarks/planner_cost.py [--episodes 1 64 256] [--rollouts 5] [--horizon 3] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile

import jax
from match_throughput import timed  # this folder's: scripts run with it on sys.path

from arena.agent import World
from arena.agents.planner import build
from arena.checkpoint import load_agent, new_agent, save_checkpoint
from arena.envs import make
from arena.keys import match_key
from arena.runner import compiled_match

ENV_ID = "mpe_tag_intent"


def checkpoints(args, folder) -> tuple[str, str, str | None]:
    """(prey, predators, encoder) checkpoint paths: given, or random-init ones written here."""
    paths = {}
    for side, given in (("prey", args.prey), ("predators", args.predators)):
        if given:
            paths[side] = given
        else:
            manifest, params = new_agent("mlp_actor_critic", ENV_ID, side=side, name=f"random-{side}")
            paths[side] = f"{folder}/{side}.ckpt"
            save_checkpoint(paths[side], manifest, params)
    return paths["prey"], paths["predators"], args.encoder


def decision_seconds(env, agent, params, repeats: int) -> float:
    """One decision of the predator side on one episode's state, jitted."""
    state, ts = env.reset(jax.random.PRNGKey(0))
    side = env.spec.sides[0]
    obs = ts.obs[side.team]
    carry = agent.init_carry(params, len(side.seats))
    extra = (World(env, state, env.default_params, side.seats),) if agent.privileged else ()
    fn = jax.jit(lambda p, c, o, k: agent.act(p, c, o, k, *extra)[1])
    return timed(fn, params, carry, obs, jax.random.PRNGKey(1), repeats=repeats)


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--rollouts", type=int, default=5, help="K rollouts per candidate (the seed's 5)")
    parser.add_argument("--horizon", type=int, default=3, help="H steps per rollout (the seed's 3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prey", default=None, help="prey checkpoint (default: random-init mlp)")
    parser.add_argument("--predators", default=None, help="base predator checkpoint (default: random-init mlp)")
    parser.add_argument("--encoder", default=None, help="belief encoder checkpoint (default: flat belief)")
    args = parser.parse_args()

    env = make(ENV_ID)
    steps = env.spec.max_steps
    with tempfile.TemporaryDirectory() as folder:
        prey_path, pred_path, enc_path = checkpoints(args, folder)
        manifest, params = build(prey=prey_path, predators=pred_path, encoder=enc_path, rollouts=args.rollouts,
                                 horizon=args.horizon)
        save_checkpoint(f"{folder}/planner.ckpt", manifest, params)
        planner, prey, base = (load_agent(p) for p in (f"{folder}/planner.ckpt", prey_path, pred_path))
    belief = planner.agent.config.belief
    print(f"{ENV_ID}: {steps} steps an episode; planner K={args.rollouts} H={args.horizon} ({belief} belief): "
          f"{3 * 5 * args.rollouts * args.horizon} rollout env steps a decision")
    rows = []
    for name, pred in (("reactive", base), ("planner", planner)):
        one = decision_seconds(env, pred.agent, pred.params, args.repeats)
        print(f"  {name:<9} one decision (3 predators, 1 episode, jitted act): {one * 1e3:8.2f} ms")
        for episodes in args.episodes:
            agents, params = (pred.agent, prey.agent), (pred.params, prey.params)
            compiled, _ = compiled_match(env, agents, params, episodes)
            seconds = timed(compiled.fn, params, match_key(0), env.default_params, repeats=args.repeats)
            rows.append((name, episodes, seconds, compiled.compile_seconds))
    print(f"  {'agent':<9} {'episodes':>8} {'ms/episode':>11} {'ms/decision':>12} {'steps/s':>12} {'compile s':>10}")
    for name, episodes, seconds, compile_s in rows:
        print(f"  {name:<9} {episodes:>8} {seconds / episodes * 1e3:>11.3f} {seconds / (episodes * steps) * 1e3:>12.4f} "
              f"{episodes * steps / seconds:>12,.0f} {compile_s:>10.1f}")
    for episodes in args.episodes:
        r, p = (next(row[2] for row in rows if row[0] == n and row[1] == episodes) for n in ("reactive", "planner"))
        print(f"  {episodes} episodes: the planner costs {p / r:,.0f}x the reactive predator")


if __name__ == "__main__":
    main()
