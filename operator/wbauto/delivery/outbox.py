"""The outbox: executions are stored before their action runs, and poll cursors live beside them.

Each runtime brings a :class:`Store`: AutomationExecution objects + ConfigMaps in a cluster
(``wbauto.runtime.cluster.store``), a SQLite file in the standalone runtime
(``wbauto.runtime.standalone.store``).
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from wbauto.api.execution import ExecutionRecord


class Store(Protocol):
    async def create(self, record: ExecutionRecord) -> bool:
        """Persist a new execution; False when one with that name exists already (nothing changes)."""

    async def save_status(self, record: ExecutionRecord) -> bool:
        """Persist the record's status; False when the execution no longer exists (deleted: cancelled)."""

    async def pending(self) -> list[ExecutionRecord]:
        """Every execution not yet terminal (to resume after a restart or a leader change)."""

    async def since(self, moment: datetime.datetime) -> list[ExecutionRecord]:
        """Executions created at or after ``moment`` (to rebuild rate-limit and 24 h state)."""

    async def history(self, namespace: str | None = None, automation: str | None = None,
                      limit: int = 50) -> list[ExecutionRecord]:
        """Newest first."""

    async def prune(self, keep: int, older_than: datetime.datetime) -> int:
        """Delete terminal executions beyond the newest ``keep`` per automation or older than the cutoff,
        still refusing to create them again for :data:`DEDUPE_HORIZON` after their creation."""

    async def load_cursor(self, key: str) -> dict[str, Any] | None: ...

    async def save_cursor(self, key: str, data: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...

