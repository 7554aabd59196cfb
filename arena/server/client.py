"""A small HTTP client for the CLI (urllib only, so the clients need no web stack). Every
failure is a UserError of one line: a server that is not running, a refused request."""
from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from arena.errors import UserError
from arena.paths import data_dir
from arena.server.tokens import read_local_token

DEFAULT_SERVER = "http://127.0.0.1:8765"


def server_url(given: str | None) -> str:
    return (given or os.environ.get("ARENA_SERVER") or DEFAULT_SERVER).rstrip("/")


def token(url: str) -> str | None:
    """ARENA_TOKEN, else (for a server on this machine) the admin token in the data dir."""
    if os.environ.get("ARENA_TOKEN"):
        return os.environ["ARENA_TOKEN"]
    host = urllib.parse.urlsplit(url).hostname or ""
    return read_local_token(data_dir()) if host in ("127.0.0.1", "localhost", "::1") else None


class Client:
    def __init__(self, url: str | None = None, timeout: float = 60.0):
        self.url = server_url(url)
        self.timeout = timeout

    def request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
                headers: dict | None = None, auth: bool = False, raw: bool = False):
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=dict(headers or {}))
        if content_type:
            req.add_header("Content-Type", content_type)
        if auth:
            tok = token(self.url)
            if not tok:
                raise UserError(f"{self.url} needs a token for this: set ARENA_TOKEN (`arena token new NAME` on the server makes one)")
            req.add_header("Authorization", f"Bearer {tok}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = resp.read()
        except urllib.error.HTTPError as err:
            raise UserError(f"{self.url}: {err.code} {_message(err.read())}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            raise UserError(f"no arena server at {self.url} ({reason}); start one with `arena serve` or give --server URL") from None
        return data if raw else json.loads(data)

    def get(self, path: str):
        return self.request("GET", path)

    def post_json(self, path: str, obj, headers: dict | None = None):
        return self.request("POST", path, body=json.dumps(obj).encode(), content_type="application/json",
                            headers=headers, auth=True)

    def upload(self, path: Path) -> dict:
        return self.post_file("/api/v1/agents", path, "agent.ckpt")

    def post_file(self, route: str, path: Path, filename: str, fields: dict | None = None) -> dict:
        """POST one file (multipart field `file`) and small text `fields`, with the token."""
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise UserError(f"{path}: cannot read it: {err.strerror}") from None
        boundary = "arena" + secrets.token_hex(12)
        parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                 for k, v in (fields or {}).items()]
        body = b"".join(parts) + (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", route, body=body, content_type=f"multipart/form-data; boundary={boundary}", auth=True)

    def download(self, route: str) -> bytes:
        return self.request("GET", route, raw=True)


def _message(data: bytes) -> str:
    try:
        return json.loads(data)["error"]
    except (ValueError, KeyError, TypeError):
        return data.decode("utf-8", "replace")[:200]
