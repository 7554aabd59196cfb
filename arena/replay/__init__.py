"""Replay files: msgpack records any language can read, written incrementally, read lazily.

    codec    arrays and episode columns (numpy + msgpack only: the reference for other readers)
    framing  the magic, length + CRC frames, torn tails and damage, ReplayError, ReplayDamaged
    header   format tag, schema version, the side maps
    writer   ReplayWriter, write_replay, check_writable
    reader   open_replay -> Replay (header, index, lazily decoded episodes)

The README's "Replay format" section is the full specification.
"""
from arena.replay.codec import decode_array, decode_columns, encode_array, encode_columns
from arena.replay.framing import MAGIC, ReplayDamaged, ReplayError, Torn, frame
from arena.replay.header import FORMAT, SCHEMA
from arena.replay.reader import EpisodeIndex, Replay, open_replay
from arena.replay.writer import ReplayWriter, check_writable, encode_episode, write_replay

__all__ = [
    "FORMAT", "MAGIC", "SCHEMA", "EpisodeIndex", "Replay", "ReplayDamaged", "ReplayError", "ReplayWriter", "Torn", "check_writable",
    "decode_array", "decode_columns", "encode_array", "encode_columns", "encode_episode", "frame", "open_replay",
    "write_replay",
]
