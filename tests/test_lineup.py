"""Line-ups of a game with a human: which agent takes which side when a human sits at a seat,
and the one-line errors when the agents given do not fit."""
import pytest

from arena.checkpoint import load_agent
from arena.errors import IncompatibleAgents, UserError
from arena.lineup import human_lineup


def test_one_agent_fills_every_side_a_human_leaves(make_ckpt):
    a = load_agent(make_ckpt("random", "coord_game"))
    line = human_lineup([a], 1, env_id="coord_game")
    assert line.side == 1 and not line.shared
    assert line.agents == (a, None)
    pred = load_agent(make_ckpt("random", "mpe_tag", side="predators"))
    line = human_lineup([pred], 3, env_id="mpe_tag")  # the prey: a side of one seat
    assert line.side == 1 and not line.shared and line.agents == (pred, None)


def test_a_human_in_a_bigger_side_leaves_it_to_its_agent(make_ckpt):
    pred = load_agent(make_ckpt("random", "mpe_tag", side="predators"))
    prey = load_agent(make_ckpt("random", "mpe_tag", side="prey"))
    line = human_lineup([pred, prey], 1, env_id="mpe_tag")
    assert line.side == 0 and line.shared and line.agents == (pred, prey)


def test_line_ups_that_do_not_fit_are_one_line_errors(make_ckpt):
    pred = load_agent(make_ckpt("random", "mpe_tag", side="predators"))
    prey = load_agent(make_ckpt("random", "mpe_tag", side="prey"))
    cases = [
        ([], 0, UserError, "give at least one agent"),
        ([pred], 5, UserError, "`seat` 5: mpe_tag has seats 0..3"),
        ([pred], 1, UserError, "needs 2 agent(s), one per side predators, prey in this order; got 1"),
        ([pred, prey, prey], 1, UserError, "one per side predators, prey"),
        ([prey, pred], 1, IncompatibleAgents, "cannot play mpe_tag side predators: it observes shape"),
    ]
    for agents, seat, error, message in cases:
        with pytest.raises(error) as exc:
            human_lineup(agents, seat, env_id="mpe_tag")
        assert message in str(exc.value) and "\n" not in str(exc.value)
