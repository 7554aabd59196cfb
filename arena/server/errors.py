"""The server's user errors, each one HTTP status (the API maps them)."""
from __future__ import annotations

from arena.errors import UserError


class NotFound(UserError):
    """HTTP 404."""


class Conflict(UserError):
    """HTTP 409."""


class BadRequest(UserError):
    """HTTP 400."""
