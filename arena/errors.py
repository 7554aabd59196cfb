"""User-facing errors: the CLI prints them as one line and exits with code 2."""


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
