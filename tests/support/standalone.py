"""Run the standalone runtime in-process against the W&B emulator, for end-to-end tests."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from wbauto.api.execution import ExecutionRecord, Phase
from wbauto.emulator.server import Emulator
from wbauto.runtime.settings import Settings
from wbauto.runtime.standalone.runtime import Standalone

API_KEY = "e2e" + "0" * 37


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


class Harness:
    """Manifests in a folder + the standalone engine + the emulator as W&B."""

    def __init__(self, workdir: Path, emulator: Emulator, documents: list[dict[str, Any]], **settings: Any) -> None:
        self.workdir = workdir
        self.emulator = emulator
        self.documents = documents
        defaults: dict[str, Any] = dict(
            allow_cidrs=("127.0.0.1/32",), wandb_base_url=emulator.url, poll_interval=0.3,
            wandb_api_key_file=str(workdir / "api-key"), metrics_address="", health_address="", workers=8)
        defaults.update(settings)
        self.settings = Settings(**defaults)
        self.app: Standalone | None = None

    @property
    def manifests(self) -> Path:
        return self.workdir / "manifests"

    async def start(self, *, wait_first_poll: bool = True, wait_ready: bool = True) -> Standalone:
        self.manifests.mkdir(parents=True, exist_ok=True)
        (self.workdir / "api-key").write_text(API_KEY)
        (self.manifests / "all.yaml").write_text(yaml.safe_dump_all(self.documents))
        self.app = Standalone(self.settings, self.manifests, self.workdir / "state.sqlite")
        await self.app.start()
        if wait_ready:
            await self.app.wait_ready(30)
        if wait_first_poll and self.app.engine.pollers is not None:
            pollers = self.app.engine.pollers
            await until(pollers.settled, 30, "first poll")
        return self.app

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None

    async def deliver(self, make_events: Callable[[], Any], count: int = 1, *,
                      timeout: float = 30.0) -> list[ExecutionRecord]:
        """Start, make the events in the emulator, wait for ``count`` terminal executions, stop."""
        await self.start()
        try:
            make_events()
            return await self.executions(count, timeout=timeout)
        finally:
            await self.stop()

    async def executions(self, count: int, *, timeout: float = 30.0,
                         terminal: bool = True) -> list[ExecutionRecord]:
        assert self.app is not None
        store = self.app.store

        async def check() -> list[ExecutionRecord] | None:
            records = await store.history(limit=1000)
            done = [r for r in records if r.terminal or not terminal]
            return records if len(done) >= count else None

        deadline = time.monotonic() + timeout
        while True:
            found = await check()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                records = await store.history(limit=1000)
                states = [(r.automation, r.status.phase.value, r.status.error) for r in records]
                raise TimeoutError(f"expected {count} terminal executions, have {states}")
            await asyncio.sleep(0.05)


def finished(records: list[ExecutionRecord]) -> list[ExecutionRecord]:
    return [r for r in records if r.status.phase is Phase.FINISHED]


def replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)
