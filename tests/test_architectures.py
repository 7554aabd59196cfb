"""Conformance of every built-in architecture to the agent protocol, and hand-checked behaviour."""
from __future__ import annotations

import collections
import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict
from safetensors.numpy import load_file

from arena.agents import ArchError, build_agent, registered_archs
from arena.checkpoint import load_jaxmarl_safetensors

B = 7
V1 = ((4, 5, 26), "uint8")  # overcooked v1
V2 = ((4, 5, 30), "int32")  # overcooked_v2 cramped_room
VEC = ((16,), "float32")  # mpe_tag predator
MATRIX = ((5,), "float32")  # ipd / coord_game
PLANNER = {"prey": {"arch": "mlp_actor_critic", "config": {"hidden": [8]}}, "prey_obs_shape": [18],
           "predator": {"arch": "mlp_actor_critic", "config": {"hidden": [8]}}, "belief": "flat", "rollouts": 2,
           "horizon": 2, "leaf_value": True}

ENSEMBLE_MEMBERS = [
    {"arch": "scripted", "config": {"rule": "constant", "action": 1}},
    {"arch": "mlp_actor_critic", "config": {"hidden": [32], "activation": "relu"}},
    {"arch": "random"},
]
RECURRENT_MEMBERS = [
    {"arch": "softmoe_gru"},
    {"arch": "mlp_actor_critic", "config": {"hidden": [32], "activation": "relu"}},
    {"arch": "scripted", "config": {"rule": "cycle"}},
]
SMALL_MOE = {
    "encoder_width": 32, "expert_width": 32, "gru_width": 16, "conv_features": [8], "slots_per_expert": 2,
}

# Compiled and run: (id, arch, config, (obs_shape, dtype), num_actions). On CPU each distinct
# description costs a compilation of init (one kernel per random initialiser) and of act, so
# the ensembles reuse descriptions run elsewhere; `test_shapes` covers the other combinations.
CASES = [
    ("random-v1", "random", {}, V1, 6),
    ("scripted-constant-v2", "scripted", {"rule": "constant", "action": 4}, V2, 6),
    ("scripted-cycle-vec", "scripted", {"rule": "cycle"}, VEC, 5),
    ("scripted-tft", "scripted", {"rule": "tit_for_tat"}, MATRIX, 2),
    ("mlp-v1", "mlp_actor_critic", {}, V1, 6),
    ("cnn-v1", "cnn_actor_critic", {}, V1, 6),
    ("softmoe-v2", "softmoe_gru", {}, V2, 6),
    # Also mlp_actor_critic with relu on overcooked v2's int32 grid.
    ("ensemble-v2", "ensemble", {"members": ENSEMBLE_MEMBERS}, V2, 6),
    ("ensemble-recurrent-v2", "ensemble", {"members": RECURRENT_MEMBERS}, V2, 6),
    ("naive-learner", "naive_learner", {}, MATRIX, 2),
    ("history-gru", "history_gru", {"gru_width": 8, "hidden": 8}, MATRIX, 2),
    ("intent-encoder", "intent_encoder", {"gru_width": 8, "hidden": 8}, VEC, 5),
    ("belief-predator", "belief_predator", {"gru_width": 8, "hidden": 8, "policy_hidden": [8]}, VEC, 5),
    ("scripted-seek-corner", "scripted", {"rule": "seek_corner"}, ((18,), "float32"), 5),
    ("scripted-chase", "scripted", {"rule": "chase"}, VEC, 5),
    # Privileged: acts with mpe_tag_intent's World (`privileged_args`), one row per predator.
    ("belief-planner", "belief_planner", PLANNER, VEC, 5),
]

