"""The outbox: executions are stored before their action runs, and poll cursors live beside them.

Two stores implement :class:`Store`: AutomationExecution objects + ConfigMaps in a cluster
(``wbauto.k8s.store``), and a SQLite file for the standalone runtime (``wbauto.delivery.sqlite``).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from wbauto.api.execution import AutomationExecutionSpec, AutomationExecutionStatus


@dataclass
class ExecutionRecord:
    namespace: str
    name: str
    spec: AutomationExecutionSpec
    status: AutomationExecutionStatus = field(default_factory=AutomationExecutionStatus)
    created: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))

    @property
    def automation(self) -> str:
        return self.spec.automation.name

    @property
    def terminal(self) -> bool:
        return self.status.phase.terminal

    def with_status(self, **changes: Any) -> ExecutionRecord:
        return ExecutionRecord(self.namespace, self.name, self.spec, self.status.model_copy(update=changes),
                               self.created)


DEDUPE_HORIZON = datetime.timedelta(hours=48)
"""How long a store remembers that an execution existed, after retention removed it: longer than any
re-detection window (a poller never replays more than 24 h; the receiver treats an identical body within
this horizon as a redelivery), so a re-detected event never runs twice."""


def execution_name(automation: str, automation_uid: str, event_id: str) -> str:
    """Deterministic, so the same event never creates a second execution of the same automation."""
    digest = hashlib.sha256(f"{automation_uid}\x1f{automation}\x1f{event_id}".encode()).hexdigest()[:12]
    prefix = re.sub(r"[^a-z0-9-]", "-", automation.lower())[:48].strip("-.") or "automation"
    return f"{prefix}-{digest}"


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

