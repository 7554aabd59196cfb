"""The Ray backend: a job played on a Ray actor gives exactly the local backend's numbers, an
actor killed mid-job surfaces as WorkerDied and its replacement replays the job to the same
numbers, jobs of one signature stay on one actor, and a real `arena serve --backend ray`
runs a tournament over HTTP to the local backend's numbers.

One small tournament serves them all: two random agents on a long IPD (random agents make the
returns depend on every seed, and the job is big enough to kill while it plays).

The tests that start Ray are marked slow (Ray's start, each actor's jax import and a cold
compile per actor make them about 40 s on two cores); the routing rules and the dispatcher's
side of recovery run without Ray."""
import concurrent.futures as cf
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from arena.checkpoint import new_agent, save_checkpoint  # noqa: E402
from arena.server.config import ServerConfig  # noqa: E402
from arena.server.executor import LocalExecutor, WorkerDied  # noqa: E402
from arena.server.service import Service  # noqa: E402

SPEC = {"mode": "roundrobin", "env": "ipd", "env_kwargs": {"rounds": 500}, "episodes": 4096}


def random_agent(folder: Path, name: str, seed: int) -> Path:
    manifest, params = new_agent("random", "ipd", seed=seed, name=name)
    path = folder / f"{name}.ckpt"
    save_checkpoint(path, manifest, params)
    return path


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agents")
    return [random_agent(folder, "rnd-a", 0), random_agent(folder, "rnd-b", 1)]


@pytest.fixture(scope="module")
def service(agents, tmp_path_factory):
    """A server's state (no HTTP, no dispatcher) that has the agents; and their ids."""
    service = Service(ServerConfig(data=tmp_path_factory.mktemp("server")))
    return service, [service.submit_agent(p.read_bytes())[0]["id"] for p in agents]


@pytest.fixture(scope="module")
def jobs(service):
    """[(signature, job)] exactly as the dispatcher hands them to an executor."""
    service, ids = service
    service.create_tournament({**SPEC, "agents": ids})
    out = []
    while (lease := service.jobs.lease(600)) is not None:
        out.append((lease.signature, service.payload(lease)))
    assert len(out) == 2 and len({s for s, _ in out}) == 1  # two chunks of one compiled shape
    return out


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def executor(local_futures, ray_cluster):
    from arena.server.ray_backend import RayExecutor

    ex = RayExecutor(2)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def local_futures(jobs):
    """The jobs on the local backend, started before Ray is (they play while it starts)."""
    ex = LocalExecutor(1)
    yield [ex.submit(job, sig) for sig, job in jobs]
    ex.close()


@pytest.fixture(scope="module")
def local_results(local_futures, executor):
    return [f.result(timeout=600) for f in local_futures]


def assert_same(a: dict, b: dict) -> None:
    assert a["failure"] is None and b["failure"] is None
    assert [c["index"] for c in a["cells"]] == [c["index"] for c in b["cells"]]
    for x, y in zip(a["cells"], b["cells"]):
        assert np.array_equal(x["returns"], y["returns"]) and np.array_equal(x["length"], y["length"])
        assert x["metrics"].keys() == y["metrics"].keys()
        assert all(np.array_equal(x["metrics"][k], y["metrics"][k]) for k in x["metrics"])
    assert a["replays"].keys() == b["replays"].keys()
    for k in a["replays"]:
        x, y = replay(a["replays"][k]), replay(b["replays"][k])
        assert x.header == y.header and len(x.index) == len(y.index) > 0
        assert all(x.columns(i) == y.columns(i) for i in range(len(x.index)))


def replay(data: bytes):
    """A replay from its bytes, with what depends on the worker left out of its header: the
    write time, and where the worker keeps the agents (it names them by content)."""
    from arena.replay.reader import open_replay

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.replay"
        path.write_bytes(data)
        out = open_replay(path)
    out.header.pop("created")
    meta = out.header["meta"]
    meta["agents"] = [Path(a).name for a in meta["agents"]]
    return out