# Traced only (jax.eval_shape, nothing compiled): every architecture on every obs kind.
SHAPE_CONFIGS = {
    "random": [{}],
    "scripted": [{"rule": "constant"}, {"rule": "cycle", "sequence": [1, 0]}],
    "mlp_actor_critic": [{}, {"hidden": [16, 16, 16], "activation": "relu"}],
    "cnn_actor_critic": [{}, {"conv_features": [8, 8], "kernel_sizes": [3, 1], "head_hidden": []}],
    "softmoe_gru": [{}, SMALL_MOE],
    "ensemble": [{"members": ENSEMBLE_MEMBERS}, {"members": RECURRENT_MEMBERS}],
    "naive_learner": [{}, {"persist_carry": False, "discount": 1.0}],
    "history_gru": [{}, {"persist_carry": False, "gru_width": 4}],
    "intent_encoder": [{}],
    "belief_predator": [{}, {"flat_belief": True, "labels": ["a", "b"]}],
    "belief_planner": [PLANNER, {**PLANNER, "belief": "point", "corner": 3, "greedy": False, "leaf_value": False}],
}
OBS_KINDS = {"v1": V1, "v2": V2, "vec": VEC}
# Architectures that read the matrix games' observation and play only them.
MATRIX_ONLY = {"naive_learner": 2}
VECTOR_ONLY = {"history_gru", "intent_encoder", "belief_predator"}
# Architectures that read one mpe side's observation (5 actions).
MPE_ONLY = {"belief_planner": VEC}
SHAPE_CASES = [
    pytest.param(arch, cfg, obs, 5 if arch in MPE_ONLY else MATRIX_ONLY.get(arch, 6), id=f"{arch}-{i}-{kind}")
    for arch, cfgs in SHAPE_CONFIGS.items()
    for i, cfg in enumerate(cfgs)
    for kind, obs in ({"matrix": MATRIX} if arch in MATRIX_ONLY else {"vec": VEC} if arch in VECTOR_ONLY
                      else {"mpe": MPE_ONLY[arch]} if arch in MPE_ONLY else OBS_KINDS).items()
    if not (arch == "cnn_actor_critic" and kind == "vec")
]


@functools.cache
def params_for(agent, seed=0):
    """Agents are hashable: init each description once per test session."""
    return agent.init_params(jax.random.PRNGKey(seed))


def make(arch, config, shape_dtype, num_actions):
    shape, dtype = shape_dtype
    return build_agent(arch, config, shape, dtype, num_actions)


