"""The replay container: the magic, length + CRC frames, and where a stream tears or is damaged.

    file   = "ARENARPL" (8 bytes) | frame | frame | ...
    frame  = u32 little-endian length N | N bytes: one msgpack map | u32 LE crc32 of those N bytes

A writer appends one frame per record, so a crash leaves whole frames and at most one cut-short
one at the end. A bad frame is told apart from such a tail by looking past it: the frames carry
their length and checksum, so a whole frame anywhere after the bad bytes is found by trying each
later offset (a candidate must have a length that fits, a msgpack map's first byte, a matching
crc32 and a map body; a false match is a 1 in 2**32 event). Nothing whole after the bad frame: a
torn tail, whose whole records are kept, if the file ends inside the bad frame; damage, which
no crash makes, if the bad frame is whole (its crc32 or body is wrong) or a whole frame follows.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Iterator

import msgpack
import numpy as np

from arena.errors import FileError

MAGIC = b"ARENARPL"
U32 = struct.Struct("<I")
FRAME_OVERHEAD = 8  # the length before the body and the crc after it

# First bytes of a msgpack map (fixmap, map16, map32): every record body starts with one.
_MAP_START = np.zeros(256, bool)
_MAP_START[0x80:0x90] = True
_MAP_START[[0xDE, 0xDF]] = True
_SCAN_CHUNK = 1 << 20  # offsets tried per vectorised step (bounds the scan's memory)


class ReplayError(FileError):
    """A file that is not a replay this arena can read."""


class ReplayDamaged(ReplayError):
    """A replay whose records are damaged or hold what no writer writes (an episode whose arrays
    or shapes are wrong): a failed check like a failed `verify` (exit code 1), not a wrong
    argument. The message starts with the file."""

    exit_code = 1


def frame(record: dict) -> bytes:
    """One record as it sits in the file: length, msgpack body, crc32 of the body."""
    body = msgpack.packb(record, use_bin_type=True)
    return U32.pack(len(body)) + body + U32.pack(zlib.crc32(body))


def frame_size(data: bytes, offset: int) -> int:
    """Bytes of the whole frame starting at `offset` (one `read_records` returned)."""
    return FRAME_OVERHEAD + int(U32.unpack_from(data, offset)[0])


@dataclasses.dataclass(frozen=True)
class Torn:
    """Where a replay stops being readable: the byte offset of the first bad record and why.

    `damaged` is False for a tail cut short (the file ends inside the bad frame and nothing
    whole follows it: what a crash leaves, and the records before `offset` are all there is)
    and True for damage, which no crash makes: a whole frame with wrong bytes, whole records
    after the bad bytes, records after the footer, or a footer that disagrees with the file.
    """

    offset: int
    size: int  # file size
    reason: str
    damaged: bool = False

    def describe(self) -> str:
        return f"{'damaged' if self.damaged else 'torn'} at byte {self.offset} of {self.size}: {self.reason}"


def _read_frame(data: bytes, pos: int) -> tuple[dict | None, str, bool]:
    """(record, "", False) for a whole frame at `pos`; else (None, why not, whether the file
    ends inside the frame: the only thing a crash can do to the last record)."""
    size = len(data)
    if pos + 4 > size:
        return None, "the file ends inside a record's length", True
    (n,) = U32.unpack_from(data, pos)
    if pos + FRAME_OVERHEAD + n > size:
        return None, f"the file ends inside a record ({n} byte body, {size - pos - 4} bytes left)", True
    body = data[pos + 4 : pos + 4 + n]
    if zlib.crc32(body) != U32.unpack_from(data, pos + 4 + n)[0]:
        return None, "a record's crc32 does not match (corrupt bytes)", False
    try:
        rec = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:  # msgpack raises several types on bad bytes
        return None, "a record is not valid msgpack", False
    if not isinstance(rec, dict):
        return None, "a record is not a msgpack map", False
    return rec, "", False


def _starts_like_a_record(data: bytes, pos: int) -> bool:
    """Whether the bytes at `pos` can begin a frame, as far as the file goes: a msgpack map
    after the length, whose first key is a str. A frame cut off by the end of the file can."""
    marker = pos + 4
    if marker >= len(data):
        return True
    if not _MAP_START[data[marker]]:
        return False
    key = marker + {0xDE: 3, 0xDF: 5}.get(data[marker], 1)
    return key >= len(data) or 0xA0 <= data[key] <= 0xBF or data[key] in (0xD9, 0xDA, 0xDB)


def _frame_candidates(data: bytes, start: int) -> Iterator[int]:
    """Offsets >= start where a frame could begin: its length fits in the file and its body
    starts like a msgpack map. Vectorised: a length is read at every offset at once."""
    size = len(data)
    end = size - FRAME_OVERHEAD  # a frame with a non-empty body starts before this
    for lo in range(start, end, _SCAN_CHUNK):
        hi = min(lo + _SCAN_CHUNK, end)
        lengths = np.ndarray((hi - lo,), "<u4", buffer=data, offset=lo, strides=(1,))
        first = np.frombuffer(data, np.uint8, hi - lo, lo + 4)
        room = end - np.arange(lo, hi, dtype=np.int64)  # the longest body that fits at each offset
        fits = (lengths >= 2) & (lengths.astype(np.int64) <= room) & _MAP_START[first]
        yield from (lo + np.flatnonzero(fits)).tolist()


def next_whole_frame(data: bytes, start: int) -> int | None:
    """The offset of the first whole frame (length, map body, matching crc32) at or after
    `start`, or None. Before its crc32 is computed (the costly part, over the whole body), a
    candidate must start like a record and so must the bytes after it (or the file ends
    there): random bytes rarely pass both, so the scan stays fast on a long damaged stretch."""
    for q in _frame_candidates(data, start):
        if (_starts_like_a_record(data, q) and _starts_like_a_record(data, q + frame_size(data, q))
                and _read_frame(data, q)[0] is not None):
            return q
    return None


def read_records(data: bytes) -> tuple[list[tuple[int, dict]], Torn | None]:
    """Every whole record after the magic as (offset, map), up to the first bad frame; and where
    and why the stream stops there: a torn tail when the file ends inside that frame and no
    whole frame follows it, else damage."""
    records: list[tuple[int, dict]] = []
    pos, size = len(MAGIC), len(data)
    while pos < size:
        rec, problem, cut_short = _read_frame(data, pos)
        if rec is None:
            later = next_whole_frame(data, pos + 1)
            if later is not None:
                return records, Torn(pos, size, f"{problem}, and a whole record follows at byte {later}", damaged=True)
            if not cut_short:
                return records, Torn(pos, size, f"{problem} in a whole last record (a crash cuts a record short, "
                                                "it does not change one)", damaged=True)
            return records, Torn(pos, size, problem)
        records.append((pos, rec))
        pos += frame_size(data, pos)
    return records, None