@pytest.mark.slow
def test_ray_results_equal_local(executor, jobs, local_results):
    futures = [executor.submit(job, sig) for sig, job in jobs]
    for got, want in zip([f.result(timeout=600) for f in futures], local_results):
        assert_same(got, want)
    assert np.std(local_results[0]["cells"][0]["returns"]) > 0  # random play: the seeds matter


@pytest.mark.slow
def test_same_signature_same_actor(executor, jobs):
    sig, job = jobs[0]
    first = executor.submit(job, sig)
    first.result(timeout=600)
    second = executor.submit(job, sig)
    second.result(timeout=600)
    assert first.slot == second.slot
    assert executor.routes[sig][0] == first.slot
    # another signature, while the first's actor is busy, goes to the other (least-loaded) actor
    busy = executor.submit(job, sig)
    other = executor.submit(job, "another-signature")
    assert other.slot != busy.slot
    busy.result(timeout=600), other.result(timeout=600)
    assert executor.pid(first.slot) != executor.pid(other.slot)


@pytest.mark.slow
def test_killed_actor_is_worker_died_and_nothing_is_lost(executor, jobs, local_results):
    sig, job = jobs[0]
    slot = executor.routes[sig][0]
    old_pid = executor.pid(slot)
    future = executor.submit(job, sig)
    assert future.slot == slot
    time.sleep(0.3)  # a warm run of this job takes about a second
    assert not future.done(), "the job finished before the kill; make it bigger"
    ray.kill(executor.slots[slot].actor)
    with pytest.raises(WorkerDied):
        future.result(timeout=120)
    executor.recover()
    again = executor.submit(job, sig)
    assert again.slot == slot  # the signature routes to the replacement
    assert_same(again.result(timeout=600), local_results[0])
    assert executor.pid(slot) != old_pid


def test_routing_spills_to_idle_actors():
    """The routing rules on the bookkeeping alone (no Ray calls)."""
    from arena.server.ray_backend import RayExecutor, _Slot

    ex = object.__new__(RayExecutor)
    ex.spill, ex.routes = True, {}
    ex.slots = [_Slot(None), _Slot(None), _Slot(None)]
    assert ex._route("a") == 0
    ex.slots[0].load = 1
    assert ex._route("b") == 1  # new signature: least loaded
    ex.slots[1].load = 1
    assert ex._route("a") == 2  # home busy, slot 2 idle: spill there
    assert ex.routes["a"] == [0, 2]
    ex.slots[2].load = 1
    assert ex._route("a") in (0, 2)  # everyone busy: stay home
    ex.slots[0].load = 0
    assert ex._route("a") == 0
    ex.spill = False
    ex.slots[0].load = 5
    assert ex._route("b") == 1


class FakeExecutor:
    """Futures the test settles by hand."""

    workers = 2
    recover_keeps_inflight = True

    def __init__(self):
        self.futures: list[cf.Future] = []
        self.recovered = 0

    def submit(self, job, signature):
        self.futures.append(cf.Future())
        return self.futures[-1]

    def recover(self):
        self.recovered += 1

    def close(self):
        pass


def wait_for(cond, timeout=30.0):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_dispatcher_keeps_the_other_jobs_when_the_executor_does(service, jobs):
    """One actor died: its job is retried, and the job another actor plays keeps its lease
    (a process pool's restart would lose it, so there the dispatcher queues it again)."""
    from arena.server.dispatcher import Dispatcher

    service, ids = service
    for episodes in (8, 16):  # two tournaments of one job each: two jobs in flight
        service.create_tournament({**SPEC, "env_kwargs": {"rounds": 10}, "episodes": episodes, "agents": ids})
    ex = FakeExecutor()
    dispatcher = Dispatcher(service, ex, poll=0.02)
    dispatcher.start()
    try:
        wait_for(lambda: len(ex.futures) == 2)
        dead, alive = ex.futures
        dead.set_exception(WorkerDied("Ray actor 0 died"))
        wait_for(lambda: len(ex.futures) >= 3)  # the dead one's job, leased and played again
    finally:
        dispatcher.stop()
        dispatcher.join(10)
    assert ex.recovered == 1 and dispatcher.errors == []
    assert alive in dispatcher.inflight
    service.jobs.check(dispatcher.inflight[alive])  # its lease is still held


