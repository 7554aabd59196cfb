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

import jax
import numpy as np
import pytest
from serving import Server, ckpt

from arena.checkpoint import new_agent, save_checkpoint
from arena.tournaments.spec import make_spec
from arena.tournaments.store import Store
from arena.tournaments.tournament import run_tournament

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def ipd_agents(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agents")
    return {name: ckpt(folder, name, rule) for name, rule in
            [("tft", "tit_for_tat"), ("alld", "always_defect"), ("allc", "always_cooperate")]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("server"))
    yield s
    s.stop()


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
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
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
    assert view["report"]["ratings"] == json.loads(json.dumps(report["ratings"]))
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
    request = {"mode": "crossplay", "agents": [ids["tft"], ids["alld"], ids["allc"]], "episodes": 256, "seeds": 6,
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
