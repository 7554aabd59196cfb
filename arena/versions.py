"""The versions of the libraries whose arithmetic a recorded match or a training run depends on.

Bit-exact re-simulation of a replay (and a checkpoint's reported numbers) hold under the jax
and jaxmarl that produced them. Replay headers and checkpoint provenance record them as
`jax_version` and `jaxmarl_version`; `arena replay verify` compares them with the installed
ones. Read from package metadata: nothing is imported.
"""
from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

LIBRARIES = ("jax", "jaxmarl")


def installed_version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """{"jax_version": ..., "jaxmarl_version": ...} of the installed libraries (None: absent)."""
    return {f"{lib}_version": installed_version(lib) for lib in LIBRARIES}


def version_mismatches(recorded: Mapping) -> list[str]:
    """'jax 0.4.30 (installed 0.4.35)' for each library `recorded` names a version of that is
    not the installed one; a record without the field (written before it existed) is silent."""
    out = []
    for lib in LIBRARIES:
        then, now = recorded.get(f"{lib}_version"), installed_version(lib)
        if isinstance(then, str) and then != now:
            out.append(f"{lib} {then} (installed {now or 'none'})")
    return out
