"""Imports every built-in env family so its ids register; `make` and `registered_ids` import it."""
import contextlib
import io
import sys


@contextlib.contextmanager
def _quiet_jaxmarl_import():
    """Import JaxMARL without its two lines on stdout and without losing redirections.

    jaxmarl.environments prints while probing optional submodules (arena's `--json` output
    goes to stdout), and its mabrax module resets sys.stdout and sys.stderr to
    sys.__stdout__ / sys.__stderr__, which would undo any redirection active during the
    import (click's CliRunner, contextlib.redirect_stdout). Both streams are put back.
    """
    saved = sys.stdout, sys.stderr, sys.__stdout__
    sys.stdout = sys.__stdout__ = io.StringIO()
    try:
        yield
    finally:
        sys.stdout, sys.stderr, sys.__stdout__ = saved


with _quiet_jaxmarl_import():
    from arena.envs import matrix_games, mpe_tag, overcooked  # noqa: F401
