"""``noOp`` action (W&B's NO_OP): records the execution and does nothing else."""

from __future__ import annotations

from typing import Any

from wbauto.actions.base import Context, Result
from wbauto.api.execution import ExecutionRecord


class NoOpAction:
    type = "noOp"

    def target(self, config: dict[str, Any]) -> str:
        return "-"

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        return Result(None, None, "no-op")
