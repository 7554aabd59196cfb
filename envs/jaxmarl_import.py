"""Import one JaxMARL module without the package `__init__`s that import every env.

`import jaxmarl` runs jaxmarl/__init__.py, which imports jaxmarl.environments, whose
`__init__` imports every family (storm alone takes over a second), prints while it probes
optional ones, and (through mabrax) resets sys.stdout: about 6 s and side effects for a
command that plays one env. `jaxmarl_module(name)` registers the packages above `name` as
stubs (module objects made from the installed package's own spec, with its `__path__`, their
`__init__` not run), so that `name`, and whatever it imports from JaxMARL, loads normally
from the installed files. A stub that is asked for an attribute it lacks (`jaxmarl.make`)
runs its package's real `__init__` first, so code that wants the whole package still gets it.

ARENA_JAXMARL_FULL_IMPORT=1 imports the whole package first instead: the old start-up path,
kept so that benchmarks/cli_latency.py can time both in one run.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
from types import ModuleType

FULL_IMPORT = "ARENA_JAXMARL_FULL_IMPORT"


def jaxmarl_module(name: str) -> ModuleType:
    """The JaxMARL module `name` (e.g. "jaxmarl.environments.mpe.simple_tag"), imported alone."""
    if name.split(".")[0] != "jaxmarl":
        raise ValueError(f"{name!r} is not a JaxMARL module")
    if os.environ.get(FULL_IMPORT) == "1":
        with quiet_jaxmarl_import():
            importlib.import_module("jaxmarl")
    else:
        parts = name.split(".")
        for k in range(1, len(parts)):
            _stub_package(".".join(parts[:k]))
    return importlib.import_module(name)


def _stub_package(name: str) -> None:
    if name in sys.modules:
        return  # imported for real, or stubbed already
    spec = importlib.util.find_spec(name)  # the parent is in sys.modules: nothing runs
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    stub = importlib.util.module_from_spec(spec)
    stub.__getattr__ = lambda attr: _missing(stub, attr)  # PEP 562: only for missing names
    sys.modules[name] = stub
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stub)


def _missing(stub: ModuleType, attr: str):
    """A name a stub lacks: a submodule is imported (`from jaxmarl.environments import
    spaces` asks for one this way); anything else needs the package's own `__init__`, which
    is run into the stub before `attr` is looked up again."""
    if importlib.util.find_spec(f"{stub.__name__}.{attr}") is not None:
        return importlib.import_module(f"{stub.__name__}.{attr}")
    del stub.__getattr__
    with quiet_jaxmarl_import():
        stub.__spec__.loader.exec_module(stub)
    return getattr(stub, attr)


@contextlib.contextmanager
def quiet_jaxmarl_import():
    """Run JaxMARL's package `__init__`s without their lines on stdout and without losing
    redirections.

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
