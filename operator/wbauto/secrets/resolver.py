"""Resolve SecretReferences by name: dispatch to the backend, cache values in memory only.

Values are cached per SecretReference for its ``refreshInterval`` (keyed by the spec, so an edited
SecretReference is read again at once), concurrent requests for one key share one backend call, and
:meth:`Resolver.invalidate` drops a value early (a webhook target answered 401/403: rotated secret).
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from wbauto import telemetry
from wbauto.api.conditions import Reason
from wbauto.api.schema import parse_duration
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.errors import DependencyMissing, SecretError
from wbauto.redact import REDACTOR
from wbauto.secrets import base

MODULES = {"file": "local", "env": "local"}  # backend → module, where they differ

Lookup = Callable[[str, str], SecretReferenceSpec | None]


@dataclass
class _Entry:
    fingerprint: str
    value: base.SecretValue
    expires: float
    resolved_at: datetime.datetime


class Resolver:
    def __init__(
        self,
        context: base.Context,
        lookup: Lookup,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._context = context
        self._lookup = lookup
        self._clock = clock
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._backends: dict[str, base.Backend] = {}

    def backend(self, name: str) -> base.Backend:
        if name not in self._backends:
            try:
                importlib.import_module(f"wbauto.secrets.{MODULES.get(name, name)}")
            except ImportError as exc:
                raise SecretError(
                    f"secret backend {name!r} needs an extra package that is not installed "
                    f"({exc.name}); install wbauto[{name}]", reason=Reason.BACKEND_NOT_INSTALLED,
                    retryable=False) from exc
            self._backends[name] = base.factory(name)(self._context)
        return self._backends[name]

    async def resolve(self, namespace: str, name: str) -> base.SecretValue:
        """The value of SecretReference ``namespace/name``.

        Raises DependencyMissing when the SecretReference does not exist, SecretError when its backend
        cannot produce the value.
        """
        spec = self._lookup(namespace, name)
        if spec is None:
            raise DependencyMissing(f"SecretReference {namespace}/{name} not found",
                                    reason=Reason.SECRET_REFERENCE_NOT_FOUND)
        key = (namespace, name)
        fingerprint = spec.model_dump_json()
        entry = self._cache.get(key)
        if entry and entry.fingerprint == fingerprint and entry.expires > self._clock():
            return entry.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._cache.get(key)
            if entry and entry.fingerprint == fingerprint and entry.expires > self._clock():
                return entry.value
            try:
                backend = self.backend(spec.backend)
                value = await backend.get(base.Request(namespace=namespace, name=name, source=spec.source))
            except SecretError as exc:
                telemetry.SECRET_RESOLUTIONS.labels(spec.backend, exc.reason).inc()
                raise
            telemetry.SECRET_RESOLUTIONS.labels(spec.backend, "ok").inc()
            REDACTOR.add(value.value)
            ttl = parse_duration(spec.refresh_interval).total_seconds()
            self._cache[key] = _Entry(fingerprint, value, self._clock() + ttl,
                                      datetime.datetime.now(datetime.UTC))
            return value

    async def aclose(self) -> None:
        """Close the backends that hold connections (those with an ``aclose``)."""
        for backend in self._backends.values():
            close = getattr(backend, "aclose", None)
            if close is not None:
                await close()
        self._backends.clear()

    def resolved_at(self, namespace: str, name: str) -> datetime.datetime | None:
        entry = self._cache.get((namespace, name))
        return entry.resolved_at if entry else None

    def invalidate(self, namespace: str, name: str) -> None:
        self._cache.pop((namespace, name), None)

    def forget(self, namespace: str, name: str) -> None:
        """The SecretReference was deleted: drop its value from memory."""
        self.invalidate(namespace, name)
        self._locks.pop((namespace, name), None)
