"""A real `arena serve` on loopback (a subprocess on port 0), talked to over HTTP: uploads,
tournaments whose numbers equal the CLI's, idempotent and cancelled requests, every refusal a
hostile or careless client can meet, and a server killed with SIGKILL that loses nothing."""
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from serving import RULES, Server, mlp_policy

from arena import numfmt
from arena.agents.zoo import zoo_path
from arena.checkpoint import new_agent, save_checkpoint
from arena.server.ladder import LadderConfig, Played, role_round
from arena.server.readcache import Generation
from arena.tournaments.ratings import Games
from arena.tournaments.spec import make_spec
from arena.tournaments.store import Store
from arena.tournaments.tournament import run_tournament

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def ipd_agents(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agents")
    return {name: mlp_policy(folder / f"{name}.ckpt", name, RULES[name]) for name in ("tft", "alld", "allc")}


@pytest.fixture(scope="module")
def ids(server, ipd_agents):
    return {name: server.upload(path.read_bytes()).json()["id"] for name, path in ipd_agents.items()}


def one_line_error(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"], body
    return body["error"]


def test_health_and_the_admin_token_file(server):
    health = server.http.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["workers"] == 1 and "queued" in health["queue"]
    assert (server.data / "admin.token").stat().st_mode & 0o777 == 0o600
    assert any("admin token written to" in line for line in server.lines)
    assert server.http.get("/openapi.json").json()["paths"]["/api/v1/agents"]


def test_upload_is_content_addressed(server, ipd_agents):
    data = ipd_agents["tft"].read_bytes()
    first, again = server.upload(data), server.upload(data)
    assert (first.status_code, again.status_code) in [(201, 200), (200, 200)]  # 200/200 when `ids` ran first
    assert first.json()["id"] == again.json()["id"]
    agent = server.http.get(f"/api/v1/agents/{first.json()['id'][:12]}").json()
    assert agent["manifest"]["name"] == "tft" and agent["env"] == "ipd" and agent["smoke"]["length"] > 0


def test_bad_uploads_are_refused_with_their_status(server, ipd_agents, tmp_path):
    good = ipd_agents["tft"].read_bytes()
    nan_manifest, nan_params = new_agent("mlp_actor_critic", "ipd", seed=0, name="nan")
    save_checkpoint(tmp_path / "nan.ckpt", nan_manifest, jax.tree.map(lambda v: np.full_like(v, np.nan), nan_params))
    cases = {
        "pickle": (pickle.dumps({"params": [1, 2, 3]}), 415, "pickle"),
        "random bytes": (os.urandom(4096), 415, "not an arena checkpoint"),
        "empty": (b"", 415, "empty"),
        "truncated": (good[: len(good) // 2], 422, "validation"),
        "NaN params": ((tmp_path / "nan.ckpt").read_bytes(), 422, "non-finite"),
    }
    for case, (data, status, words) in cases.items():
        if case == "random bytes":
            data = b"\x01" + data  # never valid msgpack map by chance
        message = one_line_error(server.upload(data), status)
        assert words in message, (case, message)
    assert server.http.get("/api/v1/health").json()["status"] == "ok"


def test_oversized_bodies_are_counted_as_they_stream(tmp_path):
    server = Server(tmp_path, "--upload-limit", "1")
    try:
        # Chunked (no Content-Length): the limit is met on the streamed bytes.
        def chunks():
            yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.ckpt"\r\n\r\n'
            for _ in range(40):
                yield b"\x80" * 65536
            yield b"\r\n--B--\r\n"

        resp = server.http.post("/api/v1/agents", content=chunks(), headers={**server.auth(), "Content-Type": "multipart/form-data; boundary=B"})
        assert "over the server's limit of 1 MiB" in one_line_error(resp, 413)
        # A declared size over the limit is refused before a byte is read.
        head = f"Authorization: Bearer {server.token}\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        assert raw(server, f"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {10 << 30}\r\n\r\n".encode()) == 413
        # A Content-Length that lies low: the body is cut at 10 bytes and refused; the rest is
        # garbage to the HTTP parser, which closes the connection. The server lives on.
        assert raw(server, f"POST /api/v1/tournaments HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 10\r\n\r\n".encode()
                   + b"{" * 5000) // 100 == 4
        assert server.http.get("/api/v1/health").json()["status"] == "ok"
        big_spec = server.http.post("/api/v1/tournaments", content=b" " * (2 << 20), headers=server.auth())
        one_line_error(big_spec, 413)
    finally:
        server.stop()


def raw(server, request: bytes) -> int:
    """Send bytes no well-behaved client would; the status the server answers."""
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(request)
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_ids_are_never_paths(server, ids):
    (server.data / "secret.txt").write_text("not for clients")
    for path in ["/api/v1/agents/..%2F..%2Fadmin.token", "/api/v1/agents/%2e%2e", "/api/v1/replays/..%2Fadmin.token",
                 "/api/v1/replays/..%2F..%2Fsecret.txt", "/api/v1/matches/..%2Fsecret.txt", "/api/v1/tournaments/..%2F..",
                 "/api/v1/agents/ZZZZZZZZ", "/api/v1/replays/deadbeefdead-0"]:
        resp = server.http.get(path)
        assert resp.status_code == 404 and "not for clients" not in resp.text and server.token not in resp.text, (path, resp.text)
    bad = server.tournament({"mode": "crossplay", "agents": ["../../admin.token", ids["tft"]]})
    assert "does not have" in one_line_error(bad, 400)


def test_tokens_and_malformed_requests(server, ids):
    spec = {"mode": "selfplay", "agents": [ids["tft"]], "episodes": 2}
    assert "needs a token" in one_line_error(server.http.post("/api/v1/tournaments", json=spec), 401)
    assert "not one this server knows" in one_line_error(server.tournament(spec, Authorization="Bearer nope"), 401)
    resp = server.http.post("/api/v1/tournaments", content=b"{not json", headers=server.auth())
    assert "not valid JSON" in one_line_error(resp, 400)
    assert "unknown spec field" in one_line_error(server.tournament({**spec, "agnets": []}), 400)
    assert "must be a list" in one_line_error(server.tournament({**spec, "agents": ids["tft"]}), 400)
    assert one_line_error(server.tournament({**spec, "env": "no_such_env"}), 400)
    assert one_line_error(server.tournament({**spec, "episodes": -3}), 400)
    assert one_line_error(server.http.get("/api/v1/tournaments/0123456789ab"), 404)


def test_a_submit_token_cannot_do_admin_work(server):
    out = subprocess.run([sys.executable, "-m", "arena.cli", "token", "new", "alice", "--data", str(server.data)],
                         capture_output=True, text=True, check=True)
    secret = out.stdout.strip()
    assert len(out.stdout.splitlines()) == 1 and "not shown again" in out.stderr
    assert server.upload(b"", token=secret).status_code == 415  # submit scope may upload
    resp = server.http.post("/api/v1/ladders", json={"env": "ipd"}, headers=server.auth(secret))
    assert "scope admin" in one_line_error(resp, 403)
    stored = Store(server.data / "tournaments.sqlite").db.execute("SELECT * FROM tokens").fetchall()
    assert secret not in json.dumps(stored)  # kept hashed


def test_non_loopback_needs_allow_remote(tmp_path):
    out = subprocess.run([sys.executable, "-m", "arena.cli", "serve", "--host", "0.0.0.0", "--data", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--allow-remote" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_tournament_numbers_equal_the_cli(server, ids, ipd_agents, tmp_path):
    request = {"mode": "roundrobin", "agents": [ids["tft"], ids["alld"], ids["allc"]], "episodes": 8, "seeds": 2, "seed": 3}
    resp = server.tournament(request, **{"Idempotency-Key": "rr-1"})
    assert resp.status_code == 202
    tid = resp.json()["id"]
    again = server.tournament(request, **{"Idempotency-Key": "rr-1"})
    assert again.status_code == 200 and again.json()["id"] == tid
    view = server.wait(tid)
    assert view["status"] == "finished" and view["cells_done"] == view["cells_total"] > 0
    spec = make_spec("roundrobin", [str(server.data / "agents" / f"{ids[n]}.ckpt") for n in ("tft", "alld", "allc")],
                     episodes=8, seeds=2, seed=3)
    report, info = run_tournament(spec, db=str(tmp_path / "cli.sqlite"))
    assert info.id == tid
    # The API writes floats as `--json` does (float32 precision, issue 10), from the same numbers.
    assert view["report"]["roundrobin"] == json.loads(numfmt.dumps(report["roundrobin"]))
    ours, theirs = Store(server.data / "tournaments.sqlite").cells(tid), Store(tmp_path / "cli.sqlite").cells(tid)
    assert [c.index for c in ours] == [c.index for c in theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.returns, b.returns)
        assert a.match_seed == b.match_seed
    # The CLI reads the server's store: `arena tournament show` on its data dir.
    out = subprocess.run([sys.executable, "-m", "arena.cli", "tournament", "show", tid[:8], "--db",
                          str(server.data / "tournaments.sqlite"), "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["id"] == tid
    matches = server.http.get("/api/v1/matches", params={"tournament": tid}).json()["matches"]
    assert len(matches) == view["cells_total"] and all(m["status"] == "ok" for m in matches)
    one = server.http.get(f"/api/v1/matches/{matches[0]['id']}").json()
    assert one["episodes"] == 8 and len(one["returns"]) == 2 and one["returns"][0]["low"] <= one["returns"][0]["mean"]
    replay = server.http.get(one["replay"])
    assert replay.status_code == 200 and replay.content[:1] != b"{"
    part = server.http.get(one["replay"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == replay.content[:10]
    lines = server.http.get("/api/v1/export", params={"env": "ipd"}).text.splitlines()
    assert {json.loads(line)["match"] for line in lines} >= {m["id"] for m in matches}


def test_cancel_drops_queued_jobs_and_keeps_finished_cells(server, ids):
    request = {"mode": "roundrobin", "agents": [ids["tft"], ids["alld"], ids["allc"]], "episodes": 256, "seeds": 6,
               "env_kwargs": {"rounds": 300}, "seed": 11}
    tid = server.tournament(request).json()["id"]
    view = server.http.delete(f"/api/v1/tournaments/{tid}", headers=server.auth()).json()
    assert view["status"] == "cancelled"
    time.sleep(1.0)
    after = server.http.get(f"/api/v1/tournaments/{tid}").json()
    assert after["status"] == "cancelled" and after["cells_done"] < after["cells_total"]
    assert after["jobs"].get("queued", 0) == 0
    resumed = server.tournament(request)  # the same spec again resumes it
    assert resumed.status_code == 202 and resumed.json()["id"] == tid
    server.http.delete(f"/api/v1/tournaments/{tid}", headers=server.auth())


def test_client_without_a_server_says_so_in_one_line(tmp_path):
    env = {**os.environ, "ARENA_SERVER": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-m", "arena.cli", "remote", "status", "0123456789ab"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode != 0 and "no arena server at http://127.0.0.1:9" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_a_served_replay_is_the_cell_own_episodes_bit_for_bit(tmp_path):
    """A cell's replay is recorded by the call that played the cell (64 episodes at once): its
    states are the cell's to the last bit (a 4-episode re-play rounded mpe_tag's velocities
    otherwise), its returns are the cell's, and verify passes at the width it records."""
    from arena.replay import open_replay
    from arena.runner import run_match
    from arena.server.config import ServerConfig
    from arena.server.service import Service
    from arena.server.worker import Worker
    from arena.verify import recorded_batch, verify_traces

    service = Service(ServerConfig(data=tmp_path, replay_episodes=4))
    ids = []
    for name, side, seed in (("pred-a", "predators", 0), ("pred-b", "predators", 1), ("prey", "prey", 2)):
        manifest, params = new_agent("random", "mpe_tag", side=side, name=name, seed=seed)
        save_checkpoint(tmp_path / f"{name}.ckpt", manifest, params)
        ids.append(service.submit_agent((tmp_path / f"{name}.ckpt").read_bytes())[0]["id"])
    view, _ = service.create_tournament({"mode": "roundrobin", "agents": ids, "env": "mpe_tag", "episodes": 64})
    lease = service.jobs.lease(seconds=600)
    out = Worker(str(tmp_path / "scratch")).play(service.payload(lease))
    service.complete(lease, out)
    prep = service.prepared(view["id"])
    assert len(out["cells"]) == 2
    for row in out["cells"]:
        cell = prep.cells[row["index"]]
        replay = open_replay(service.replay_file(f"{view['id']}-{cell.index}"))
        episodes = replay.episodes
        assert len(episodes) == 4 and recorded_batch(replay.header) == 64
        lineup = [prep.loaded[i] for i in cell.lineup]
        own = run_match(prep.env, [a.agent for a in lineup], [a.params for a in lineup], episodes=64,
                        seed=cell.match_seed, record=4)
        for k, ep in enumerate(episodes):
            assert np.array_equal(ep.rewards.sum(axis=0), row["returns"][k])
            np.testing.assert_array_equal(ep.states[".p_vel"][1:], np.asarray(own.steps.env_state.p_vel)[:, k])
            np.testing.assert_array_equal(ep.states[".p_pos"][1:], np.asarray(own.steps.env_state.p_pos)[:, k])
        assert verify_traces(episodes, batch=recorded_batch(replay.header)).ok


def test_a_late_result_from_an_abandoned_lease_is_refused(tmp_path, ipd_agents):
    """fishtest's rule: a lease that ran out and was given again cannot complete; the one
    that holds it can, once (a repeated completion is refused too: nothing counts twice)."""
    from arena.server.config import ServerConfig
    from arena.server.jobs import StaleLease
    from arena.server.service import Service
    from arena.server.worker import Worker

    service = Service(ServerConfig(data=tmp_path))
    ids = [service.submit_agent(ipd_agents[n].read_bytes())[0]["id"] for n in ("tft", "alld")]
    view, _ = service.create_tournament({"mode": "roundrobin", "agents": ids, "episodes": 4, "pairs": [[0, 1]]})
    old = service.jobs.lease(seconds=0.0)
    out = Worker(str(tmp_path / "scratch")).play(service.payload(old))
    assert service.jobs.sweep(now=time.time() + 1) == 1  # the lease ran out: back to the queue
    new = service.jobs.lease(seconds=60)
    assert new.job == old.job and new.token != old.token
    with pytest.raises(StaleLease):
        service.complete(old, out)
    assert service.store.done_cells(view["id"]) == set()
    assert not service.jobs.heartbeat(old, 60) and service.jobs.heartbeat(new, 60)
    service.complete(new, out)
    done = service.store.done_cells(view["id"])
    assert done == set(new.cells)
    with pytest.raises(StaleLease):
        service.complete(new, out)
    assert service.tournament_view(view["id"])["status"] == "finished"


def test_sigkill_at_several_points_loses_nothing(tmp_path, ipd_agents):
    """Kill -9 the server right after a tournament is posted, then twice while it plays;
    each restart goes on; the end equals an uninterrupted run, with no cell stored twice."""
    data = tmp_path / "server"
    request = {"mode": "roundrobin", "episodes": 2048, "seeds": 2, "seed": 5, "env_kwargs": {"rounds": 50}}
    server = Server(data)
    request["agents"] = [server.upload(ipd_agents[n].read_bytes()).json()["id"] for n in ("tft", "alld", "allc")]
    tid = server.tournament(request).json()["id"]
    server.kill()  # 1: queued, nothing played
    server = Server(data)
    total = server.http.get(f"/api/v1/tournaments/{tid}").json()["cells_total"]
    seen = []
    for target in (2, total // 2):  # 2, 3: mid-run
        deadline = time.time() + 240
        while time.time() < deadline:
            view = server.http.get(f"/api/v1/tournaments/{tid}").json()
            if view["cells_done"] >= target or view["status"] == "finished":
                break
            time.sleep(0.05)
        seen.append(view["cells_done"])
        workers = children(server.proc.pid)
        server.kill()
        server = Server(data)
    try:
        final = server.wait(tid)
    finally:
        server.stop()
    assert workers, "the server had no worker process to orphan"
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers), "worker processes outlived the server they belonged to"
    assert seen[-1] < total, f"the kills came too late to interrupt anything: {seen} of {total}"
    assert final["status"] == "finished" and final["cells_done"] == total
    spec = make_spec("roundrobin", [str(data / "agents" / f"{a}.ckpt") for a in request["agents"]], episodes=2048, seeds=2,
                     seed=5, env_kwargs={"rounds": 50})
    reference, _ = run_tournament(spec, db=str(tmp_path / "cli.sqlite"))
    assert final["report"]["roundrobin"] == json.loads(numfmt.dumps(reference["roundrobin"]))
    store = Store(data / "tournaments.sqlite")
    rows = store.db.execute("SELECT cell, COUNT(*) FROM cells WHERE tournament = ? GROUP BY cell", (tid,)).fetchall()
    assert len(rows) == total and all(n == 1 for _, n in rows)
    ours = {c.index: c for c in store.cells(tid)}
    for c in Store(tmp_path / "cli.sqlite").cells(tid):
        np.testing.assert_array_equal(ours[c.index].returns, c.returns)


def children(pid: int) -> list[int]:
    """Linux: the processes whose parent is `pid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, ipd_agents):
    """A server with an IPD ladder from the start, four scripted agents submitted."""
    folder = tmp_path_factory.mktemp("ladder-agents")
    s = Server(tmp_path_factory.mktemp("ladder"), "--ladder", "ipd")
    paths = [*ipd_agents.values(), mlp_policy(folder / "mostly_d.ckpt", "mostly_d", RULES["mostly_d"])]
    ids = {path.stem: s.upload(path.read_bytes()).json()["id"] for path in paths}
    yield s, ids
    s.stop()


def played_board(server) -> dict:
    """The IPD leaderboard once the ladder has played every agent 3 times (each test waits for
    it: under xdist a test may get a fresh ladder of its own)."""
    deadline = time.time() + 240
    while time.time() < deadline:
        board = server.http.get("/api/v1/leaderboard", params={"env": "ipd"}).json()
        if len(board["rows"]) == 4 and min(r["matches"] for r in board["rows"]) >= 3:
            return board
        time.sleep(0.5)
    raise AssertionError(f"the ladder did not play every agent 3 times: {board}")


def test_the_ladder_match_makes_and_ranks(ladder):
    server, ids = ladder
    board = played_board(server)
    assert board["score"] == "Elo" and "uncertainty" in board["policy"] and board["rounds"] >= 1
    rows = {r["name"]: r for r in board["rows"]}
    assert board["rows"][0]["name"] == "alld" and rows["alld"]["rank"] == 1  # defection wins every IPD episode it plays
    assert rows["allc"]["rating"] < rows["alld"]["rating"]
    for r in board["rows"]:
        assert 1 <= r["rank_ub"] <= r["rank"] and r["episodes"] > 0
        if r["prior_dominated"]:  # alld never loses: the fit is separated, its values set by the prior (issue 10)
            assert r["low"] is None and r["high"] is None and r["provisional"]
        else:
            assert r["low"] <= r["rating"] <= r["high"]
    ladder_view = server.http.get("/api/v1/ladders").json()["ladders"]
    assert [(lv["env"], lv["mode"], lv["members"]) for lv in ladder_view] == [("ipd", "roundrobin", 4)]
    agent = server.http.get(f"/api/v1/agents/{ids['alld']}").json()
    assert agent["ratings"]["ipd"]["rank"] == 1
    # The ladder's rounds are tournaments like any other: pairs, not the full round-robin.
    rounds = [t for t in server.http.get("/api/v1/tournaments").json()["tournaments"]]
    assert rounds and all(t["mode"] == "roundrobin" for t in rounds)
    assert one_line_error(server.http.get("/api/v1/leaderboard", params={"env": "mpe_tag"}), 404)


def test_leaderboard_numbers_are_float32_rounded(ladder):
    server, _ = ladder
    rows = played_board(server)["rows"]
    numbers = [r[k] for r in rows for k in ("rating", "low", "high") if r[k] is not None]
    assert numbers and all(x == numfmt.float32_round(x) for x in numbers), numbers  # 1623.4568, not 1623.456789012345


def test_a_round_by_role_compares_pairs_of_a_role_on_common_opponents():
    # Predators 0, 1, 2 and prey 3, 4, nothing played yet; 1 and 4 have used up their budget together.
    role = [0, 0, 0, 1, 1]
    budget = np.zeros((5, 5), int)
    budget[1, 4] = budget[4, 1] = 512
    played = Played(members=[{}] * 5, pair_episodes=budget, matches=np.zeros(5, int), games=Games((), (), ()), team={},
                    recent=[], leagues=[([0, 1, 2], Games((), (), ())), ([3, 4], Games((), (), ()))], role=role)

    def allowed(i, j):
        return role[i] != role[j] and budget[i, j] < 512

    for seed in range(5):
        cells = role_round(LadderConfig("mpe_tag", pairs_per_round=2), played, allowed, np.random.default_rng(seed))
        assert cells and len(set(cells)) == len(cells)
        assert all(role[a] == 0 and role[b] == 1 and allowed(a, b) for a, b in cells)  # predators first, never themselves
        prey_of = {a: {b for x, b in cells if x == a} for a, _ in cells}
        together = [(a, b) for a in prey_of for b in prey_of if a < b and prey_of[a] & prey_of[b]]
        assert together  # two predators met the same prey: the round compares them
        assert any(prey == {3, 4} for prey in prey_of.values())  # and the two prey met the same predator


@pytest.fixture(scope="module")
def tag_ladder(tmp_path_factory):
    """A server with an mpe_tag ladder: the zoo's PPO predators and prey, and scripted ones
    that stand still (and random predators)."""
    folder = tmp_path_factory.mktemp("tag-agents")
    paths = [zoo_path("ppo-tag-s0-predators"), zoo_path("ppo-tag-s0-prey")]
    for name, arch, side, config in (("still-predators", "scripted", "predators", {"rule": "constant", "action": 0}),
                                     ("still-prey", "scripted", "prey", {"rule": "constant", "action": 0}),
                                     ("random-predators", "random", "predators", {})):
        manifest, params = new_agent(arch, "mpe_tag", side=side, config=config, name=name)
        paths.append(folder / f"{name}.ckpt")
        save_checkpoint(paths[-1], manifest, params)
    s = Server(tmp_path_factory.mktemp("tag-ladder"))
    ids = {}
    for path in paths:
        resp = s.upload(path.read_bytes())
        assert resp.status_code == 201, resp.text
        ids[resp.json()["name"]] = resp.json()["id"]
    made = s.http.post("/api/v1/ladders", json={"env": "mpe_tag", "episodes_per_match": 32, "pairs_per_round": 2},
                       headers=s.auth())
    assert made.status_code == 201, made.text
    yield s, ids
    s.stop()


@pytest.mark.slow
def test_the_mpe_tag_ladder_ranks_each_role_within_itself(tag_ladder, arena_cli):
    server, ids = tag_ladder
    role_of = {name: "prey" if name.endswith("prey") else "predators" for name in ids}
    deadline = time.time() + 400
    while time.time() < deadline:
        board = server.http.get("/api/v1/leaderboard", params={"env": "mpe_tag"}).json()
        if len(board["rows"]) == len(ids) and min(r["matches"] for r in board["rows"]) >= 3:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the ladder did not play every agent 3 times: {board}")
    assert board["roles"] == ["predators", "prey"] and "each role ranked within itself" in board["policy"]
    assert all(r["role"] == role_of[r["name"]] for r in board["rows"])
    for role in board["roles"]:
        rows = [r for r in board["rows"] if r["role"] == role]
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(1 <= r["rank_ub"] <= r["rank"] for r in rows)
        only = server.http.get("/api/v1/leaderboard", params={"env": "mpe_tag", "role": role}).json()["rows"]
        assert [r["id"] for r in only] == [r["id"] for r in rows]
    rank = {r["name"]: r["rank"] for r in board["rows"]}
    assert rank["ppo-tag-s0-predators"] < rank["still-predators"]  # trained predators catch more than still ones
    # Every match is predators (side 0) against prey (side 1): no role ever meets itself.
    matches = server.http.get("/api/v1/matches").json()["matches"]
    assert matches and all([role_of[n] for n in m["names"]] == ["predators", "prey"] for m in matches)
    assert "roles: predators, prey" in one_line_error(
        server.http.get("/api/v1/leaderboard", params={"env": "mpe_tag", "role": "wolves"}), 400)
    code, out, _ = arena_cli("leaderboard", "mpe_tag", "--role", "prey", "--server", server.url)
    assert code == 0 and "-- prey (ranked among prey)" in out and "predators (ranked" not in out
    assert "ppo-tag-s0-prey" in out and "still-predators" not in out


def test_ladders_are_made_by_admins(ladder):
    server, _ = ladder
    made = server.http.post("/api/v1/ladders", json={"env": "coord_game", "episodes_per_match": 8}, headers=server.auth())
    assert made.status_code == 201 and made.json()["mode"] == "crossplay"
    again = server.http.post("/api/v1/ladders", json={"env": "coord_game", "episodes_per_match": 8}, headers=server.auth())
    assert again.status_code == 200
    assert "unknown ladder field" in one_line_error(
        server.http.post("/api/v1/ladders", json={"env": "ipd", "speed": 2}, headers=server.auth()), 400)
    assert one_line_error(server.http.post("/api/v1/ladders", json={"env": "no_such_env"}, headers=server.auth()), 400)


def test_sprt_stops_when_decided_and_cancels_the_rest(ladder):
    server, ids = ladder
    request = {"mode": "sprt", "agents": [ids["alld"], ids["allc"]], "episodes": 8, "max_batches": 20,
               "sprt": {"elo0": 0, "elo1": 20}}
    resp = server.tournament(request)
    assert resp.status_code == 202
    view = server.wait(resp.json()["id"])
    assert view["status"] == "finished" and view["sprt"]["decision"] == "H1", view["sprt"]
    assert view["sprt"]["llr"] >= view["sprt"]["upper"] and len(view["batches"]) < 20
    statuses = [server.http.get(f"/api/v1/tournaments/{b}").json()["status"] for b in view["batches"]]
    assert statuses.count("finished") >= 1 and set(statuses) <= {"finished", "cancelled"}
    assert "exactly two agents" in one_line_error(server.tournament({**request, "agents": [ids["alld"]]}), 400)


def test_a_bad_agent_is_blamed_forfeits_and_is_quarantined(server, ids, tmp_path):
    # It cooperates, so it passes its self-play smoke episode; an opponent's defection breaks it.
    flaky = server.upload(mlp_policy(tmp_path / "flaky.ckpt", "flaky", RULES["allc"], blowup=(1, 3)).read_bytes())
    assert flaky.status_code in (200, 201), flaky.text  # it passes its smoke episode
    fid = flaky.json()["id"]
    request = {"mode": "roundrobin", "agents": [ids["tft"], ids["alld"], fid], "pairs": [[0, 2], [1, 2]], "episodes": 16,
               "seeds": 2, "seed": 4, "on_agent_failure": "forfeit"}
    view = server.wait(server.tournament(request).json()["id"])
    assert view["status"] == "finished", view  # a bad agent never stops the tournament or the server
    failures = view["agent_failures"]
    assert failures and {f["agent"] for f in failures} == {fid} and {f["status"] for f in failures} == {"forfeit"}
    assert all("non-finite" in f["error"] for f in failures)
    assert view["cells_done"] + view["cells_failed"] == view["cells_total"]
    assert server.http.get(f"/api/v1/agents/{fid}").json()["status"] == "quarantined"  # 4 failures >= 3
    refused = server.tournament({"mode": "selfplay", "agents": [fid], "episodes": 2})
    assert "quarantined" in one_line_error(refused, 409)
    # Matches it did not break (with tft, which never defects on a cooperator) stand.
    ok = [m for m in server.http.get("/api/v1/matches", params={"tournament": view["id"]}).json()["matches"]
          if fid in m["agents"] and m["status"] == "ok"]
    assert len(ok) == 4 and all(ids["tft"] in m["agents"] for m in ok)
    assert server.http.get("/api/v1/health").json()["status"] == "ok"


def test_the_generation_counts_only_commits_that_write(tmp_path):
    gen = Generation()
    db = Store(tmp_path / "t.sqlite", factory=gen.connection).db
    start = gen.value
    with db:
        db.execute("UPDATE agents SET name = 'x' WHERE 0")  # as the dispatcher's idle sweep
    assert gen.value == start
    with db:
        db.execute("INSERT INTO agents VALUES ('a', 'a', 'mlp', 'zoo:a', '{}')")
    assert gen.value == start + 1
    db.execute("UPDATE agents SET name = 'b'")
    db.commit()
    assert gen.value == start + 2


def test_reads_are_rendered_once_per_generation_and_never_stale(server, ids, tmp_path):
    """A polled route answers 304 while nothing was written; a read after a write sees it."""
    def settled(path):
        for _ in range(50):  # a job of an earlier test may still be writing: retry until two reads agree
            first = server.http.get(path)
            again = server.http.get(path, headers={"If-None-Match": first.headers["etag"]})
            if again.status_code == 304:
                assert first.status_code == 200 and again.content == b""
                return first
        raise AssertionError(f"{path}: never two reads of one generation")

    before = {path: settled(path) for path in ("/api/v1/agents", "/api/v1/health", "/")}
    new = server.upload(mlp_policy(tmp_path / "late.ckpt", "late", RULES["rnd"]).read_bytes())
    assert new.status_code == 201
    for path, old in before.items():
        after = server.http.get(path, headers={"If-None-Match": old.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != old.headers["etag"]
    listed = server.http.get("/api/v1/agents", headers={"If-None-Match": before["/api/v1/agents"].headers["etag"]})
    assert new.json()["id"] in [a["id"] for a in listed.json()["agents"]]
    assert server.http.get("/api/v1/health").json()["agents"] == before["/api/v1/health"].json()["agents"] + 1
    # Errors are rendered each time, and files are never cached.
    assert "etag" not in server.http.get("/api/v1/agents/0123456789ab").headers
