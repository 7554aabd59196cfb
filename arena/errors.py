"""User-facing errors: the CLI prints them as one line and exits with code 2."""
import re


class UserError(Exception):
    """Something the user gave (a file, a flag, a spec) is wrong; the message says what to do."""

    exit_code = 2


class CheckpointError(UserError):
    """A checkpoint or manifest that cannot be loaded. The message starts with the file."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class IncompatibleAgents(UserError):
    """Agents that cannot play this env or each other."""


class FieldError(UserError):
    """A setting with a bad value. The message names settings as the library knows them, in
    backticks (`pool`, `record_episodes`); the CLI shows each as its flag (--pool,
    --record-episodes), in one place (`arena.cli.as_flags`)."""

    @property
    def fields(self) -> list[str]:
        return re.findall(r"`(\w+)`", str(self))
