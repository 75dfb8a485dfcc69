"""Fixtures for the secret-backend tests.

The servers start once for the package, and the process environment is made hermetic for the package
(every cloud variable cleared, one identity per cloud: ``stack.Stack.env``) and restored afterwards.
Tests that keep credentials in Kubernetes Secrets use the real control plane (``cluster``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.secrets.helpers import Clock, Refs
from tests.support.controlplane import ControlPlane
from tests.support.secretservers import stack as servers
from wbauto.kube import client as kube_client
from wbauto.secrets.base import Context
from wbauto.secrets.resolver import Resolver

MakeResolver = Callable[..., Resolver]


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Stack]:
    with servers.running(tmp_path_factory.mktemp("secretservers")) as running:
        yield running


@pytest.fixture(scope="package", autouse=True)
def hermetic_env(stack: servers.Stack) -> Iterator[None]:
    env = stack.env()
    with pytest.MonkeyPatch.context() as mp:
        for name in set(os.environ) - set(env):
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        yield


@pytest.fixture
def refs() -> Refs:
    return Refs()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_resolver(refs: Refs, clock: Clock) -> AsyncIterator[MakeResolver]:
    """Build Resolvers over ``refs``, each with fresh backends (so fresh SDK clients); the Azure
    backend's HTTP sessions are closed at the end of the test."""
    from wbauto.secrets.azure import AzureBackend

    made: list[Resolver] = []

    def make(kube: Any = None, timeout: float = 10.0) -> Resolver:
        resolver = Resolver(Context(kube=kube, timeout=timeout), refs, clock=clock)
        made.append(resolver)
        return resolver

    yield make
    for resolver in made:
        backend = resolver.backend("azure")
        if isinstance(backend, AzureBackend):
            await backend.aclose()


@pytest.fixture
async def kube(cluster: ControlPlane) -> AsyncIterator[kube_client.Client]:
    client = kube_client.Client(str(cluster.kubeconfig))
    yield client
    await client.aclose()
