"""Helpers for tests that talk to a real `arena serve`: the server in a subprocess on port 0
with an HTTP client, and IPD agents of known strategy to submit to it."""
import time

import httpx
import jax
import numpy as np

from arena.checkpoint import new_agent, save_checkpoint
from arena.server.process import ServerProcess


class Server(ServerProcess):
    """A real server with an HTTP client and the calls the tests repeat."""

    def __init__(self, data, *args):
        super().__init__(data, *args)  # which keeps draining the server's pipes
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
        super().kill()
        self.http.close()

    def stop(self):
        super().stop()
        self.http.close()


C, D = (50.0, -50.0), (-50.0, 50.0)  # logits that always cooperate, always defect
# IPD obs: one-hot of the last round (own, other) = CC, CD, DC, DD, then a first-round flag.
RULES = {"tft": [C, D, C, D, C], "alld": [D] * 5, "allc": [C] * 5, "rnd": [(0.0, 0.0)] * 5, "mostly_d": [(-1.0, 1.0)] * 5}


def mlp_policy(path, name, logits, blowup=()):
    """An mlp_actor_critic whose logits are a table over the IPD observation (hidden unit k
    is on when feature k is), so strategies are known and every agent shares one compiled
    function. Features in `blowup` overflow to non-finite logits instead."""
    manifest, params = new_agent("mlp_actor_critic", "ipd", seed=0, name=name)
    p = jax.tree.map(np.zeros_like, params)["params"]
    bias = np.asarray(logits[4])
    p["Dense_0"]["kernel"][:5, :5] = 10 * np.eye(5)
    p["Dense_1"]["kernel"][:5, :5] = 3 * np.eye(5)
    p["Dense_2"]["bias"][:] = bias
    for k in range(4):
        p["Dense_2"]["kernel"][k] = (np.asarray(logits[k]) - bias) / np.tanh(3 * np.tanh(10))
    p["Dense_2"]["kernel"][4] = 0.0
    for k in blowup:  # units 5.. are on only for these features; 59 of them at 1e37 each pass float32's range
        p["Dense_0"]["kernel"][k, 5:] = 10.0
        p["Dense_1"]["kernel"][5:, 5:] = 3.0
        p["Dense_2"]["kernel"][5:, :] = 1e37
    save_checkpoint(path, manifest, {"params": p})
    return path
