"""The Kubernetes client reads the proxy variables and ~/.netrc once, not on every request: its session
stops trusting the environment only when neither applies to the apiserver."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_asyncio import client as k8s_client

from wbauto.kube import config


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    return monkeypatch


async def _trusts_env(host: str) -> bool:
    configuration = k8s_client.Configuration()
    configuration.host = host
    credentials = config.Credentials(configuration, "default", "test")
    try:
        return bool(credentials.api.rest_client.pool_manager.trust_env)
    finally:
        await credentials.aclose()


async def test_nothing_in_the_environment_stops_the_per_request_lookups(clean_env: pytest.MonkeyPatch) -> None:
    assert await _trusts_env("https://127.0.0.1:6443") is False


async def test_a_proxy_for_the_apiserver_keeps_the_environment_in_use(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert await _trusts_env("https://10.0.0.1:6443") is True


async def test_a_proxy_the_apiserver_is_exempt_from_does_not(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    clean_env.setenv("NO_PROXY", "10.0.0.1")
    assert await _trusts_env("https://10.0.0.1:6443") is False


async def test_a_netrc_file_keeps_the_environment_in_use(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine example.com login u password p\n")
    netrc.chmod(0o600)
    assert await _trusts_env("https://127.0.0.1:6443") is True