def random_obs(seed, shape, dtype, batch=B):
    """Numpy, so making test inputs compiles nothing."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return rng.integers(0, 3, (batch, *shape)).astype(dtype)
    return rng.normal(size=(batch, *shape)).astype(dtype)


TRACES: collections.Counter = collections.Counter()


def _act(agent, params, carry, obs, key):
    TRACES[agent] += 1  # runs only while jax traces, i.e. once per compilation
    return agent.act(params, carry, obs, key, *privileged_args(agent))


@functools.cache
def _tag_world():
    from arena.agent import World
    from arena.envs import make as make_env

    with jax.ensure_compile_time_eval():  # first made inside `_act`'s trace: make concrete arrays
        env = make_env("mpe_tag_intent")
        state, _ = env.reset(jax.random.PRNGKey(0))
        return World(env, state, env.default_params, (0, 1, 2))


def privileged_args(agent) -> tuple:
    """What `act` takes after the key: a World (mpe_tag_intent's predators) if privileged."""
    return (_tag_world(),) if agent.privileged else ()


def batch_of(agent) -> int:
    """Rows of a test batch: a privileged agent's are the predators its World names."""
    return 3 if agent.privileged else B


act_jit = jax.jit(_act, static_argnums=0)


def _check_outputs(agent, carry, new_carry, action, extras, batch=B):
    assert action.shape == (batch,) and action.dtype == jnp.int32
    chex.assert_trees_all_equal_shapes_and_dtypes(carry, new_carry)  # carries ride lax.scan
    specs = {s.name: s for s in agent.extras()}
    assert set(extras) == set(specs)
    for name, spec in specs.items():
        assert extras[name].shape == (batch, *spec.shape), name
        assert extras[name].dtype == jnp.float32, name
        assert not spec.labels or len(spec.labels) == int(np.prod(spec.shape)), name


def test_every_registered_arch_is_covered():
    assert {c[1] for c in CASES} == set(registered_archs()) == set(SHAPE_CONFIGS)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conformance(case):
    _, arch, config, (shape, dtype), num_actions = case
    agent = make(arch, config, (shape, dtype), num_actions)
    assert agent == make(arch, config, (shape, dtype), num_actions)
    hash(agent)  # a jit static argument

    k_act = jax.random.PRNGKey(1)
    params = params_for(agent)
    template = agent.params_template()
    assert jax.tree.structure(template) == jax.tree.structure(params)
    assert all(
        t.shape == p.shape and t.dtype == p.dtype
        for t, p in zip(jax.tree.leaves(template), jax.tree.leaves(params))
    )
    batch = batch_of(agent)
    carry = agent.init_carry(params, batch)
    obs = random_obs(0, shape, dtype, batch)
    assert obs.dtype == np.dtype(dtype)

    new_carry, action, extras = act_jit(agent, params, carry, obs, k_act)
    _check_outputs(agent, carry, new_carry, action, extras, batch)
    action = np.asarray(action)
    assert ((action >= 0) & (action < num_actions)).all()
    if "probs" in extras:
        np.testing.assert_allclose(np.asarray(extras["probs"]).sum(-1), 1.0, rtol=1e-5)
    if "routing" in extras:
        np.testing.assert_allclose(np.asarray(extras["routing"]).sum(-1), 1.0, rtol=1e-5)
        assert (np.asarray(extras["routing"]) >= 0).all()

    # Pure: the same inputs give the same outputs.
    again = act_jit(agent, params, carry, obs, k_act)
    chex.assert_trees_all_equal((new_carry, action, extras), jax.device_get(again))


@pytest.mark.parametrize("arch,config,shape_dtype,num_actions", SHAPE_CASES)
def test_shapes(arch, config, shape_dtype, num_actions):
    agent = make(arch, config, shape_dtype, num_actions)
    shape, dtype = shape_dtype
    params = agent.params_template()
    batch = batch_of(agent)
    carry = jax.eval_shape(lambda p: agent.init_carry(p, batch), params)
    obs = jax.ShapeDtypeStruct((batch, *shape), np.dtype(dtype))
    new_carry, action, extras = jax.eval_shape(lambda *a: agent.act(*a, *privileged_args(agent)), params, carry, obs,
                                               jax.random.PRNGKey(0))
    _check_outputs(agent, carry, new_carry, action, extras, batch)


@pytest.mark.parametrize("case", [c for c in CASES if "recurrent" in c[0]], ids=lambda c: c[0])
def test_carries_ride_through_scan(case):
    """Three steps in a lax.scan, as the runner's loop runs them, equal three calls of act."""
    _, arch, config, (shape, dtype), num_actions = case
    agent = make(arch, config, (shape, dtype), num_actions)
    params = params_for(agent)
    carry = agent.init_carry(params, B)
    obs = random_obs(0, shape, dtype)
    keys = jax.random.split(jax.random.PRNGKey(2), 3)

    def step(c, k):
        c, a, _ = agent.act(params, c, obs, k)
        return c, a

    last, actions = jax.jit(lambda c, ks: jax.lax.scan(step, c, ks))(carry, keys)
    looped = []
    for k in keys:
        carry, a, _ = act_jit(agent, params, carry, obs, k)
        looped.append(np.asarray(a))
    np.testing.assert_array_equal(actions, np.stack(looped))
    chex.assert_trees_all_close(last, carry, rtol=1e-5, atol=1e-6)


def test_random_depends_on_key():
    agent = make("random", {}, V1, 6)
    obs = np.zeros((64, *V1[0]), V1[1])
    _, a1, _ = act_jit(agent, {}, (), obs, jax.random.PRNGKey(1))
    _, a2, ex = act_jit(agent, {}, (), obs, jax.random.PRNGKey(2))
    assert not (np.asarray(a1) == np.asarray(a2)).all()
    assert len(set(np.asarray(a1).tolist())) > 1
    np.testing.assert_allclose(ex["probs"], 1 / 6)


@pytest.mark.parametrize(
    "arch,config,shape_dtype,num_actions",
    [
        ("mlp_actor_critic", {}, V1, 6),
        ("softmoe_gru", {}, V2, 6),
        ("ensemble", {"members": ENSEMBLE_MEMBERS}, V2, 6),
    ],
)
def test_equal_agents_share_one_compilation(arch, config, shape_dtype, num_actions):
    # Two separately built, equal descriptions; different params.
    agent_a = make(arch, config, shape_dtype, num_actions)
    agent_b = make(arch, config, shape_dtype, num_actions)
    assert agent_a is not agent_b and agent_a == agent_b
    pa, pb = params_for(agent_a, 0), params_for(agent_b, 1)
    assert not all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)))
    obs = random_obs(3, *shape_dtype)
    act_jit(agent_a, pa, agent_a.init_carry(pa, B), obs, jax.random.PRNGKey(4))
    traced = TRACES[agent_a]
    assert traced >= 1
    for agent, params, seed in ((agent_b, pb, 5), (agent_a, pb, 6), (agent_b, pa, 7)):
        act_jit(agent, params, agent.init_carry(params, B), obs, jax.random.PRNGKey(seed))
    assert TRACES[agent_a] == traced  # params are arguments, never baked into the program


