"""The secret-backend contract (External Secrets Operator style): one module per backend behind a tiny
Protocol, registered in a registry that rejects duplicate names.

A backend turns a SecretReference's source settings into a value and a version id. It raises
:class:`wbauto.errors.SecretError` with one of the fixed reasons below; its messages name the
SecretReference (``namespace/name``) and the key, never the value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from wbauto.api.conditions import Reason
from wbauto.errors import SecretError


@dataclass(frozen=True)
class SecretValue:
    """A resolved secret. ``repr`` and ``str`` never show the value."""

    value: str = field(repr=False)
    version: str = ""

    def __str__(self) -> str:
        return f"<secret version={self.version or '?'}>"


@dataclass(frozen=True)
class Request:
    """What a backend is asked to resolve."""

    namespace: str
    name: str
    source: Any  # the backend's settings model, e.g. api.secretreference.AwsSource

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class Backend(Protocol):
    """Resolve one secret. Must be safe to call concurrently; must time out on its own."""

    name: str

    async def get(self, request: Request) -> SecretValue: ...


@dataclass
class Context:
    """What backends may use: the Kubernetes client (absent in standalone mode), whether local
    (file/env) sources are allowed, and the bound on concurrent blocking SDK calls."""

    kube: Any = None  # wbauto.kube.client.Client | None
    allow_local: bool = False
    max_threads: int = 8
    timeout: float = 10.0
    _semaphore: asyncio.Semaphore | None = field(default=None, repr=False)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking SDK call in a worker thread, at most ``max_threads`` at once, with a timeout."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_threads)
        async with self._semaphore:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout)


Factory = Callable[[Context], Backend]

T = TypeVar("T")

_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Register a backend factory under its spec key; a second registration of a name is a bug."""
    if name in _REGISTRY:
        raise ValueError(f"secret backend {name!r} is already registered")
    _REGISTRY[name] = factory


def factory(name: str) -> Factory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SecretError(f"secret backend {name!r} is not available in this build",
                          reason=Reason.BACKEND_NOT_INSTALLED, retryable=False) from None


def registered() -> list[str]:
    return sorted(_REGISTRY)


# --- shared helpers -----------------------------------------------------------------------------------


def not_found(request: Request, what: str) -> SecretError:
    return SecretError(f"SecretReference {request.ref}: {what} not found", reason=Reason.SECRET_NOT_FOUND)


def access_denied(request: Request, what: str) -> SecretError:
    return SecretError(f"SecretReference {request.ref}: access denied to {what}; check the operator's "
                       "identity and the backend's policy", reason=Reason.ACCESS_DENIED)


def unavailable(request: Request, what: str, exc: BaseException) -> SecretError:
    # only the exception type: messages of SDK errors can echo request data
    return SecretError(f"SecretReference {request.ref}: {what} unavailable ({type(exc).__name__}); "
                       "will retry", reason=Reason.BACKEND_UNAVAILABLE)


def pick_json_key(request: Request, text: str, key: str | None) -> str:
    """Return ``text``, or the top-level ``key`` of the JSON object in ``text`` (as a string)."""
    if key is None:
        return text
    try:
        doc = json.loads(text)
    except ValueError:
        raise SecretError(f"SecretReference {request.ref}: jsonKey {key!r} is set but the secret is not JSON",
                          reason=Reason.BAD_FORMAT, retryable=False) from None
    if not isinstance(doc, dict) or key not in doc:
        raise SecretError(f"SecretReference {request.ref}: jsonKey {key!r} not found in the secret's JSON "
                          "object", reason=Reason.BAD_FORMAT, retryable=False)
    value = doc[key]
    return value if isinstance(value, str) else json.dumps(value)