# ------------------------------------------------------------ a real server


class ServerProc:
    def __init__(self, data: Path, *args: str):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "serve", "--port", "0", "--data", str(data), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.url = None
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"arena server on (http://\S+)", line)
                if m:
                    self.url = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(180) or self.url is None:
            self.stop()
            raise AssertionError("the server did not start:\n" + "".join(self.lines[-40:]))
        self.data = data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_remote(server: ServerProc, agents: list[Path]) -> str:
    """Upload the agents and ask for the tournament; its id."""
    from arena.server.client import Client
    from arena.server.tokens import read_local_token

    os.environ["ARENA_TOKEN"] = read_local_token(server.data)
    try:
        client = Client(server.url, timeout=120)
        ids = [client.upload(p)["id"] for p in agents]
        return client.post_json("/api/v1/tournaments", {**SPEC, "agents": ids})["id"]
    finally:
        del os.environ["ARENA_TOKEN"]


def wait_remote(server: ServerProc, tid: str) -> dict:
    from arena.server.client import Client

    client = Client(server.url, timeout=120)
    deadline = time.time() + 600
    while (view := client.get(f"/api/v1/tournaments/{tid}"))["status"] not in ("finished", "failed", "cancelled"):
        assert time.time() < deadline, view
        time.sleep(0.3)
    assert view["status"] == "finished", view
    lines = client.request("GET", "/api/v1/export", raw=True).decode().splitlines()
    return {"view": view, "matches": sorted((json.loads(x) for x in lines), key=lambda m: m["match"])}


@pytest.mark.slow
def test_server_on_ray_equals_local(agents, tmp_path):
    """Both servers at once (each its own process; the ray one starts its own Ray)."""
    servers = []
    try:
        servers.append(ServerProc(tmp_path / "ray", "--backend", "ray"))
        servers.append(ServerProc(tmp_path / "local"))
        tids = [start_remote(s, agents) for s in servers]  # both play at once
        on_ray, on_local = [wait_remote(s, tid) for s, tid in zip(servers, tids)]
    finally:
        for s in servers:
            s.stop()
    assert "ray worker(s)" in "".join(servers[0].lines)
    assert on_ray["view"]["id"] == on_local["view"]["id"]
    assert len(on_ray["matches"]) == on_ray["view"]["cells_total"] == 4
    for a, b in zip(on_ray["matches"], on_local["matches"]):
        assert a["match"] == b["match"] and a["status"] == b["status"] == "ok"
        assert a["returns"] == b["returns"] and a["length"] == b["length"] and a["metrics"] == b["metrics"]
    # the reports equal too, but for where each server keeps its agents
    reports = [json.dumps(r["view"]["report"], sort_keys=True).replace(str(s.data), "DATA") for r, s in zip((on_ray, on_local), servers)]
    assert reports[0] == reports[1]


def test_a_bad_ray_address_fails_fast():
    from arena.errors import UserError
    from arena.server.ray_backend import _check_reachable

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = time.time()
    with pytest.raises(UserError, match="no Ray cluster at"):
        _check_reachable(f"127.0.0.1:{port}")
    assert time.time() - t < 6


def test_without_ray_the_backend_says_how_to_get_it(monkeypatch):
    import importlib

    from arena.errors import UserError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.delitem(sys.modules, "arena.server.ray_backend", raising=False)
    with pytest.raises(UserError, match=r"pip install 'arena\[ray\]'"):
        importlib.import_module("arena.server.ray_backend")
