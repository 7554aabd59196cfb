"""Privileged agents: declared in the manifest, shown by inspect, given the true env state by
the runner's one step path, refused where a spec or a server forbids them."""
import dataclasses
import sqlite3

import jax.numpy as jnp
import numpy as np
import pytest

from arena import agent as agent_module
from arena.agent import Agent, ExtraSpec, World, register_arch
from arena.agents.basic import step_toward
from arena.checkpoint import load_agent, new_agent, save_checkpoint
from arena.envs import make
from arena.errors import CheckpointError, FieldError, UserError
from arena.meta import MetaShape, run_meta_match
from arena.runner import run_match
from arena.server.submissions import InvalidAgent, Submissions
from arena.tournaments.spec import make_spec
from arena.tournaments.tournament import prepare

TAG = "mpe_tag"
PREY = 3  # mpe_tag's seat (and entity index) of the prey


@dataclasses.dataclass(frozen=True)
class _NoConfig:
    """No settings."""


@dataclasses.dataclass(frozen=True)
class StateChaser(Agent):
    """Each predator steps along the larger axis of its offset to the prey, read from the env
    state (never from its observation); emits the prey position it read."""

    arch = "test_state_chaser"
    Config = _NoConfig
    privileged = True

    def extras(self):
        return (ExtraSpec("prey_pos", (2,)),)

    def act(self, params, carry, obs, key, world: World):
        pos = world.state.p_pos
        mine = pos[jnp.array(world.seats)]  # (B, 2)
        action = step_toward(pos[PREY] - mine)
        return carry, action, {"prey_pos": jnp.broadcast_to(pos[PREY], (obs.shape[0], 2))}


@pytest.fixture(scope="module", autouse=True)
def state_chaser_arch():
    """Registered only while this module's tests run: the conformance test holds every
    registered architecture to its cases, and this one is a test's."""
    register_arch(StateChaser)
    yield
    agent_module._ARCHS.pop(StateChaser.arch)


@pytest.fixture
def chaser(tmp_path):
    manifest, params = new_agent("test_state_chaser", TAG, side="predators", name="chaser")
    path = tmp_path / "chaser.ckpt"
    save_checkpoint(path, manifest, params)
    return path


def _lineup(chaser, make_ckpt):
    return [load_agent(chaser), load_agent(make_ckpt("random", TAG, side="prey"))]


def test_a_privileged_agent_acts_on_the_true_state(chaser, make_ckpt):
    """The chaser gets the state its observation came from; the random prey beside it keeps
    the four-argument `act` of every unprivileged agent (a fifth argument would fail it)."""
    env = make(TAG)
    loaded = _lineup(chaser, make_ckpt)
    r = run_match(env, [a.agent for a in loaded], [a.params for a in loaded], episodes=4, seed=3, record=2)
    steps, start = r.steps, r.initial_state
    # The state each step acted on: the reset state, then the state after the previous step.
    before = np.concatenate([start.p_pos[None], steps.env_state.p_pos[:-1]])  # (T, R, entities, 2)
    np.testing.assert_allclose(steps.extras[0]["prey_pos"][:, :, 0], before[:, :, PREY])
    d = before[:, :, PREY][:, :, None] - before[:, :, :3]
    want = np.where(np.abs(d[..., 0]) >= np.abs(d[..., 1]), np.where(d[..., 0] < 0, 1, 2), np.where(d[..., 1] < 0, 3, 4))
    np.testing.assert_array_equal(steps.actions[:, :, :3], want)


def test_the_manifest_declares_it_and_inspect_shows_it(chaser, arena_cli, make_ckpt, tmp_path):
    assert load_agent(chaser).manifest.privileged
    code, out, _ = arena_cli("inspect", chaser)
    assert code == 0 and "privileged = true" in out and "# privileged: acts on the env state" in out
    plain = make_ckpt("random", TAG, side="prey")
    assert "privileged" not in arena_cli("inspect", plain).out
    # Hidden privilege does not load: the manifest must say what the architecture does.
    loaded = load_agent(chaser)
    hidden = tmp_path / "hidden.ckpt"
    save_checkpoint(hidden, loaded.manifest.replace(privileged=False), loaded.params)
    with pytest.raises(CheckpointError, match="is privileged .* must say `privileged = true`"):
        load_agent(hidden)


def test_a_spec_that_forbids_privilege_refuses_it_in_one_line(chaser, make_ckpt, arena_cli):
    prey = make_ckpt("random", TAG, side="prey")
    prepare(make_spec("roundrobin", [chaser, prey], env=TAG, episodes=2))  # allowed by default
    with pytest.raises(FieldError, match="chaser.* is privileged .*forbids"):
        prepare(make_spec("roundrobin", [chaser, prey], env=TAG, episodes=2, privileged="forbid"))
    code, _, err = arena_cli("tournament", "run", "--mode", "roundrobin", chaser, prey, "--env", TAG, "--episodes", "2",
                             "--privileged", "forbid", "--db", str(chaser.parent / "t.sqlite"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "forbids that (--privileged forbid); leave it out, or play with --privileged allow" in err


def test_a_server_refuses_privileged_uploads(chaser, make_ckpt, tmp_path):
    subs = Submissions(sqlite3.connect(tmp_path / "server.sqlite"), tmp_path / "agents")
    with pytest.raises(InvalidAgent, match="privileged .* ladders take no privileged agents"):
        subs.submit(chaser.read_bytes(), tmp_path)
    agent, created = subs.submit(make_ckpt("random", TAG, side="prey").read_bytes(), tmp_path)
    assert created and subs.all() == [agent]


def test_meta_episodes_refuse_privileged_agents(chaser, make_ckpt):
    loaded = _lineup(chaser, make_ckpt)
    with pytest.raises(UserError, match="privileged .* meta-episodes play unprivileged agents only"):
        run_meta_match(make(TAG), [a.agent for a in loaded], [a.params for a in loaded], MetaShape(1, 2, 1))
