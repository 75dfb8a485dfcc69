"""Helpers shared by the secret-backend tests."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.support.controlplane import ControlPlane, free_port
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.errors import SecretError
from wbauto.secrets.base import SecretValue
from wbauto.secrets.resolver import Resolver

NAMESPACE = "team"
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


class Refs:
    """SecretReferences by namespace and name: the Resolver's lookup."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], SecretReferenceSpec] = {}

    def add(self, spec: dict[str, Any], *, namespace: str = NAMESPACE, name: str | None = None) -> str:
        name = name or unique("ref")
        self._specs[(namespace, name)] = SecretReferenceSpec.model_validate(spec)
        return name

    def __call__(self, namespace: str, name: str) -> SecretReferenceSpec | None:
        return self._specs.get((namespace, name))


class Clock:
    """A monotonic clock the test moves: cache expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def resolve(resolver: Resolver, name: str, namespace: str = NAMESPACE) -> SecretValue:
    return await resolver.resolve(namespace, name)


async def expect_error(resolver: Resolver, name: str, reason: str, *, namespace: str = NAMESPACE,
                       mentions: tuple[str, ...] = ()) -> SecretError:
    """Resolving ``name`` fails with ``reason``; the message names the SecretReference (and ``mentions``)."""
    with pytest.raises(SecretError) as info:
        await resolver.resolve(namespace, name)
    error = info.value
    assert error.reason == reason, f"{error.reason}: {error}"
    assert f"SecretReference {namespace}/{name}" in str(error)
    for text in mentions:
        assert text in str(error)
    return error


def kube_secret(cluster: ControlPlane, namespace: str, name: str, **data: str) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                   "stringData": data})


def closed_url(scheme: str = "http") -> str:
    """A loopback URL nothing listens on."""
    return f"{scheme}://127.0.0.1:{free_port()}"
