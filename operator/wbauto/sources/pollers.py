"""Run one poller task per watched scope: adaptive interval, backoff on W&B errors, health per scope.

After a cycle that produced events the scope is polled again sooner (a quarter of the interval) for a
while — activity tends to come in bursts; after errors the delay doubles up to five minutes (or the
server's Retry-After). Errors are recorded in :attr:`Pollers.health` (surfaced on the Automations'
status) and logged; a poller never stops on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from wbauto import telemetry
from wbauto.errors import SourceError
from wbauto.sources.plan import Needs, ScopeKey
from wbauto.sources.poller import Emit, LoadCursor, SaveCursor, ScopePoller
from wbauto.sources.wandb import Client, Unavailable

log = logging.getLogger("wbauto.poller")

MAX_BACKOFF = 300.0
FAST_CYCLES = 5
CATCH_UP_WINDOW = 60.0  # scopes planned this soon after start catch up from their cursors; later ones do not


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str
    since: datetime.datetime
    next_retry: float = 0.0


class Pollers:
    def __init__(self, client: Client, load: LoadCursor, save: SaveCursor, emit: Emit, *,
                 interval: float = 30.0, on_health: Callable[[ScopeKey], None] | None = None) -> None:
        self._client = client
        self._load = load
        self._save = save
        self._emit = emit
        self.interval = interval
        self._on_health = on_health
        self._pollers: dict[ScopeKey, ScopePoller] = {}
        self._tasks: dict[ScopeKey, asyncio.Task[None]] = {}
        self._wake: dict[ScopeKey, asyncio.Event] = {}
        self.health: dict[ScopeKey, Health] = {}
        self.cycles = 0
        self._begun = time.monotonic()

    def begin(self) -> None:
        """The engine (re)starts: scopes planned within CATCH_UP_WINDOW resume from their cursors (events
        that happened while the operator was down fire); scopes planned later — an Automation added on a
        scope nobody watched — start from a fresh baseline instead of replaying older history."""
        self._begun = time.monotonic()

    @property
    def scopes(self) -> list[ScopeKey]:
        return sorted(self._pollers)

    def update(self, plan: dict[ScopeKey, Needs]) -> None:
        """Start pollers for new scopes, stop those no Automation needs, refresh what each reads."""
        for key in [k for k in self._pollers if k not in plan]:
            self._tasks.pop(key).cancel()
            del self._pollers[key]
            self._wake.pop(key, None)
            self.health.pop(key, None)
        for key, needs in plan.items():
            poller = self._pollers.get(key)
            if poller is None:
                late = time.monotonic() - self._begun > CATCH_UP_WINDOW
                poller = self._pollers[key] = ScopePoller(key, self._client, self._load, self._save, self._emit,
                                                          rebaseline=late)
                self._wake[key] = asyncio.Event()
                self._tasks[key] = asyncio.create_task(self._loop(key), name=f"wbauto-poll-{key}")
            if poller.needs != needs:
                poller.needs = needs
                self._wake[key].set()

    def trigger(self) -> None:
        """Poll every scope now (e.g. a W&B webhook hinted at activity)."""
        for wake in self._wake.values():
            wake.set()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._pollers.clear()

    async def _loop(self, key: ScopeKey) -> None:
        poller = self._pollers[key]
        wake = self._wake[key]
        backoff = 0.0
        fast = 0
        while True:
            started = time.monotonic()
            try:
                result = await poller.cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                telemetry.POLL_ERRORS.labels("entity" if key.project is None else "project").inc()
                backoff = min(MAX_BACKOFF, max(self.interval, backoff * 2))
                hint = exc.retry_after if isinstance(exc, Unavailable) and exc.retry_after else 0.0
                delay = max(backoff, hint)
                message = str(exc) if isinstance(exc, SourceError) else f"internal error: {type(exc).__name__}"
                previous = self.health.get(key)
                since = previous.since if previous is not None and not previous.ok else _now()
                self.health[key] = Health(False, f"{message}; retrying in {delay:.1f}s", since, delay)
                if (previous is None or previous.ok) and self._on_health is not None:
                    self._on_health(key)
                if isinstance(exc, SourceError):
                    log.warning("poll of %s failed: %s", key, exc)
                else:
                    log.exception("poll of %s failed", key)
            else:
                backoff = 0.0
                previous = self.health.get(key)
                if previous is None or not previous.ok:
                    self.health[key] = Health(True, "polling", _now())
                    if previous is not None and self._on_health is not None:
                        self._on_health(key)
                fast = FAST_CYCLES if result.events else max(0, fast - 1)
                delay = self.interval / 4 if fast else self.interval
                self.cycles += 1
            finally:
                telemetry.POLL_SECONDS.labels("entity" if key.project is None else "project").observe(
                    time.monotonic() - started)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