def test_retrace_with_chex_counter():
    """The same as above, counted by chex on a fresh function (STYLE: the retrace test)."""
    chex.clear_trace_counter()

    @functools.partial(jax.jit, static_argnums=0)
    @chex.assert_max_traces(n=1)
    def act(agent, params, carry, obs, key):
        return agent.act(params, carry, obs, key)

    obs = random_obs(3, *V1)
    for seed in (0, 1):
        agent = make("mlp_actor_critic", {}, V1, 6)  # a new, equal description each time
        act(agent, params_for(agent, seed), (), obs, jax.random.PRNGKey(seed))


def test_tit_for_tat_by_hand():
    agent = make("scripted", {"rule": "tit_for_tat"}, MATRIX, 2)
    # rows: first round, then previous joint (own, other) = CC, CD, DC, DD
    obs = np.array(
        [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]],
        np.float32,
    )
    _, action, extras = act_jit(agent, {}, (), obs, jax.random.PRNGKey(0))
    assert action.tolist() == [0, 0, 1, 0, 1]
    np.testing.assert_array_equal(extras["probs"], np.eye(2)[[0, 0, 1, 0, 1]])


def test_scripted_aliases_and_cycle():
    obs = np.zeros((3, 5), np.float32)
    for rule, expected in (("always_cooperate", 0), ("always_defect", 1)):
        agent = make("scripted", {"rule": rule}, MATRIX, 2)
        assert act_jit(agent, {}, (), obs, jax.random.PRNGKey(0))[1].tolist() == [expected] * 3

    agent = make("scripted", {"rule": "cycle", "sequence": [2, 0]}, VEC, 5)
    carry = agent.init_carry({}, 2)
    seen = []
    for _ in range(3):
        carry, action, _ = act_jit(agent, {}, carry, np.zeros((2, 16), np.float32), jax.random.PRNGKey(0))
        seen.append(action.tolist())
    assert seen == [[2, 2], [0, 0], [2, 2]]


def _constant(action):
    return {"arch": "scripted", "config": {"rule": "constant", "action": action}}


