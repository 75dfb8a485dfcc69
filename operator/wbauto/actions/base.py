"""The action contract: one base class, one module per action type, one registry.

An action knows everything about itself that the rest of the operator needs:

- :meth:`Action.references`: the objects of its namespace it needs (a Webhook, SecretReferences), which
  readiness checks and which make its Automation re-evaluated when they change;
- :meth:`Action.problems`: what else keeps it from running (checked when the Automation is reconciled);
- :meth:`Action.describe` and :meth:`Action.target`: the ``Target`` of ``kubectl get automations`` and of
  the execution history (never a secret);
- :meth:`Action.snapshot`: what an execution stores to run later (deleting the Automation or the Webhook
  does not cancel it);
- :meth:`Action.policy`: its retry policy, or None for the operator's default (its retry settings);
- :meth:`Action.preview`: what ``wbauto render`` prints for it;
- :meth:`Action.execute`: one attempt. It returns a :class:`Result` on success and raises
  :class:`wbauto.errors.DeliveryError` (with ``retryable``) on failure; ``DependencyMissing`` and
  ``SecretError`` mean "not yet" and are retried; ``ConfigError`` fails the execution at once.

A new action type is three files: its model (a key of ``Automation.spec.action`` in
``wbauto.api.automation``), its module here, and its line in :mod:`wbauto.actions.registry`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from wbauto.actions.http import Outbound
from wbauto.api.event import Event
from wbauto.api.execution import ExecutionRecord, RequestRecord
from wbauto.api.schema import Model
from wbauto.api.webhook import WebhookSpec
from wbauto.engine import retry
from wbauto.secrets.resolver import Resolver

DEFAULT_POLICY = retry.Policy(max_attempts=5, backoff=2.0, max_backoff=60.0)
"""The operator's default retry policy (the ``--retry-*`` settings' defaults)."""


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


@dataclass(frozen=True)
class Reference:
    """An object an action needs in its Automation's namespace, and the spec field naming it."""

    kind: str  # "Webhook" or "SecretReference"
    name: str
    field: str  # e.g. "spec.action.webhook.webhookRef"


class Lookup(Protocol):
    """What an action may read of the loaded objects (the runtime's world)."""

    def webhook(self, namespace: str, name: str) -> WebhookSpec | None: ...


class Action(ABC):
    """Base of every action type: defaults for an action that needs nothing and stores its spec."""

    type: ClassVar[str]  # the key in Automation.spec.action, e.g. "webhook"

    def references(self, spec: Any) -> list[Reference]:
        return []

    def problems(self, spec: Any, namespace: str, world: Lookup) -> str | None:
        """What keeps ``spec`` from running that references do not say (None: nothing)."""
        return None

    def describe(self, spec: Any) -> str:
        """The Automation's ``Target`` column."""
        return "-"

    def target(self, config: dict[str, Any]) -> str:
        """An execution's target, from its snapshot."""
        return "-"

    def snapshot(self, spec: Any, namespace: str, world: Lookup) -> dict[str, Any]:
        data: dict[str, Any] = spec.dump() if isinstance(spec, Model) else {}
        return data

    def policy(self, record: ExecutionRecord) -> retry.Policy | None:
        """The retry policy of ``record``'s attempts; None: the operator's default (``--retry-*``)."""
        return None

    def preview(self, spec: Any, namespace: str, event: Event, variables: dict[str, str],
                world: Lookup) -> str:
        return json.dumps(self.snapshot(spec, namespace, world), indent=2)

    @abstractmethod
    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        """Run one attempt."""
