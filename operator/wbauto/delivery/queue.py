"""A keyed delay queue for asyncio: each key is held at most once, due at a time; the earliest wins."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DelayQueue(Generic[K]):
    """Keys due at a time; a key is held at most once (the earliest due time wins)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = 0
        self._wake = asyncio.Event()

    def add(self, key: K, delay: float = 0.0) -> None:
        due = self._clock() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))
        self._wake.set()

    def discard(self, key: K) -> None:
        self._due.pop(key, None)

    async def get(self) -> K:
        while True:
            while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)  # stale entry: re-added earlier, or discarded
            if self._heap:
                due, _, key = self._heap[0]
                wait = due - self._clock()
                if wait <= 0:
                    heapq.heappop(self._heap)
                    del self._due[key]
                    return key
            else:
                wait = None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def __len__(self) -> int:
        return len(self._due)
