"""Reading replays: index the records, decode an episode when first asked for it.

Opening reads the file and its header only: no env is built and jax is never imported, so
`arena replay info` is instant. Episodes decode to EpisodeTraces whose states are
{leaf path: array}; verify and the viewer rebuild the env's pytree (`arena.states.state_tree`)
when they need it. A torn file keeps every whole episode and says where and why it tears; a
damaged one (whole records after bad bytes, a footer that disagrees) says so too, and every
episode is checked field by field and array by array before it is used (ReplayDamaged).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from arena.replay.codec import ArraySpec, check_columns, decode_columns, unpack_columns
from arena.replay.framing import MAGIC, ReplayDamaged, ReplayError, Torn, frame_size, read_records
from arena.replay.header import check_header, side_from_record
from arena.trace import EpisodeTrace, SideInfo


@dataclasses.dataclass(frozen=True)
class EpisodeIndex:
    """Where one episode's record is, and what it says without decoding its columns."""

    episode: int
    length: int
    offset: int
    size: int  # bytes of the framed record
    returns: tuple[float, ...]
    metrics: dict


class Episodes(Sequence):
    """The episodes of a replay, decoded on first access and kept (a replay holds a few)."""

    def __init__(self, replay: Replay):
        self._replay = replay
        self._cache: dict[int, EpisodeTrace] = {}

    def __len__(self) -> int:
        return len(self._replay.index)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = range(len(self))[k]
        if k not in self._cache:
            self._cache[k] = self._replay._decode(k)
        return self._cache[k]


class Replay:
    """An opened replay: `header`, `index` (per episode, cheap), `episodes` (EpisodeTraces,
    decoded lazily), `footer` (None when missing), `torn` (None when whole), `checksum_ok`
    (None without a footer)."""

    def __init__(self, path: Path, data: bytes, header: dict, records: list[tuple[int, dict]], footer: dict | None,
                 torn: Torn | None, checksum_ok: bool | None, footer_offset: int | None):
        self.path = path
        self.size = len(data)
        self.header = header
        self.footer = footer
        self.torn = torn
        self.checksum_ok = checksum_ok
        self.footer_offset = footer_offset
        self._records = records
        try:
            self.index = [
                EpisodeIndex(int(r["episode"]), int(r["length"]), off, frame_size(data, off),
                             tuple(r.get("returns") or ()), dict(r.get("metrics") or {}))
                for off, r in records
            ]
        except (KeyError, TypeError, ValueError) as err:
            raise ReplayDamaged(path, f"an episode record is malformed ({str(err)[:80]})") from None
        self.sides = tuple(side_from_record(s) for s in header["sides"])
        self.episodes = Episodes(self)

    @property
    def env_id(self) -> str:
        return self.header["env_id"]

    @property
    def env_kwargs(self) -> dict:
        return dict(self.header.get("env_kwargs") or {})

    @property
    def seats(self) -> tuple[str, ...]:
        return tuple(self.header["seats"])

    def columns(self, k: int) -> dict:
        """The raw column map of the k-th episode record (arrays still encoded)."""
        rec = self._records[k][1]
        try:
            return unpack_columns(rec.get("compression", "none"), rec["columns"])
        except Exception as err:  # zlib/msgpack raise several types on bad bytes
            raise ReplayDamaged(self.path, f"episode record {k} at byte {self.index[k].offset} has undecodable columns "
                                           f"({str(err)[:60]})") from None

    def lost(self) -> str:
        """What a torn tail cost, in words (for a warning): the episodes the header declared
        that the file lacks, and the footer with its checksum."""
        declared, kept = self.header.get("episodes"), len(self.index)
        if not isinstance(declared, int):
            parts = ["any episode after the last whole one"]
        else:
            parts = [f"{declared - kept} of the {declared} episodes the header declares"] if declared > kept else []
        if self.footer is None:
            parts.append("the footer (no checksum to check)")
        return " and ".join(parts)

    def check(self, k: int) -> dict:
        """The k-th episode's column map, every array map in it checked (dtype, encoding, shape,
        byte count) and every shape against the episode's length and the header's seats and
        sides, nothing decoded; ReplayDamaged (one line) at the first problem."""
        cols = self.columns(k)
        try:
            _check_shapes(check_columns(cols), self.index[k].length, len(self.seats), self.sides)
        except (KeyError, TypeError, ValueError) as err:
            raise ReplayDamaged(self.path, f"episode record {k} at byte {self.index[k].offset} is malformed "
                                           f"({str(err)[:120]})") from None
        return cols

    def _decode(self, k: int) -> EpisodeTrace:
        arrays = decode_columns(self.check(k))
        return EpisodeTrace(
            env_id=self.env_id,
            env_kwargs=self.env_kwargs,
            seats=self.seats,
            sides=self.sides,
            seed=int(self.header["seed"]),
            episode=self.index[k].episode,
            **arrays,
        )


