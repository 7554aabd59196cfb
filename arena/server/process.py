"""`arena serve` in a child process, for the tests, the benchmarks and scripts that want a
real server on loopback: started on port 0, its URL read from what it prints."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class ServerProcess:
    def __init__(self, data: str | os.PathLike, *args: str, timeout: float = 60.0):
        self.data = Path(data)
        self.proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "serve", "--port", "0", "--data", str(self.data), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        self.lines: list[str] = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited: {self.proc.stderr.read()[-2000:]}")
            self.lines.append(line)
            if line.startswith("arena server on "):
                self.url = line.split()[3]
                break
        else:
            self.proc.kill()
            raise RuntimeError(f"the server did not start within {timeout:.0f} s")
        self.token = (self.data / "admin.token").read_text().strip()
        # Keep reading both pipes: a full pipe would block the server on its next log line.
        self.log: list[str] = []
        for pipe, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.log)):
            threading.Thread(target=_drain, args=(pipe, sink), daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (the crash the job queue must survive)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _drain(pipe, sink: list[str]) -> None:
    for line in pipe:
        sink.append(line)
