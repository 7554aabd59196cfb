"""Helpers for tests that talk to a real `arena serve`: the server in a subprocess on port 0,
and scripted checkpoints to submit to it."""
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque

import httpx

from arena.checkpoint import new_agent, save_checkpoint


class Server:
    """`arena serve --port 0` in a subprocess; `url` once it has printed where it listens."""

    def __init__(self, data, *args):
        self.data = data
        self.proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "serve", "--port", "0", "--data", str(data), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        self.lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited: {self.proc.stderr.read()[-2000:]}")
            self.lines.append(line)
            if line.startswith("arena server on "):
                self.url = line.split()[3]
                break
        else:
            raise RuntimeError("the server did not start within 60 s")
        # Keep reading what it prints: a full pipe would block the server mid-request.
        self.log = deque(maxlen=2000)
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        self.token = (data / "admin.token").read_text().strip()
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def auth(self, token=None):
        return {"Authorization": f"Bearer {token or self.token}"}

    def upload(self, data: bytes, token=None):
        return self.http.post("/api/v1/agents", files={"file": ("a.ckpt", data)}, headers=self.auth(token))

    def tournament(self, spec: dict, **headers):
        return self.http.post("/api/v1/tournaments", json=spec, headers={**self.auth(), **headers})

    def wait(self, tid, statuses=("finished", "failed", "cancelled"), timeout=240):
        deadline = time.time() + timeout
        while time.time() < deadline:
            view = self.http.get(f"/api/v1/tournaments/{tid}").json()
            if view["status"] in statuses:
                return view
            time.sleep(0.2)
        raise AssertionError(f"tournament {tid} still {view['status']} after {timeout} s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.http.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.http.close()


def ckpt(folder, name, rule, env="ipd", **config):
    manifest, params = new_agent("scripted", env, config={"rule": rule, **config}, name=name)
    path = folder / f"{name}.ckpt"
    save_checkpoint(path, manifest, params)
    return path
