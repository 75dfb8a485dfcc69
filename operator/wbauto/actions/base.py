"""The action contract: one small Protocol, one module per action type.

An action runs one attempt of one execution. It returns a :class:`Result` on success and raises
:class:`wbauto.errors.DeliveryError` (with ``retryable``) on failure; ``DependencyMissing`` and
``SecretError`` mean "not yet" and are retried; ``ConfigError`` fails the execution at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from wbauto.actions.http import Outbound
from wbauto.api.execution import ExecutionRecord, RequestRecord
from wbauto.secrets.resolver import Resolver


@dataclass(frozen=True)
class Result:
    response_code: int | None = None
    response_body: str | None = None
    result: str | None = None
    request: RequestRecord | None = None


@dataclass
class Context:
    """What actions may use. ``kube`` is None in the standalone runtime; ``wandb`` is None without an
    API key."""

    resolver: Resolver
    http: Outbound
    kube: Any = None  # wbauto.kube.client.Client | None
    wandb: Any = None  # wbauto.wbapi.client.Client | None
    app_url: str = "https://wandb.ai"


class Action(Protocol):
    type: str

    def target(self, config: dict[str, Any]) -> str:
        """A short human-readable target for history and status (never a secret)."""

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        """Run one attempt."""
