"""Azure Key Vault backend against the in-repo HTTPS Key Vault + Entra ID, through the real credential chain.

In-process the operator's identity is AKS Workload Identity (``DefaultAzureCredential`` with the
webhook's variables and ``AZURE_TOKEN_CREDENTIALS=prod``); test_identity.py repeats that in a fresh
process with nothing else in the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.secrets.conftest import MakeResolver
from tests.secrets.helpers import NAMESPACE, Clock, Refs, closed_url, expect_error, resolve, unique
from tests.support.secretservers import azure as fake
from tests.support.secretservers.stack import AZURE_CLIENT_ID, Stack
from wbauto.api.conditions import Reason
from wbauto.secrets import azure


def spec(stack: Stack, name: str, **extra: Any) -> dict[str, Any]:
    return {"azure": {"vaultUrl": stack.keyvault.url, "name": name, **extra}}


async def test_current_and_pinned_versions(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name = unique("kv")
    first = stack.keyvault.set_secret(name, "value-1")
    second = stack.keyvault.set_secret(name, "value-2")
    requests_before, challenges_before = len(stack.keyvault.token_requests), stack.keyvault.challenges
    resolver = make_resolver()
    value = await resolve(resolver, refs.add(spec(stack, name)))
    assert (value.value, value.version) == ("value-2", second)
    value = await resolve(resolver, refs.add(spec(stack, name, version=first)))
    assert (value.value, value.version) == ("value-1", first)
    # the real client-assertion grant happened once (the token is reused), with the pinned API version
    grants = stack.keyvault.token_requests[requests_before:]
    assert [(g.client_id, g.scope, g.assertion_type, g.granted) for g in grants] == [
        (AZURE_CLIENT_ID, fake.SCOPE, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", True)]
    assert stack.keyvault.api_versions[-1] == "7.6"
    assert stack.keyvault.challenges == challenges_before + 1  # a new client's first request gets the challenge


async def test_json_key(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name = unique("kv-json")
    stack.keyvault.set_secret(name, json.dumps({"client_secret": "cs-1", "ttl": 30}))
    resolver = make_resolver()
    assert (await resolve(resolver, refs.add(spec(stack, name, jsonKey="client_secret")))).value == "cs-1"
    assert (await resolve(resolver, refs.add(spec(stack, name, jsonKey="ttl")))).value == "30"
    await expect_error(resolver, refs.add(spec(stack, name, jsonKey="nope")), Reason.BAD_FORMAT,
                       mentions=("'nope'",))
    plain = unique("kv-plain")
    stack.keyvault.set_secret(plain, "plain text")
    await expect_error(resolver, refs.add(spec(stack, plain, jsonKey="client_secret")), Reason.BAD_FORMAT)


async def test_rotation_is_seen_after_expiry_and_after_invalidate(
        stack: Stack, refs: Refs, clock: Clock, make_resolver: MakeResolver) -> None:
    name = unique("kv-rotate")
    first = stack.keyvault.set_secret(name, "r1")
    ref = refs.add({**spec(stack, name), "refreshInterval": "30s"})
    resolver = make_resolver()
    assert (await resolve(resolver, ref)).version == first
    second = stack.keyvault.set_secret(name, "r2")
    assert (await resolve(resolver, ref)).value == "r1"
    clock.advance(31)
    value = await resolve(resolver, ref)
    assert (value.value, value.version) == ("r2", second)
    stack.keyvault.set_secret(name, "r3")
    resolver.invalidate(NAMESPACE, ref)
    assert (await resolve(resolver, ref)).value == "r3"


async def test_not_found_disabled_and_denied(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name, guarded = unique("kv"), unique("kv-guarded")
    current = stack.keyvault.set_secret(name, "x")
    stack.keyvault.set_secret(guarded, "y", readers={"some-other-app"})
    resolver = make_resolver()
    await expect_error(resolver, refs.add(spec(stack, "no-such-secret")), Reason.SECRET_NOT_FOUND,
                       mentions=("'no-such-secret'",))
    await expect_error(resolver, refs.add(spec(stack, name, version="0" * 32)), Reason.SECRET_NOT_FOUND)
    await expect_error(resolver, refs.add(spec(stack, guarded)), Reason.ACCESS_DENIED)
    stack.keyvault.disable(name, current)
    await expect_error(resolver, refs.add(spec(stack, name)), Reason.SECRET_NOT_FOUND, mentions=("disabled",))


async def test_refused_federated_token_is_access_denied(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    name = unique("kv")
    stack.keyvault.set_secret(name, "x")
    forged = tmp_path / "token"
    forged.write_text("not-the-projected-token")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(forged))
    await expect_error(make_resolver(), refs.add(spec(stack, name)), Reason.ACCESS_DENIED)
    assert not stack.keyvault.token_requests[-1].granted


async def test_challenge_resource_is_verified_unless_the_operator_turns_it_off(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique("kv")
    stack.keyvault.set_secret(name, "x")
    ref = refs.add(spec(stack, name))
    monkeypatch.delenv(azure.VERIFY_CHALLENGE_ENV)
    # https://127.0.0.1 is not a host under the challenge's resource (vault.azure.net)
    await expect_error(make_resolver(), ref, Reason.INVALID_SPEC, mentions=("vaultUrl",))
    monkeypatch.setenv(azure.VERIFY_CHALLENGE_ENV, "no")  # only an explicit "false" turns it off
    await expect_error(make_resolver(), ref, Reason.INVALID_SPEC)


async def test_untrusted_certificate_and_closed_port_are_backend_unavailable(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    error = await expect_error(make_resolver(), refs.add({"azure": {"vaultUrl": closed_url("https"), "name": "x"}}),
                               Reason.BACKEND_UNAVAILABLE)
    assert error.retryable
    monkeypatch.delenv(azure.CA_BUNDLE_ENV)  # system roots do not trust the test CA
    await expect_error(make_resolver(), refs.add(spec(stack, "x")), Reason.BACKEND_UNAVAILABLE)


def test_settings_from_environment() -> None:
    assert azure.Settings.from_env({}) == azure.Settings(None, None, True)
    settings = azure.Settings.from_env({azure.CA_BUNDLE_ENV: "/ca.pem", azure.API_VERSION_ENV: "7.5",
                                        azure.VERIFY_CHALLENGE_ENV: " False "})
    assert settings == azure.Settings("/ca.pem", "7.5", False)
    assert settings.transport()["connection_verify"] == "/ca.pem"
