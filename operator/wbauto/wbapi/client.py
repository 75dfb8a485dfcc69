"""W&B GraphQL client (aiohttp): ``POST {base_url}/graphql`` with Basic auth (user ``api``, password the
API key), as the W&B SDK does. Network errors, HTTP errors and GraphQL ``errors`` are translated into
:class:`wbauto.errors.SourceError` here; callers never see aiohttp exceptions.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from wbauto import telemetry
from wbauto.engine.retry import retry_after_seconds
from wbauto.errors import SourceError, cut
from wbauto.redact import REDACTOR

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|[\ud800-\udfff]")


def printable(value: Any) -> Any:
    """``value`` with lone surrogates (``"\\ud800"`` in JSON: any W&B user can log one in metadata) replaced by
    U+FFFD, so every string can be encoded, stored and sent."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    return value


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
    """One per W&B server; safe for concurrent use. Create it anywhere; the session opens on first use."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, ca_file: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        REDACTOR.add(api_key)  # masked in every form, the Basic credentials below included
        token = base64.b64encode(f"api:{api_key}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "User-Agent": "wbauto",
                         "Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=10.0)
        self._ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            ssl_context = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else True
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=16, ssl=ssl_context))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None, *,
                      scope: str = "other", allow_partial: bool = False) -> dict[str, Any]:
        """Run one GraphQL document; returns ``data``. ``scope`` labels the request metric. GraphQL
        ``errors`` raise :class:`GraphQLError` unless ``allow_partial`` (then the data that came is used)."""
        data, errors = await self.partial(query, variables, scope=scope)
        if errors and not allow_partial:
            raise GraphQLError(f"W&B GraphQL error: {error_text(errors)}", errors)
        return data

    async def partial(self, query: str, variables: Mapping[str, Any] | None = None, *,
                      scope: str = "other") -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run one GraphQL document; returns ``data`` and the GraphQL ``errors`` that came with it (a
        batched document can fail for one of its aliases only). Raises when there is no data at all."""
        self.requests += 1
        telemetry.POLL_REQUESTS.labels(scope).inc()
        body = json.dumps({"query": query, "variables": dict(variables or {})})
        try:
            async with self._http().post(f"{self.base_url}/graphql", data=body) as response:
                status, text = response.status, await response.text()
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"W&B at {self.base_url} unreachable: {type(exc).__name__}") from exc
        if status in (401, 403):
            raise Unauthorized(f"W&B at {self.base_url} refused the API key (HTTP {status}); check WANDB_API_KEY")
        if status == 429 or status >= 500:
            raise Unavailable(f"W&B at {self.base_url} answered HTTP {status}", retry_after)
        try:
            doc = json.loads(text)
            if _SURROGATE_ESCAPE.search(text):
                doc = printable(doc)
        except RecursionError as exc:
            raise SourceError(f"W&B at {self.base_url} answered with JSON nested too deeply") from exc
        except ValueError as exc:
            raise SourceError(f"W&B at {self.base_url} answered HTTP {status} with a non-JSON body: "
                              f"{cut(text, 200)}") from exc
        if not isinstance(doc, dict):
            raise SourceError(f"W&B at {self.base_url} answered HTTP {status} with JSON that is not an object")
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in doc.get("errors") or []]
        data = doc.get("data")
        if errors and not isinstance(data, dict):
            raise GraphQLError(f"W&B GraphQL error: {error_text(errors)}", errors)
        if status >= 400 or not isinstance(data, dict):
            raise SourceError(f"W&B at {self.base_url} answered HTTP {status} without data")
        return data, errors


def error_text(errors: list[dict[str, Any]]) -> str:
    return cut("; ".join(str(e.get("message", e)) for e in errors[:3]), 500)
