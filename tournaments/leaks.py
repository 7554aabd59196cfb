"""The leak flag of zero-shot tournaments: is a pool partner really held out from a focal agent?

A zero-shot score means something only if the focal agent never trained with its partner.
Read from the two manifests (plain dicts, as the results store keeps them), a partner leaks
when any of these holds, first match reported:

- its params are those of one of the focal agent's training runs: the focal agent itself
  (self-play trains with its own copy) or a member of a focal ensemble (`provenance.members`,
  each with its params `sha256`); scripted agents, which have no params, never match here;
- it is named (by name or params sha256) among the focal agent's recorded training partners
  (`provenance.partners`), or the focal agent is among the partner's;
- it was trained on the same env with the same shaping weights (`provenance.shaping`) and
  the same seed as one of those runs: arena's training is deterministic, so that is the same
  run again under another name.

Sharing a seed alone, or a shaping alone, is not a leak: the partner's conventions then come
from a run the focal agent never met.
"""
from __future__ import annotations

# Scripted agents have no params: their shared sha (of the empty params file) says nothing
# about training. A constant, so reports import no jax (tests check it is that sha).
NO_PARAMS = "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71"


def _prov(manifest: dict) -> dict:
    return manifest.get("provenance") or {}


def _sha(manifest: dict) -> str | None:
    sha = (manifest.get("params") or {}).get("sha256")
    return None if sha == NO_PARAMS else sha


def training_runs(manifest: dict) -> list[dict]:
    """The runs whose partners a focal agent met: itself, or each member of an ensemble,
    as {name, sha256, seed, shaping} (fields absent where provenance lacks them)."""
    prov = _prov(manifest)
    members = prov.get("members")
    if isinstance(members, list) and members:
        return [{**m, "sha256": None if m.get("sha256") == NO_PARAMS else m.get("sha256")}
                for m in members if isinstance(m, dict)]
    return [{"name": manifest.get("name"), "sha256": _sha(manifest),
             **{k: prov[k] for k in ("seed", "shaping") if k in prov}}]


def leak(focal: dict, partner: dict) -> str | None:
    """Why `partner` is not held out from `focal` (both manifests as dicts), or None."""
    sha, name = _sha(partner), partner.get("name")
    prov = _prov(partner)
    runs = training_runs(focal)
    for run in runs:
        if sha and run.get("sha256") == sha:
            return f"its params are {run.get('name') or 'a training run'}'s, which {focal.get('name')} trained with"
    recorded = {str(p) for p in _prov(focal).get("partners") or []}
    if recorded & ({str(name)} | ({sha} if sha else set())):
        return f"{focal.get('name')} records it as a training partner"
    if str(focal.get("name")) in {str(p) for p in prov.get("partners") or []}:
        return f"it records {focal.get('name')} as a training partner"
    if "shaping" in prov and "seed" in prov and partner.get("env") == focal.get("env"):
        for run in runs:
            if run.get("shaping") == prov["shaping"] and run.get("seed") == prov["seed"]:
                return f"same env, shaping and seed as {run.get('name')}: the same training run"
    return None
