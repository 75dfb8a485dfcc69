"""GCP Secret Manager backend against the in-repo gRPC server (TLS, the SDK's own messages).

In-process the operator's identity is Application Default Credentials from a service-account key file
(``GOOGLE_APPLICATION_CREDENTIALS``); a key kept in a Kubernetes Secret uses the real control plane. The
GKE metadata server path is in test_identity.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.secrets.conftest import MakeResolver
from tests.secrets.helpers import NAMESPACE, Clock, Refs, closed_url, expect_error, kube_secret, resolve, unique
from tests.support.controlplane import ControlPlane
from tests.support.secretservers import gcp as fake
from tests.support.secretservers.stack import GCP_PROJECT, OPERATOR_SA, Stack, service_account_key
from wbauto.api.conditions import Reason
from wbauto.kube.client import Client
from wbauto.secrets import gcp


def spec(stack: Stack, secret: str, **extra: Any) -> dict[str, Any]:
    return {"gcp": {"project": GCP_PROJECT, "secret": secret, "endpoint": stack.secret_manager.endpoint, **extra}}


def test_crc32c_matches_the_reference_vectors() -> None:
    # RFC 3720 B.4 check value, and agreement with the fake's independent bitwise implementation
    assert gcp.crc32c(b"123456789") == 0xE3069283
    assert gcp.crc32c(b"") == 0
    for data in (b"\x00" * 32, bytes(range(256)), "ünïcødé".encode()):
        assert gcp.crc32c(data) == fake.crc32c(data)


async def test_latest_records_the_concrete_version(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name = unique("gcp")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"first")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"second")
    resolver = make_resolver()
    value = await resolve(resolver, refs.add(spec(stack, name)))
    assert (value.value, value.version) == ("second", "2")
    value = await resolve(resolver, refs.add(spec(stack, name, version="1")))
    assert (value.value, value.version) == ("first", "1")
    # the caller was the ADC identity (the key file), authenticated by its self-signed JWT
    assert (f"projects/{GCP_PROJECT}/secrets/{name}/versions/latest", OPERATOR_SA) in stack.secret_manager.calls


async def test_regional_secret_with_an_endpoint_override(
        stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name = unique("regional")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"in-us-east1", location="us-east1")
    value = await resolve(make_resolver(), refs.add(spec(stack, name, location="us-east1")))
    assert (value.value, value.version) == ("in-us-east1", "1")
    called = stack.secret_manager.calls[-1][0]
    assert called == f"projects/{GCP_PROJECT}/locations/us-east1/secrets/{name}/versions/latest"


def test_regional_endpoint_default() -> None:
    from wbauto.api.secretreference import GcpSource

    source = GcpSource(project="p", secret="s", location="europe-west4")
    assert gcp.endpoint_of(source) == "secretmanager.europe-west4.rep.googleapis.com"
    assert gcp.version_name(source) == "projects/p/locations/europe-west4/secrets/s/versions/latest"
    assert gcp.endpoint_of(GcpSource(project="p", secret="s")) is None


async def test_json_key_and_binary_payloads(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    doc, raw = unique("json"), unique("raw")
    stack.secret_manager.add_version(GCP_PROJECT, doc, json.dumps({"token": "t-1", "n": [1, 2]}).encode())
    stack.secret_manager.add_version(GCP_PROJECT, raw, b"\xff\x00binary")
    resolver = make_resolver()
    assert (await resolve(resolver, refs.add(spec(stack, doc, jsonKey="token")))).value == "t-1"
    assert (await resolve(resolver, refs.add(spec(stack, doc, jsonKey="n")))).value == "[1, 2]"
    assert (await resolve(resolver, refs.add(spec(stack, raw)))).value == "/wBiaW5hcnk="
    await expect_error(resolver, refs.add(spec(stack, doc, jsonKey="missing")), Reason.BAD_FORMAT,
                       mentions=("'missing'",))
    await expect_error(resolver, refs.add(spec(stack, raw, jsonKey="token")), Reason.BAD_FORMAT)


async def test_crc_mismatch_is_bad_format(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name = unique("corrupt")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"payload", corrupt_crc=True)
    error = await expect_error(make_resolver(), refs.add(spec(stack, name)), Reason.BAD_FORMAT,
                               mentions=("CRC32C",))
    assert error.retryable


async def test_rotation_is_seen_after_expiry_and_after_invalidate(
        stack: Stack, refs: Refs, clock: Clock, make_resolver: MakeResolver) -> None:
    name = unique("rotate")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"v1")
    ref = refs.add({**spec(stack, name), "refreshInterval": "10m"})
    resolver = make_resolver()
    assert (await resolve(resolver, ref)).version == "1"
    stack.secret_manager.add_version(GCP_PROJECT, name, b"v2")
    assert (await resolve(resolver, ref)).value == "v1"
    clock.advance(601)
    value = await resolve(resolver, ref)
    assert (value.value, value.version) == ("v2", "2")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"v3")
    resolver.invalidate(NAMESPACE, ref)
    assert (await resolve(resolver, ref)).version == "3"


async def test_not_found_disabled_and_denied(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name, guarded = unique("gcp"), unique("guarded")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"one")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"two")
    stack.secret_manager.disable(GCP_PROJECT, name, 2)
    stack.secret_manager.add_version(GCP_PROJECT, guarded, b"x", readers={"someone-else@example.com"})
    resolver = make_resolver()
    await expect_error(resolver, refs.add(spec(stack, "no-such-secret")), Reason.SECRET_NOT_FOUND,
                       mentions=(f"{GCP_PROJECT}/no-such-secret",))
    await expect_error(resolver, refs.add(spec(stack, name, version="9")), Reason.SECRET_NOT_FOUND)
    await expect_error(resolver, refs.add(spec(stack, name, version="2")), Reason.SECRET_NOT_FOUND,
                       mentions=("disabled or destroyed",))
    assert (await resolve(resolver, refs.add(spec(stack, name)))).value == "one"  # latest enabled
    await expect_error(resolver, refs.add(spec(stack, guarded)), Reason.ACCESS_DENIED)


async def test_unknown_identity_is_access_denied(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Any) -> None:
    info, _ = service_account_key("stranger@elsewhere.iam.gserviceaccount.com")  # never registered
    key_file = tmp_path / "stranger.json"
    key_file.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    name = unique("gcp")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"x")
    await expect_error(make_resolver(), refs.add(spec(stack, name)), Reason.ACCESS_DENIED)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    await expect_error(make_resolver(), refs.add(spec(stack, name)), Reason.ACCESS_DENIED,
                       mentions=("DefaultCredentialsError",))


async def test_unreachable_endpoint_is_backend_unavailable(
        refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = closed_url().removeprefix("http://")
    monkeypatch.setenv(gcp.ENDPOINTS_ENV, endpoint)
    ref = refs.add({"gcp": {"project": GCP_PROJECT, "secret": "x", "endpoint": endpoint}})
    error = await expect_error(make_resolver(), ref, Reason.BACKEND_UNAVAILABLE)
    assert error.retryable


async def test_the_operators_identity_goes_only_to_google_or_listed_endpoints(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique("gcp")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"x")
    monkeypatch.setenv(gcp.ENDPOINTS_ENV, "other.example:443")
    calls = len(stack.secret_manager.calls)
    await expect_error(make_resolver(), refs.add(spec(stack, name)), Reason.INVALID_SPEC,
                       mentions=(gcp.ENDPOINTS_ENV,))
    assert len(stack.secret_manager.calls) == calls  # nothing was sent
    monkeypatch.setenv(gcp.ENDPOINTS_ENV, f"other.example:443, {stack.secret_manager.endpoint}")
    assert (await resolve(make_resolver(), refs.add(spec(stack, name)))).value == "x"


def test_trusted_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gcp.ENDPOINTS_ENV)
    for endpoint in (None, "secretmanager.googleapis.com", "secretmanager.us-east1.rep.googleapis.com:443",
                     "secretmanager-psc1.p.googleapis.com"):
        assert gcp.trusted_endpoint(endpoint), endpoint
    for endpoint in ("evil.example", "googleapis.com.evil.example:443", "127.0.0.1:8443", "x@googleapis.com"):
        assert not gcp.trusted_endpoint(endpoint), endpoint


@pytest.mark.cluster
async def test_service_account_key_from_a_kubernetes_secret(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, cluster: ControlPlane, namespace: str,
        kube: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gcp.ENDPOINTS_ENV)  # a SecretReference's own key may go to any endpoint
    tenant_sa = f"tenant-{namespace}@{GCP_PROJECT}.iam.gserviceaccount.com"
    info, public_pem = service_account_key(tenant_sa)
    stack.secret_manager.trust_service_account(tenant_sa, public_pem)
    name = unique("tenant-only")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"for-the-tenant", readers={tenant_sa})
    selector = {"name": "gcp-key", "key": "key.json"}
    ref = refs.add(spec(stack, name, credentialsSecret=selector), namespace=namespace)
    resolver = make_resolver(kube=kube)

    await expect_error(resolver, ref, Reason.SECRET_NOT_FOUND, namespace=namespace,
                       mentions=(f"Secret {namespace}/gcp-key",))
    kube_secret(cluster, namespace, "gcp-key", **{"key.json": "{not a key"})
    await expect_error(resolver, ref, Reason.BAD_FORMAT, namespace=namespace,
                       mentions=("'key.json'", "service-account key JSON"))
    kube_secret(cluster, namespace, "gcp-key", **{"key.json": json.dumps(info)})
    value = await resolver.resolve(namespace, ref)
    assert (value.value, value.version) == ("for-the-tenant", "1")
    assert stack.secret_manager.calls[-1][1] == tenant_sa
    # the operator's own identity (ADC) is not sent to that endpoint, and if it were, it could not read
    adc_ref = refs.add(spec(stack, name))
    await expect_error(resolver, adc_ref, Reason.INVALID_SPEC)
    monkeypatch.setenv(gcp.ENDPOINTS_ENV, stack.secret_manager.endpoint)
    await expect_error(resolver, adc_ref, Reason.ACCESS_DENIED)
