"""A keyed delay queue for asyncio: each key is held at most once, due at a time; the earliest wins.

Due keys go to a FIFO that wakes exactly one waiting worker per key (no thundering herd with many
workers); one timer task moves delayed keys to it when they fall due.

Time is passed in: ``clock`` reads it (seconds, monotonic) and ``sleep`` waits for it to pass. Both
default to the event loop's real time; a caller that keeps its own time (a simulation, a test) passes
a clock and a sleep that advance it together.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class DelayQueue(Generic[K]):
    def __init__(self, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = 0
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None

    def add(self, key: K, delay: float = 0.0) -> None:
        due = self._clock() + delay
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        if delay <= 0:
            self._ready.put_nowait(key)
        else:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, key))
            if self._heap[0][1] == self._seq:  # due before everything else: the timer must wake sooner
                self._changed.set()

    def discard(self, key: K) -> None:
        self._due.pop(key, None)

    def _promote(self) -> None:
        """Move the keys now due to the FIFO; drop entries a discard or an earlier due superseded (so the
        timer never wakes for them)."""
        now = self._clock()
        while self._heap:
            due, _, key = self._heap[0]
            current = self._due.get(key) == due
            if current and due > now:
                return
            heapq.heappop(self._heap)
            if current:
                self._ready.put_nowait(key)

    async def _run_timer(self) -> None:
        while True:
            self._changed.clear()
            self._promote()
            if not self._heap:
                await self._changed.wait()
                continue
            changed = asyncio.ensure_future(self._changed.wait())
            passed = asyncio.ensure_future(self._sleep(max(0.0, self._heap[0][0] - self._clock())))
            try:
                await asyncio.wait((changed, passed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (changed, passed):
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter

    async def get(self) -> K:
        if self._timer is None:
            self._timer = asyncio.create_task(self._run_timer(), name="wbauto-delay-queue")
        while True:
            key = await self._ready.get()
            due = self._due.get(key)
            if due is not None and due <= self._clock():
                del self._due[key]
                return key
            # discarded, or taken already by another get(): skip

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __len__(self) -> int:
        return len(self._due)