def test_ensemble_majority_vote_by_hand():
    agent = make("ensemble", {"members": [_constant(0), _constant(0), _constant(1)]}, V1, 6)
    params = agent.init_params(jax.random.PRNGKey(0))
    assert set(params) == {"member_0", "member_1", "member_2"}
    obs = np.zeros((B, *V1[0]), V1[1])
    carry, action, extras = act_jit(agent, params, agent.init_carry(params, B), obs, jax.random.PRNGKey(0))
    assert carry == ((), (), ())
    assert action.tolist() == [0] * B
    np.testing.assert_array_equal(extras["votes"][0], [2, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(extras["probs"][0], [2 / 3, 1 / 3, 0, 0, 0, 0])


def test_ensemble_ties_go_to_lowest_action_when_probs_tie():
    agent = make("ensemble", {"members": [_constant(3), _constant(1)]}, V1, 6)
    obs = np.zeros((2, *V1[0]), V1[1])
    _, action, _ = act_jit(agent, agent.init_params(jax.random.PRNGKey(0)), ((), ()), obs, jax.random.PRNGKey(0))
    assert action.tolist() == [1, 1]


def test_ensemble_member_forms_are_equivalent():
    python_form = (("scripted", (("rule", "constant"), ("action", 2))), ("random", ()))
    a = make("ensemble", {"members": python_form}, V1, 6)
    b = make("ensemble", {"members": [_constant(2), {"arch": "random"}]}, V1, 6)
    assert a.members == b.members


def test_softmoe_routing_and_expert_bias():
    agent = make("softmoe_gru", {}, V2, 6)
    params = params_for(agent)
    spec = {s.name: s for s in agent.extras()}["routing"]
    assert spec.shape == (4,) and spec.labels == ("gathering", "cooking", "recipe", "partner")
    obs = random_obs(1, *V2)
    carry = agent.init_carry(params, B)
    assert carry.shape == (B, 256)
    policy = jax.jit(agent.policy)
    new_carry, logits, value, extras = policy(params, carry, obs)
    routing = extras["routing"]
    assert logits.shape == (B, 6) and value.shape == (B,) and routing.shape == (B, 4)
    np.testing.assert_allclose(routing.sum(-1), 1.0, rtol=1e-5)
    assert not np.allclose(new_carry, carry)

    bias = jnp.array([0.0, 0.0, 50.0, 0.0])  # IOP's expert bias toward "recipe"
    _, _, _, biased = policy(params, carry, obs, bias)
    np.testing.assert_allclose(biased["routing"][:, 2], 1.0, atol=1e-4)


TRAINABLE = [("mlp_actor_critic", {}, V1), ("cnn_actor_critic", {}, V2), ("softmoe_gru", {}, V2)]


@pytest.mark.parametrize("arch,config,shape_dtype", TRAINABLE, ids=[t[0] for t in TRAINABLE])
def test_act_samples_the_declared_policy(arch, config, shape_dtype):
    """The policy trainers train is the one `act` plays: `policy` sampled by `sample_policy`."""
    from arena.agents.actor_critic import TrainableAgent, sample_policy

    agent = make(arch, config, shape_dtype, 6)
    assert isinstance(agent, TrainableAgent)
    params = params_for(agent)
    obs = random_obs(2, *shape_dtype)
    carry = agent.init_carry(params, B)
    key = jax.random.PRNGKey(5)
    new_carry, logits, value, extras = jax.jit(agent.policy)(params, carry, obs)
    action, logp, probs = jax.jit(sample_policy)(logits, key)
    acted_carry, acted, acted_extras = act_jit(agent, params, carry, obs, key)
    assert acted.tolist() == action.tolist()
    np.testing.assert_array_equal(acted_extras["probs"], probs)
    np.testing.assert_array_equal(acted_extras["value"], value)
    assert set(acted_extras) == {*extras, "probs", "value"} == {e.name for e in agent.extras()}
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, acted_carry, new_carry)))
    np.testing.assert_allclose(logp, np.log(np.take_along_axis(np.asarray(probs), np.asarray(action)[:, None], -1)[:, 0]),
                               rtol=1e-5)


def test_sample_policy_follows_the_distribution():
    from arena.agents.actor_critic import sample_policy

    logits = jnp.log(jnp.array([[0.7, 0.2, 0.1]] * 20_000))
    action, _, probs = sample_policy(logits, jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.bincount(np.asarray(action), minlength=3) / 20_000, [0.7, 0.2, 0.1], atol=0.01)
    np.testing.assert_allclose(probs[0], [0.7, 0.2, 0.1], rtol=1e-5)


