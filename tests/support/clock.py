"""A virtual clock for the delivery path: ``sleep`` advances time instead of waiting for it.

Time moves only in ``sleep``, after the sleeper has let every task that can run now take its turn, so a
worker handed a key sees the time it fell due. Work waiting on a thread (the SQLite store) is not a task
that can run: keep one execution in flight per test when the exact times matter.

Pass ``now``, ``monotonic`` and ``sleep`` to :class:`wbauto.delivery.worker.Dispatcher` (or ``monotonic`` and
``sleep`` to :class:`wbauto.delivery.queue.DelayQueue`): a retry due in 5 minutes runs at once, and the
records still say it ran 5 minutes later. ``slept`` lists every wait, for tests that check the schedule.
"""

from __future__ import annotations

import asyncio
import datetime

EPOCH = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
IDLE_ROUNDS = 20  # event-loop turns a sleeper yields before time moves


class VirtualClock:
    def __init__(self, start: datetime.datetime = EPOCH) -> None:
        self.start = start
        self.elapsed = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime.datetime:
        return self.start + datetime.timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Let the tasks that can run now run first (a sleep cancelled meanwhile never moves time), then
        advance time by ``seconds``."""
        self.slept.append(seconds)
        for _ in range(IDLE_ROUNDS):
            await asyncio.sleep(0)
        self.advance(seconds)
