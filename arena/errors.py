"""User-facing errors: the CLI prints them as one line and exits with code 2."""
import difflib
import re


class UserError(Exception):
    """Something the user gave (a file, a flag, a spec) is wrong; the message says what to do."""

    exit_code = 2


class FileError(UserError):
    """A file arena cannot use. The message starts with the file."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class CheckpointError(FileError):
    """A checkpoint or manifest that cannot be loaded."""


class IncompatibleAgents(UserError):
    """Agents that cannot play this env or each other."""


class FieldError(UserError):
    """A setting with a bad value. The message names settings as the library knows them, in
    backticks (`pool`, `record_episodes`); the CLI shows each as its flag (--pool,
    --record-episodes), in one place (`arena.cli.as_flags`)."""

    @property
    def fields(self) -> list[str]:
        return re.findall(r"`(\w+)`", str(self))


def did_you_mean(word: str, choices) -> str:
    """` (did you mean 'x'?)` naming the choice closest to a misspelt `word`, or "" if none is
    close (difflib's ratio of at least 0.6)."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
