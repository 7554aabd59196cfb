"""One small cache type for compiled functions (matches, simulators, training chunks).

Compiling is what costs in a tournament, so callers want to know whether a call compiled;
the cache is bounded (least recently used goes first) so a long-running server does not
keep every compiled function it ever made.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class CompileCache:
    """A bounded LRU map from a hashable key to a built (usually compiled) value."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.builds = 0  # how many values were built, evicted ones included

    def get(self, key: Hashable, build: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, built): the cached value for `key`, building it on a miss."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key], False
        value = build()
        self.builds += 1
        self._items[key] = value
        if len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return value, True

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def clear(self) -> None:
        self._items.clear()