def test_soft_moe_layer():
    """Puigcerver et al.'s Soft MoE; with one token it is a softmax gate over expert outputs."""
    from arena.agents.softmoe_gru import SoftMoE

    layer = SoftMoE(num_experts=3, slots_per_expert=2, expert_hidden=5, out_features=4)
    x = random_obs(0, (6, 8), "float32", batch=2)  # 2 rows of 6 tokens
    # Numpy params of the template's shapes: no initialiser to compile.
    rng = np.random.default_rng(1)
    params = jax.tree.map(
        lambda t: rng.normal(size=t.shape).astype(np.float32),
        jax.eval_shape(layer.init, jax.random.PRNGKey(0), x),
    )
    apply = jax.jit(layer.apply)
    y, routing = apply(params, x)
    assert y.shape == (2, 6, 4) and routing.shape == (2, 3)
    np.testing.assert_allclose(routing.sum(-1), 1.0, rtol=1e-5)

    # One token: every slot reads the token itself, and y = sum_e gate_e * expert_e(x).
    x1 = x[:, :1]
    y1, routing1 = apply(params, x1)
    p = {k: np.asarray(v) for k, v in params["params"].items()}
    logits = x1[:, 0] @ p["slots"]  # (B, E * S)
    gate = np.exp(logits - logits.max(-1, keepdims=True))
    gate /= gate.sum(-1, keepdims=True)
    expected = 0.0
    for e in range(3):
        h = np.maximum(x1[:, 0] @ p["expert_w1"][e] + p["expert_b1"][e], 0.0)
        out = h @ p["expert_w2"][e] + p["expert_b2"][e]
        expected = expected + gate[:, 2 * e : 2 * e + 2].sum(-1, keepdims=True) * out
    np.testing.assert_allclose(y1[:, 0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(routing1, gate.reshape(2, 3, 2).sum(-1), rtol=1e-5)


def _save_like_jaxmarl(params, path):
    try:  # JaxMARL's own writer, when its import chain (gymnax, six) is installed
        from jaxmarl.wrappers.baselines import save_params
    except ImportError:  # the same two lines: flatten_dict(sep=","), safetensors.flax.save_file
        from safetensors.flax import save_file

        def save_params(p, filename):
            save_file(flatten_dict(p, sep=","), filename)

    save_params(params, path)


def _baseline_ff_tree(rng, obs_dim, num_actions):
    """The tree `ActorCritic(num_actions).init(key, x)` has in JaxMARL's ippo_ff scripts."""
    shapes = {
        "Dense_0": (obs_dim, 64), "Dense_1": (64, 64), "Dense_2": (64, num_actions),  # actor
        "Dense_3": (obs_dim, 64), "Dense_4": (64, 64), "Dense_5": (64, 1),  # critic
    }
    return {
        "params": {
            name: {
                "kernel": rng.normal(0, 0.3, shape).astype(np.float32),
                "bias": rng.normal(0, 0.1, shape[-1:]).astype(np.float32),
            }
            for name, shape in shapes.items()
        }
    }


def test_jaxmarl_safetensors_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    tree = _baseline_ff_tree(rng, 4 * 5 * 26, 6)
    path = tmp_path / "IPPO.safetensors"
    _save_like_jaxmarl(tree, path)
    assert {"params,Dense_0,kernel", "params,Dense_5,bias"} <= set(load_file(str(path)))

    agent = make("mlp_actor_critic", {}, V1, 6)
    params = load_jaxmarl_safetensors(path)
    template = agent.params_template()
    assert jax.tree.structure(params) == jax.tree.structure(template)
    assert [p.shape for p in jax.tree.leaves(params)] == [t.shape for t in jax.tree.leaves(template)]

    obs = random_obs(0, *V1)
    _, _, extras = act_jit(agent, params, (), obs, jax.random.PRNGKey(1))

    # The baseline's forward pass, by hand in numpy.
    p = tree["params"]
    x = np.asarray(obs).reshape(B, -1).astype(np.float32)

    def tower(names):
        h = x
        for n in names[:-1]:
            h = np.tanh(h @ p[n]["kernel"] + p[n]["bias"])
        return h @ p[names[-1]]["kernel"] + p[names[-1]]["bias"]

    logits = tower(["Dense_0", "Dense_1", "Dense_2"])
    value = tower(["Dense_3", "Dense_4", "Dense_5"])[:, 0]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(extras["probs"], probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(extras["value"], value, rtol=1e-4, atol=1e-4)

    # Saved without the top-level "params" key, or stacked over seeds: same params back.
    _save_like_jaxmarl(tree["params"], tmp_path / "inner.safetensors")
    chex.assert_trees_all_close(load_jaxmarl_safetensors(tmp_path / "inner.safetensors"), params)
    stacked = jax.tree.map(lambda a: np.stack([a * 0, a]), tree)
    _save_like_jaxmarl(stacked, tmp_path / "seeds.safetensors")
    chex.assert_trees_all_close(load_jaxmarl_safetensors(tmp_path / "seeds.safetensors", index=1), params)


def test_cnn_tree_is_jaxmarl_ippo_cnn_overcooked():
    agent = make("cnn_actor_critic", {}, V1, 6)
    shapes = flatten_dict(jax.tree.map(lambda x: x.shape, agent.params_template()), sep=",")
    h, w, c = V1[0]
    assert shapes == {
        "params,CNN_0,Conv_0,kernel": (5, 5, c, 32), "params,CNN_0,Conv_0,bias": (32,),
        "params,CNN_0,Conv_1,kernel": (3, 3, 32, 32), "params,CNN_0,Conv_1,bias": (32,),
        "params,CNN_0,Conv_2,kernel": (3, 3, 32, 32), "params,CNN_0,Conv_2,bias": (32,),
        "params,CNN_0,Dense_0,kernel": (h * w * 32, 64), "params,CNN_0,Dense_0,bias": (64,),
        "params,Dense_0,kernel": (64, 64), "params,Dense_0,bias": (64,),
        "params,Dense_1,kernel": (64, 6), "params,Dense_1,bias": (6,),
        "params,Dense_2,kernel": (64, 64), "params,Dense_2,bias": (64,),
        "params,Dense_3,kernel": (64, 1), "params,Dense_3,bias": (1,),
    }


def test_configs_are_frozen_hashable_and_documented():
    for cls in registered_archs().values():
        assert dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen
        cfg = cls.Config()
        hash(cfg)
        assert cls.doc


@pytest.mark.parametrize(
    "arch,config,shape_dtype,num_actions,message",
    [
        ("no_such_arch", {}, V1, 6, "unknown architecture 'no_such_arch'; known: "),
        ("mlp_actor_critic", {"hiden": [64]}, V1, 6, "has no config field(s) hiden (did you mean 'hidden'?); fields: activation"),
        ("random", {"x": 1}, V1, 6, "fields: none"),
        ("scripted", {"rule": "constant", "action": 6}, V1, 6, "action 6 is out of range"),
        ("scripted", {"rule": "tit_for_tat"}, V1, 6, "obs_shape (4, 5, 26)"),
        ("scripted", {"rule": "nice"}, V1, 6, "unknown rule 'nice'"),
        ("mlp_actor_critic", {"activation": "gelu"}, V1, 6, "unknown activation 'gelu'"),
        ("mlp_actor_critic", {"hidden": 64}, V1, 6, "hidden must be a list of positive integers"),
        ("cnn_actor_critic", {}, VEC, 5, "needs grid observations"),
        ("softmoe_gru", {"num_experts": 3}, V2, 6, "expert_labels has 4 entries for 3 experts"),
        ("softmoe_gru", {"gru_width": 0}, V2, 6, "gru_width must be a positive integer, got 0"),
        ("ensemble", {}, V1, 6, "at least one member"),
        ("ensemble", {"members": [{"arch": "nope"}]}, V1, 6, "member 0: unknown architecture 'nope'"),
        ("ensemble", {"members": [{"arch": "belief_planner", "config": PLANNER}]}, VEC, 5,
         "member 0: 'belief_planner' is privileged (it reads the env state); members must not be"),
        ("belief_planner", {}, VEC, 5, "belief 'encoder' needs an encoder"),
        ("belief_planner", {**PLANNER, "horizon": 0}, VEC, 5, "horizon must be a positive integer, got 0"),
        ("scripted", {"rule": "chase"}, ((18,), "float32"), 5, "rule 'chase' plays mpe_tag's predators"),
        # Retired keys are dropped only for the architecture that retired them.
        ("mlp_actor_critic", {"gumbel_temperature": 1.0}, V1, 6, "has no config field(s) gumbel_temperature"),
    ],
)
def test_build_agent_errors(arch, config, shape_dtype, num_actions, message):
    with pytest.raises(ArchError) as err:
        make(arch, config, shape_dtype, num_actions)
    assert message in str(err.value)


def test_retired_config_keys_are_dropped_so_old_checkpoints_load():
    """softmoe_gru no longer has `gumbel_temperature`; manifests that recorded it (the zoo's
    IOP agents) still build, into the same agent as without it."""
    from arena.checkpoint import load_agent, read_checkpoint

    assert "gumbel_temperature" not in {f.name for f in dataclasses.fields(make("softmoe_gru", {}, V2, 6).config)}
    assert make("softmoe_gru", {"gumbel_temperature": 0.3}, V2, 6) == make("softmoe_gru", {}, V2, 6)
    manifest, _, _ = read_checkpoint("zoo:iop-cramped-s0")
    assert "gumbel_temperature" in manifest.arch_config
    loaded = load_agent("zoo:iop-cramped-s0")
    assert loaded.agent.arch == "softmoe_gru" and loaded.agent.config.gru_width == manifest.arch_config["gru_width"]
