"""The one boundary to the Kubernetes API: a small async client over ``kubernetes_asyncio``.

Credentials come from :mod:`wbauto.kube.config` (kubectl's rules: exec plugins, merged ``KUBECONFIG``,
``--context``, in-cluster token rotation); requests go through ``kubernetes_asyncio``'s API client
(aiohttp, Kopf's own HTTP stack), bodies as plain JSON (no model classes on the hot path). Transport
errors and API ``Status`` bodies are translated into :class:`wbauto.errors.KubeError` subclasses at this
edge; nothing above this module sees aiohttp or ``kubernetes_asyncio`` exceptions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from wbauto.api.kinds import GROUP, VERSION
from wbauto.errors import KubeError, cut
from wbauto.kube.config import Credentials, Login, load


class NotFound(KubeError):
    """Raised on 404: the object (or its namespace) does not exist."""


class Conflict(KubeError):
    """Raised on 409: AlreadyExists on create, or a resourceVersion conflict on update."""


class Forbidden(KubeError):
    """Raised on 403: RBAC does not allow the call."""


class Invalid(KubeError):
    """Raised on 422: the object failed validation (schema, CEL)."""


class Gone(KubeError):
    """Raised on 410: a watch's resourceVersion is too old; list again."""


_BY_STATUS: dict[int, type[KubeError]] = {404: NotFound, 409: Conflict, 403: Forbidden, 422: Invalid,
                                          410: Gone}

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Res:
    """A resource type: API group/version and plural; ``group=""`` is the core API."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return base


SECRET_REFERENCES = Res(GROUP, VERSION, "secretreferences")
WEBHOOKS = Res(GROUP, VERSION, "webhooks")
AUTOMATIONS = Res(GROUP, VERSION, "automations")
EXECUTIONS = Res(GROUP, VERSION, "automationexecutions")
SECRETS = Res("", "v1", "secrets")
CONFIGMAPS = Res("", "v1", "configmaps")
EVENTS = Res("events.k8s.io", "v1", "events")
JOBS = Res("batch", "v1", "jobs")
LEASES = Res("coordination.k8s.io", "v1", "leases")
NAMESPACES = Res("", "v1", "namespaces", namespaced=False)


class Client:
    """Async Kubernetes client. Create it anywhere; it logs in on first use (``kubeconfig``/``context`` as
    ``kubectl``'s flags), or wraps already loaded ``credentials``. ``aclose()`` at shutdown."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, *,
                 credentials: Credentials | None = None, timeout: float = 30.0) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._credentials = credentials
        self._timeout = timeout
        self._lock = asyncio.Lock()

    async def connect(self) -> Credentials:
        """Log in (once): load the kubeconfig or the service account."""
        if self._credentials is None:
            async with self._lock:
                if self._credentials is None:
                    self._credentials = await load(self._kubeconfig, self._context)
        return self._credentials

    @property
    def namespace(self) -> str:
        """The context's (or the service account's) namespace; ``connect()`` first."""
        assert self._credentials is not None, "connect() first"
        return self._credentials.namespace

    async def login(self) -> Login:
        return await (await self.connect()).login()

    async def aclose(self) -> None:
        if self._credentials is not None:
            await self._credentials.aclose()
            self._credentials = None

    async def _send(self, method: str, path: str, *, body: Any, params: Mapping[str, str] | None,
                    content_type: str, timeout: float | aiohttp.ClientTimeout | None) -> aiohttp.ClientResponse:
        credentials = await self.connect()
        await credentials.refresh()
        headers = {"Accept": "application/json", "User-Agent": "wbauto", "Content-Type": content_type}
        response: aiohttp.ClientResponse = await credentials.api.call_api(
            path, method, query_params=list(params.items()) if params else None, header_params=headers,
            body=body, auth_settings=["BearerToken"], _preload_content=False,
            _request_timeout=timeout if timeout is not None else self._timeout)
        return response

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        try:
            response = await self._send(method, path, body=body, params=params, content_type=content_type,
                                        timeout=timeout)
            async with response:
                text = await response.text()
                if response.status >= 400:
                    raise _error(method, path, response.status, text)
                return json.loads(text) if text else {}
        except ApiException as exc:
            raise KubeError(f"{method} {path}: {exc.reason or exc}", status=int(exc.status or 0)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(f"{method} {path}: {type(exc).__name__}: {exc}", status=0) from exc

    # --- verbs ------------------------------------------------------------------------------------

    async def get(self, res: Res, namespace: str | None, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", res.path(namespace, name))
        return result

    async def list(
        self,
        res: Res,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """All items, following ``continue`` tokens."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": str(limit)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = await self.request("GET", res.path(namespace), params=params)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    async def create(self, res: Res, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", res.path(namespace), body=body)
        return result

    async def replace(self, res: Res, namespace: str | None, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PUT", res.path(namespace, name), body=body)
        return result

    async def patch(
        self,
        res: Res,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        status: bool = False,
        content_type: str = MERGE_PATCH,
    ) -> dict[str, Any]:
        path = res.path(namespace, name, "status" if status else None)
        result: dict[str, Any] = await self.request("PATCH", path, body=patch, content_type=content_type)
        return result

    async def delete(self, res: Res, namespace: str | None, name: str, *, missing_ok: bool = True) -> None:
        try:
            await self.request("DELETE", res.path(namespace, name),
                               body={"kind": "DeleteOptions", "apiVersion": "v1",
                                     "propagationPolicy": "Background"})
        except NotFound:
            if not missing_ok:
                raise

    async def watch(
        self, res: Res, namespace: str | None = None, *, resource_version: str | None = None,
        timeout_seconds: int = 300, label_selector: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events (``{"type": ..., "object": ...}``) until the server closes the stream."""
        params = {"watch": "true", "timeoutSeconds": str(timeout_seconds), "allowWatchBookmarks": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        path = res.path(namespace)
        try:
            response = await self._send("GET", path, body=None, params=params, content_type="application/json",
                                        timeout=aiohttp.ClientTimeout(total=timeout_seconds + 30))
            async with response:
                if response.status >= 400:
                    raise _error("WATCH", path, response.status, await response.text())
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        obj = event.get("object") or {}
                        code = int(obj.get("code") or 500)
                        raise _BY_STATUS.get(code, KubeError)(f"WATCH {path}: {obj.get('message', '')}",
                                                              status=code, reason=str(obj.get("reason", "")))
                    yield event
        except ApiException as exc:
            raise KubeError(f"WATCH {path}: {exc.reason or exc}", status=int(exc.status or 0)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(f"WATCH {path}: {type(exc).__name__}: {exc}", status=0) from exc


def _error(method: str, path: str, status_code: int, text: str) -> KubeError:
    reason = ""
    message = text
    try:
        status = json.loads(text)
        reason = str(status.get("reason") or "")
        message = str(status.get("message") or message)
    except ValueError:
        pass
    cls = _BY_STATUS.get(status_code, KubeError)
    return cls(f"{method} {path}: {status_code} {cut(message, 512)}", status=status_code, reason=reason)