def _check_shapes(arrays: dict, T: int, n_seats: int, sides: tuple[SideInfo, ...]) -> None:
    """Refuse columns (ArraySpecs) whose shapes do not fit the episode's length and the
    header's seats and sides (what the viewer and verify index by)."""

    def need(name: str, x: ArraySpec, lead: tuple[int, ...], exact: bool = True) -> None:
        if (x.shape if exact else x.shape[: len(lead)]) != lead:
            want = list(lead) if exact else f"[{', '.join(map(str, lead))}, ...]"
            raise ValueError(f"column {name} has shape {list(x.shape)}, an episode of {T} steps needs {want}")

    need("actions", arrays["actions"], (T, n_seats))
    if arrays["actions"].dtype.kind not in "iu":
        raise ValueError(f"column actions holds {arrays['actions'].dtype.name}, not integers")
    need("rewards", arrays["rewards"], (T, n_seats))
    need("dones", arrays["dones"], (T,))
    if arrays["reaction_ms"] is not None:
        need("reaction_ms", arrays["reaction_ms"], (T, n_seats))
    if len(arrays["extras"]) != len(sides):
        raise ValueError(f"column extras has {len(arrays['extras'])} sides, the header {len(sides)}")
    for i, (side, extras) in enumerate(zip(sides, arrays["extras"])):
        for name, x in extras.items():
            need(f"extras[{i}].{name}", x, (T, len(side.seats)), exact=False)
            declared = (side.extras.get(name) or {}).get("shape")
            if isinstance(declared, list) and x.shape[2:] != tuple(declared):
                raise ValueError(f"column extras[{i}].{name} has shape {list(x.shape)}, the header declares {declared} per seat")
    for path, x in arrays["states"].items():
        need(f"states {path}", x, (T + 1,), exact=False)


def open_replay(path: str | os.PathLike) -> Replay:
    """Open a replay: check its header, index its episodes, find its footer or where it tears."""
    path = Path(path)
    if not path.exists():
        raise ReplayError(path, "no such file")
    if path.is_dir():
        raise ReplayError(path, "is a folder, not a replay file")
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        if data and MAGIC.startswith(data):
            raise ReplayError(path, "replay is torn inside its first bytes: nothing to read")
        raise ReplayError(path, f"is not an arena replay (it does not start with {MAGIC.decode()})")
    records, torn = read_records(data)
    if not records:
        raise ReplayError(path, f"replay is torn before its header is complete ({torn.reason if torn else 'empty'}): nothing to read")
    header = records[0][1]
    check_header(path, header)
    episodes, footer, footer_offset = [], None, None
    for offset, rec in records[1:]:
        kind = rec.get("type")
        if footer is not None:
            torn = Torn(offset, len(data), "records after the footer", damaged=True)
            break
        if kind == "episode":
            episodes.append((offset, rec))
        elif kind == "footer":
            footer, footer_offset = rec, offset
        else:
            torn = Torn(offset, len(data), f"unknown record type {str(kind)[:20]!r}", damaged=True)
            break
    checksum_ok = None
    if footer is not None:
        checksum_ok = hashlib.sha256(data[:footer_offset]).hexdigest() == footer.get("sha256")
        promised = footer.get("episodes")
        if torn is None and footer_offset is not None and "episodes" in footer and promised != len(episodes):
            torn = Torn(footer_offset, len(data), f"the footer promises {str(promised)[:20]} episodes, "
                                                  f"the file holds {len(episodes)}", damaged=True)
    elif torn is None:
        torn = Torn(len(data), len(data), "the file ends without a footer (the writer did not finish)")
    return Replay(path, data, header, episodes, footer, torn, checksum_ok, footer_offset)
