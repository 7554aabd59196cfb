"""The replay container: the magic, length + CRC frames, and where a stream tears.

    file   = "ARENARPL" (8 bytes) | frame | frame | ...
    frame  = u32 little-endian length N | N bytes: one msgpack map | u32 LE crc32 of those N bytes

A writer appends one frame per record, so a crash leaves whole frames and at most one torn
one at the end; `read_records` keeps every whole frame and says where and why the rest is not.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib

import msgpack

from arena.errors import UserError

MAGIC = b"ARENARPL"
U32 = struct.Struct("<I")
FRAME_OVERHEAD = 8  # the length before the body and the crc after it


class ReplayError(UserError):
    """A file that is not a replay this arena can read. The message starts with the file."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def frame(record: dict) -> bytes:
    """One record as it sits in the file: length, msgpack body, crc32 of the body."""
    body = msgpack.packb(record, use_bin_type=True)
    return U32.pack(len(body)) + body + U32.pack(zlib.crc32(body))


def frame_size(data: bytes, offset: int) -> int:
    """Bytes of the whole frame starting at `offset` (one `read_records` returned)."""
    return FRAME_OVERHEAD + U32.unpack_from(data, offset)[0]


@dataclasses.dataclass(frozen=True)
class Torn:
    """Where a replay stops being readable: the byte offset of the first bad record and why."""

    offset: int
    size: int  # file size
    reason: str

    def describe(self) -> str:
        return f"torn at byte {self.offset} of {self.size}: {self.reason}"


def read_records(data: bytes) -> tuple[list[tuple[int, dict]], Torn | None]:
    """Every whole record after the magic as (offset, map), and where the stream tears."""
    records, pos, size = [], len(MAGIC), len(data)
    while pos < size:
        if pos + 4 > size:
            return records, Torn(pos, size, "the file ends inside a record's length")
        (n,) = U32.unpack_from(data, pos)
        if pos + FRAME_OVERHEAD + n > size:
            return records, Torn(pos, size, f"the file ends inside a record ({n} byte body, {size - pos - 4} bytes left)")
        body = data[pos + 4 : pos + 4 + n]
        if zlib.crc32(body) != U32.unpack_from(data, pos + 4 + n)[0]:
            return records, Torn(pos, size, "a record's crc32 does not match (corrupt bytes)")
        try:
            rec = msgpack.unpackb(body, raw=False, strict_map_key=False)
        except Exception:  # msgpack raises several types on bad bytes
            return records, Torn(pos, size, "a record is not valid msgpack")
        if not isinstance(rec, dict):
            return records, Torn(pos, size, "a record is not a msgpack map")
        records.append((pos, rec))
        pos += FRAME_OVERHEAD + n
    return records, None
