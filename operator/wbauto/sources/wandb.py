"""W&B GraphQL client over httpx: ``POST {base_url}/graphql`` with Basic auth (user ``api``, password the
API key), as the W&B SDK does. Network errors, HTTP errors and GraphQL ``errors`` are translated into
:class:`wbauto.errors.SourceError` here; callers never see httpx exceptions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import httpx

from wbauto import telemetry
from wbauto.delivery.retry import retry_after_seconds
from wbauto.errors import SourceError, cut


class GraphQLError(SourceError):
    """Raised when W&B answers with GraphQL ``errors`` (and no usable data)."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class Unavailable(SourceError):
    """Raised on network errors, timeouts, 5xx and 429; ``retry_after`` is the server's hint, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(SourceError):
    """Raised on 401/403: the API key is missing, wrong or lacks access."""


class Client:
    """One per W&B server; safe for concurrent use."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None, verify: bool | str = True) -> None:
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"api:{api_key}".encode()).decode()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Basic {token}", "User-Agent": "wbauto", "Content-Type": "application/json"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            verify=verify,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )
        self.requests = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None, *,
                      scope: str = "other", allow_partial: bool = False) -> dict[str, Any]:
        """Run one GraphQL document; returns ``data``. ``scope`` labels the request metric."""
        self.requests += 1
        telemetry.POLL_REQUESTS.labels(scope).inc()
        body = json.dumps({"query": query, "variables": dict(variables or {})})
        try:
            response = await self._http.post("/graphql", content=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"W&B at {self.base_url} unreachable: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise Unauthorized(f"W&B at {self.base_url} refused the API key (HTTP {response.status_code}); "
                               "check WANDB_API_KEY")
        if response.status_code == 429 or response.status_code >= 500:
            raise Unavailable(f"W&B at {self.base_url} answered HTTP {response.status_code}",
                              retry_after_seconds(response.headers.get("Retry-After")))
        try:
            doc = response.json()
        except ValueError as exc:
            raise SourceError(f"W&B at {self.base_url} answered HTTP {response.status_code} with a non-JSON "
                              f"body: {cut(response.text, 200)}") from exc
        errors = doc.get("errors") or []
        data = doc.get("data")
        if errors and (data is None or not allow_partial):
            messages = "; ".join(str(e.get("message", e)) for e in errors[:3])
            raise GraphQLError(f"W&B GraphQL error: {cut(messages, 500)}", errors)
        if response.status_code >= 400 or not isinstance(data, dict):
            raise SourceError(f"W&B at {self.base_url} answered HTTP {response.status_code} without data")
        return data
