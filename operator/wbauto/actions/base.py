"""The action contract: one small Protocol, one module per action type.

An action runs one attempt of one execution. It returns a :class:`Result` on success and raises
:class:`wbauto.errors.DeliveryError` (with ``retryable``) on failure; ``DependencyMissing`` and
``SecretError`` mean "not yet" and are retried; ``ConfigError`` fails the execution at once.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from wbauto.actions import egress
from wbauto.api.execution import RequestRecord
from wbauto.delivery.outbox import ExecutionRecord
from wbauto.secrets.resolver import Resolver


@dataclass(frozen=True)
class Result:
    response_code: int | None = None
    response_body: str | None = None
    result: str | None = None
    request: RequestRecord | None = None


@dataclass
class HttpClients:
    """httpx clients for outbound requests, all behind the egress guard; one per CA bundle."""

    policy: egress.Policy
    resolve: egress.Resolve = egress.system_resolve
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def get(self, ca_bundle: str | None = None) -> httpx.AsyncClient:
        key = hashlib.sha256(ca_bundle.encode()).hexdigest() if ca_bundle else ""
        client = self._clients.get(key)
        if client is None:
            verify: ssl.SSLContext | bool = True
            if ca_bundle:
                verify = ssl.create_default_context(cadata=ca_bundle)
            transport = egress.GuardedTransport(self.policy, verify=verify, resolve=self.resolve)
            client = httpx.AsyncClient(transport=transport, follow_redirects=True, max_redirects=5,
                                       headers={"User-Agent": "wbauto"})
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


@dataclass
class Context:
    """What actions may use. ``kube`` is None in the standalone runtime; ``wandb`` is None without an
    API key."""

    resolver: Resolver
    http: HttpClients
    kube: Any = None  # wbauto.k8s.client.Client | None
    wandb: Any = None  # wbauto.sources.wandb.Client | None
    app_url: str = "https://wandb.ai"


class Action(Protocol):
    type: str

    def target(self, config: dict[str, Any]) -> str:
        """A short human-readable target for history and status (never a secret)."""

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        """Run one attempt."""
