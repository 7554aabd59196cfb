"""Imports go one way: core <- envs <- agents <- (tournaments | viewer) <- commands.

Every module's imports are read from its source (top level and inside functions). An edge that
goes up a layer, or sideways between tournaments and viewer, fails; so does a function-level
import of anything but the heavy libraries deferred for start-up time. The wiring layer
(arena/commands, arena/cli.py) may defer its own imports: each command loads what it uses.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Source folder -> import name, as pyproject.toml's package-dir maps them.
PACKAGES = {"arena": "arena", "envs": "arena.envs", "agents": "arena.agents",
            "tournaments": "arena.tournaments", "viewer": "arena.viewer"}
WIRING = ("arena.commands", "arena.cli", "arena.server")
RANK = {"arena": 0, "arena.envs": 1, "arena.agents": 2, "arena.tournaments": 3, "arena.viewer": 3}
# Third-party modules heavy enough at import that a function may defer them.
DEFERRABLE = {"jax", "jaxlib", "jaxmarl", "flax", "optax", "chex", "pygame", "matplotlib", "imageio",
              "imageio_ffmpeg", "safetensors", "openskill", "rich", "ray", "uvicorn", "fastapi"}


def modules() -> list[tuple[str, Path]]:
    out = []
    for folder, name in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out.append((".".join([name, *parts]), path))
    return out


def layer(module: str) -> str:
    """The layer a module belongs to: wiring, or the deepest package that contains it."""
    if any(module == w or module.startswith(w + ".") for w in WIRING):
        return "wiring"
    for pkg in ("arena.envs", "arena.agents", "arena.tournaments", "arena.viewer"):
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    return "arena"


def imports(path: Path, module: str):
    """(imported module, line, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else []))
                found.extend((f"{base}.{a.name}" if base.startswith("arena") else base, child.lineno, in_function)
                             for a in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


def violations() -> list[str]:
    bad = []
    for module, path in modules():
        mine = layer(module)
        for target, _line, in_function in imports(path, module):
            where = f"{path.relative_to(ROOT)}"
            top = target.split(".")[0]
            if top != "arena":
                if in_function and mine != "wiring" and top not in DEFERRABLE and top != "__future__":
                    bad.append(f"{where}: function-level import of {target} (only heavy libraries may be deferred)")
                continue
            theirs = layer(target)
            if in_function and mine != "wiring":
                bad.append(f"{where}: function-level import of {target} (import it at the top of the module)")
            if theirs == "wiring" and mine != "wiring":
                bad.append(f"{where}: {module} imports the wiring layer ({target})")
            elif mine != "wiring" and theirs != mine and RANK[theirs] >= RANK[mine]:
                kind = "sideways" if RANK[theirs] == RANK[mine] else "up"
                bad.append(f"{where}: {module} ({mine}) imports {target} ({theirs}): {kind}")
    return bad


def test_imports_go_one_way():
    bad = violations()
    assert not bad, f"{len(bad)} import(s) against the layers:\n" + "\n".join(bad)


@pytest.mark.parametrize("module, target, expected", [
    ("arena.runner", "arena.envs.core", "up"),
    ("arena.tournaments.human", "arena.viewer.app", "sideways"),
    ("arena.envs.overcooked", "arena.agents.ppo", "up"),
])
def test_the_rule_catches_edges(module, target, expected):
    # The checker itself must be able to fail: these edges are against the layers.
    mine, theirs = layer(module), layer(target)
    assert RANK[theirs] >= RANK[mine]
    assert ("sideways" if RANK[theirs] == RANK[mine] else "up") == expected


def test_every_module_is_seen():
    names = {m for m, _ in modules()}
    assert {"arena.runner", "arena.envs.overcooked", "arena.agents.softmoe_gru", "arena.viewer.app"} <= names
