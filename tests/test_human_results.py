"""human_games.csv: rows appended whole, read back as written, replay paths absolute."""
import pytest

from arena.human_results import RESULTS_COLUMNS, append_result, read_results, results_path


def test_rows_append_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))
    assert read_results() == []
    first = {"env": "coord_game", "steps": 3, "complete": True, "replay": str(tmp_path / "a.replay")}
    assert append_result(first) == results_path() == tmp_path / "data" / "human_games.csv"
    append_result({**first, "steps": 4, "complete": False})
    rows = read_results()
    assert [r["steps"] for r in rows] == ["3", "4"] and [r["complete"] for r in rows] == ["True", "False"]
    assert list(rows[0]) == list(RESULTS_COLUMNS) and rows[0]["replay"] == str(tmp_path / "a.replay")
    assert results_path().read_text().count("finished_utc") == 1  # one header


def test_a_relative_replay_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="absolute replay paths"):
        append_result({"env": "coord_game", "replay": "game.replay"})
    assert read_results() == []
