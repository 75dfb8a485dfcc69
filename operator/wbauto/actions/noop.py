"""``noOp`` action (W&B's NO_OP): records the execution and does nothing else."""

from __future__ import annotations

from typing import Any

from wbauto.actions.base import Action, Context, Lookup, Result
from wbauto.api.event import Event
from wbauto.api.execution import ExecutionRecord


class NoOpAction(Action):
    type = "noOp"

    def preview(self, spec: Any, namespace: str, event: Event, variables: dict[str, str],
                world: Lookup) -> str:
        return "# noOp: nothing is sent"

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        return Result(None, None, "no-op")
