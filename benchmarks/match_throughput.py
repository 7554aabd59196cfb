"""Env steps/s of arena's match runner beside a hand-written jitted scan of the same work.

For random and softmoe_gru agents on overcooked_v2/cramped_room at several batch sizes, in
one run: the runner (`arena.runner.run_match`), a hand-written `lax.scan` of the agents' `act`
plus the raw JaxMARL `step_env` (no arena code in the loop), and the raw env with random
actions (the ceiling). Ratio = runner / hand-written. Compile times are printed separately.

    python benchmarks/match_throughput.py [--episodes 1 64 256 1024] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import jax

from arena.checkpoint import new_agent
from arena.envs import make
from arena.runner import compiled_match

ENV_ID = "overcooked_v2/cramped_room"


def timed(fn, *args, repeats: int) -> float:
    """Best wall time of `repeats` calls (first call excluded: it compiles)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def hand_written(jaxmarl_env, agent, steps: int, episodes: int):
    """The same agents' act + JaxMARL step_env, written directly: no sides, no metrics."""
    names = jaxmarl_env.agents

    def episode(params, key):
        obs, state = jaxmarl_env.reset(key)
        carry = (agent.init_carry(params[0], 1), agent.init_carry(params[1], 1))

        def body(c, k):
            state, obs, carry, ret = c
            k0, k1, ke = jax.random.split(k, 3)
            c0, a0, _ = agent.act(params[0], carry[0], obs[names[0]][None], k0)
            c1, a1, _ = agent.act(params[1], carry[1], obs[names[1]][None], k1)
            obs, state, rew, _, _ = jaxmarl_env.step_env(ke, state, {names[0]: a0[0], names[1]: a1[0]})
            return (state, obs, (c0, c1), ret + rew[names[0]]), None

        (_, _, _, ret), _ = jax.lax.scan(body, (state, obs, carry, 0.0), jax.random.split(key, steps))
        return ret

    return jax.jit(lambda params, key: jax.vmap(episode, in_axes=(None, 0))(params, jax.random.split(key, episodes)))


def raw_env(jaxmarl_env, steps: int, episodes: int):
    names = jaxmarl_env.agents

    def episode(key):
        obs, state = jaxmarl_env.reset(key)

        def body(state, k):
            ka, ke = jax.random.split(k)
            acts = jax.random.randint(ka, (len(names),), 0, 6)
            _, state, rew, _, _ = jaxmarl_env.step_env(ke, state, {n: acts[i] for i, n in enumerate(names)})
            return state, rew[names[0]]

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1].sum()

    return jax.jit(lambda key: jax.vmap(episode)(jax.random.split(key, episodes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[1, 64, 256, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--archs", nargs="+", default=["random", "softmoe_gru"])
    args = parser.parse_args()

    env = make(ENV_ID)
    steps = env.spec.max_steps
    key = jax.random.PRNGKey(0)
    print(f"{ENV_ID}, {steps} steps per episode, {jax.device_count()} {jax.default_backend()} device(s)")
    print(f"{'agents':<12} {'episodes':>8} {'runner steps/s':>15} {'hand steps/s':>13} {'ratio':>6} "
          f"{'raw env steps/s':>16} {'compile s (runner/hand)':>24}")
    for arch in args.archs:
        manifest, params0 = new_agent(arch, ENV_ID, seed=0)
        _, params1 = new_agent(arch, ENV_ID, seed=1)
        from arena.agents import build_agent

        agent = build_agent(arch, manifest.arch_config, manifest.obs_shape, manifest.obs_dtype, manifest.num_actions)
        params = (params0, params1)
        for episodes in args.episodes:
            compiled, _ = compiled_match(env, (agent, agent), params, episodes)
            runner_s = timed(compiled.fn, params, key, env.default_params, repeats=args.repeats)
            hand = hand_written(env.env, agent, steps, episodes)
            start = time.perf_counter()
            hand_c = hand.lower(params, key).compile()
            hand_compile = time.perf_counter() - start
            hand_s = timed(hand_c, params, key, repeats=args.repeats)
            raw = raw_env(env.env, steps, episodes)
            raw_s = timed(raw, key, repeats=args.repeats)
            total = steps * episodes
            print(f"{arch:<12} {episodes:>8} {total / runner_s:>15,.0f} {total / hand_s:>13,.0f} "
                  f"{hand_s / runner_s:>6.2f} {total / raw_s:>16,.0f} "
                  f"{compiled.compile_seconds:>11.1f} / {hand_compile:<10.1f}", flush=True)


if __name__ == "__main__":
    main()
