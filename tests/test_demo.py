"""`arena demo`: picks the pairing worth watching, and runs end to end on the shipped zoo."""
import pytest

from arena.tournaments.demo import demo_agents, most_interesting_pair


def _cell(mean):
    return {"mean": mean, "low": mean, "high": mean, "n": 1}


def test_most_interesting_pair_is_the_largest_coordination_failure():
    # a and b each do well alone (SP 10, 8); together 2. c is mediocre with everyone.
    m = [[_cell(10), _cell(2), _cell(6)], [_cell(2), _cell(8), _cell(5)], [_cell(6), _cell(5), _cell(5)]]
    assert most_interesting_pair({"crossplay": {"matrix": m}}) == (0, 1)


def test_demo_has_shipped_agents():
    assert len(demo_agents()) >= 2, "the zoo ships no overcooked_v2/cramped_room agents for the demo"


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    from arena.replay import open_replay
    from arena.tournaments.demo import run_demo

    summary = run_demo(tmp_path / "demo", episodes=4, progress=False)
    assert summary["tournament"]["finished"]
    for path in summary["files"].values():
        assert (tmp_path / "demo").joinpath(path.split("/")[-1]).exists()
    assert len(open_replay(summary["files"]["replay"]).episodes) == 2
