"""A least-recently-used cache bounded by the memory its values take, not by their number.

The decoded pipelines of model strings are kept here, and only once a caller accepted them (a
trusted spec, or a client spec that passed the policy): a flood of distinct refused specs then
costs nothing after its answers, whatever their size.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

V = TypeVar("V")


def footprint(value: Any) -> int:
    """Roughly the bytes ``value`` holds: ``sys.getsizeof`` over its object graph (pydantic
    models, containers and what they hold), each object counted once."""
    seen: set[int] = set()
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, BaseModel):
            pending += [item.__dict__, item.__pydantic_fields_set__]
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending += item
    return total


class ByteBoundCache(Generic[V]):
    """Maps text keys to values while their keys and :func:`footprint` fit in ``budget`` bytes.

    A value larger than a quarter of the budget is not kept, so one entry cannot flush the rest.
    Safe to share with the thread that decodes client specs.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: V) -> None:
        if self.get(key) is not None:
            return  # (measured once, not on every hit)
        size = sys.getsizeof(key) + footprint(value)
        if size > self.budget // 4:
            return
        with self._lock:
            if key in self._entries:
                return
            while self.used + size > self.budget:
                _, (_, freed) = self._entries.popitem(last=False)
                self.used -= freed
            self._entries[key] = (value, size)
            self.used += size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.used = 0
