"""How a server runs: one frozen dataclass, filled from `arena serve`'s flags."""
from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from arena.errors import UserError

BACKENDS = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    data: Path  # the data dir: tournaments.sqlite, agents/, replays/, the admin token
    host: str = "127.0.0.1"
    port: int = 8765
    workers: int = 1  # worker processes (or Ray actors) playing jobs at once
    backend: str = "local"
    ray_address: str | None = None
    ladders: tuple[str, ...] = ()  # env ids with a continuous ladder from the start
    allow_remote: bool = False
    upload_limit: int = 64 * 2**20  # bytes of one uploaded checkpoint, counted as they stream
    lease_seconds: float = 120.0  # a job's lease; renewed by a heartbeat every lease / 4
    job_attempts: int = 3  # infra failures retried up to this many leases
    quarantine_after: int = 3  # agent failures before an agent is quarantined
    replay_episodes: int = 1  # episodes of each match recorded as its replay

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise UserError(f"unknown --backend {self.backend!r}; backends: {', '.join(BACKENDS)}")
        if self.workers < 1:
            raise UserError("--workers must be at least 1")
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port} is not a TCP port (0-65535; 0 picks a free one)")
        if not self.allow_remote and not is_loopback(self.host):
            raise UserError(f"--host {self.host} is not a loopback address: anyone who can reach it could use the "
                            "server; give --allow-remote to serve it anyway (writes still need a token)")

    @property
    def db(self) -> Path:
        return self.data / "tournaments.sqlite"

    @property
    def agents_dir(self) -> Path:
        return self.data / "agents"

    @property
    def replays_dir(self) -> Path:
        return self.data / "replays"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
