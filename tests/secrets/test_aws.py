"""AWS Secrets Manager backend against moto (server mode, IAM enforced).

In-process the operator's identity is the ``reader`` user's keys in the environment (boto3's default
chain); static keys from a Kubernetes Secret use the real control plane. IRSA and EKS Pod Identity are
in test_identity.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.secrets.conftest import MakeResolver
from tests.secrets.helpers import NAMESPACE, Clock, Refs, closed_url, expect_error, kube_secret, resolve, unique
from tests.support.controlplane import ControlPlane
from tests.support.secretservers import aws
from tests.support.secretservers.stack import Stack
from wbauto.api.conditions import Reason
from wbauto.kube.client import Client


def spec(stack: Stack, secret_id: str, **extra: Any) -> dict[str, Any]:
    return {"aws": {"secretId": secret_id, "region": aws.REGION, "endpoint": stack.moto.endpoint, **extra}}


def create(stack: Stack, value: str | bytes, *, region: str = aws.REGION) -> tuple[str, str, str]:
    """A new secret: (name, ARN, VersionId)."""
    name = unique("aws")
    kwargs: dict[str, Any] = {"SecretBinary": value} if isinstance(value, bytes) else {"SecretString": value}
    client = stack.moto.client("secretsmanager") if region == aws.REGION else _regional(stack, region)
    created = client.create_secret(Name=name, **kwargs)
    return name, created["ARN"], created["VersionId"]


def _regional(stack: Stack, region: str) -> Any:
    import boto3

    return boto3.client("secretsmanager", endpoint_url=stack.moto.endpoint, region_name=region,
                        **stack.moto.admin.client_kwargs())


async def test_resolves_the_current_version_and_records_its_version_id(
        stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name, _, version = create(stack, "s3cr3t-current")
    ref = refs.add(spec(stack, name))
    value = await resolve(make_resolver(), ref)
    assert (value.value, value.version) == ("s3cr3t-current", version)


async def test_version_stage_version_id_and_custom_label(
        stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    sm = stack.moto.client("secretsmanager")
    name, _, first = create(stack, "value-one")
    second = sm.put_secret_value(SecretId=name, SecretString="value-two")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="PINNED", MoveToVersionId=first)
    resolver = make_resolver()
    cases = {
        refs.add(spec(stack, name)): ("value-two", second),
        refs.add(spec(stack, name, versionStage="AWSPREVIOUS")): ("value-one", first),
        refs.add(spec(stack, name, versionStage="PINNED")): ("value-one", first),
        refs.add(spec(stack, name, versionId=second)): ("value-two", second),
    }
    for ref, expected in cases.items():
        value = await resolve(resolver, ref)
        assert (value.value, value.version) == expected


async def test_region_from_arn_then_aws_region_then_aws_default_region(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    # the secret exists only in eu-west-1: reading in any other region is SecretNotFound
    name, arn, _ = create(stack, "in-ireland", region="eu-west-1")
    endpoint = {"endpoint": stack.moto.endpoint}
    by_arn = refs.add({"aws": {"secretId": arn, **endpoint}})
    by_name = refs.add({"aws": {"secretId": name, **endpoint}})
    pinned_elsewhere = refs.add({"aws": {"secretId": name, "region": "us-west-2", **endpoint}})

    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert (await resolve(make_resolver(), by_arn)).value == "in-ireland"  # the ARN's region wins over env
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert (await resolve(make_resolver(), by_name)).value == "in-ireland"  # AWS_REGION before the default
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert (await resolve(make_resolver(), by_name)).value == "in-ireland"
    await expect_error(make_resolver(), pinned_elsewhere, Reason.SECRET_NOT_FOUND)  # spec region wins
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    await expect_error(make_resolver(), by_name, Reason.INVALID_SPEC, mentions=("AWS_REGION",))


async def test_json_key(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name, _, _ = create(stack, json.dumps({"username": "svc", "password": "pw-123", "port": 5432}))
    resolver = make_resolver()
    assert (await resolve(resolver, refs.add(spec(stack, name, jsonKey="password")))).value == "pw-123"
    assert (await resolve(resolver, refs.add(spec(stack, name, jsonKey="port")))).value == "5432"
    await expect_error(resolver, refs.add(spec(stack, name, jsonKey="token")), Reason.BAD_FORMAT,
                       mentions=("'token'",))
    plain, _, _ = create(stack, "not json")
    await expect_error(resolver, refs.add(spec(stack, plain, jsonKey="password")), Reason.BAD_FORMAT)


async def test_binary_secrets_are_text_when_utf8_else_base64(
        stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    text, _, _ = create(stack, "binary but text ✓".encode())
    raw, _, _ = create(stack, b"\x00\xff\xfe binary")
    json_blob, _, _ = create(stack, json.dumps({"key": "from-binary"}).encode())
    resolver = make_resolver()
    assert (await resolve(resolver, refs.add(spec(stack, text)))).value == "binary but text ✓"
    assert (await resolve(resolver, refs.add(spec(stack, raw)))).value == "AP/+IGJpbmFyeQ=="
    assert (await resolve(resolver, refs.add(spec(stack, json_blob, jsonKey="key")))).value == "from-binary"


async def test_rotation_is_seen_after_expiry_and_after_invalidate(
        stack: Stack, refs: Refs, clock: Clock, make_resolver: MakeResolver) -> None:
    sm = stack.moto.client("secretsmanager")
    name, _, first = create(stack, "rotate-1")
    ref = refs.add({**spec(stack, name), "refreshInterval": "1m"})
    resolver = make_resolver()
    assert (await resolve(resolver, ref)).version == first
    second = sm.put_secret_value(SecretId=name, SecretString="rotate-2")["VersionId"]
    assert (await resolve(resolver, ref)).value == "rotate-1"  # cached
    clock.advance(61)
    value = await resolve(resolver, ref)
    assert (value.value, value.version) == ("rotate-2", second)
    sm.put_secret_value(SecretId=name, SecretString="rotate-3")
    resolver.invalidate(NAMESPACE, ref)
    assert (await resolve(resolver, ref)).value == "rotate-3"


async def test_not_found(stack: Stack, refs: Refs, make_resolver: MakeResolver) -> None:
    name, _, _ = create(stack, "exists")
    resolver = make_resolver()
    await expect_error(resolver, refs.add(spec(stack, "no-such-secret")), Reason.SECRET_NOT_FOUND,
                       mentions=("'no-such-secret'",))
    await expect_error(resolver, refs.add(spec(stack, name, versionStage="NOPE")), Reason.SECRET_NOT_FOUND,
                       mentions=("stage 'NOPE'",))
    stack.moto.client("secretsmanager").delete_secret(SecretId=name, RecoveryWindowInDays=7)
    await expect_error(resolver, refs.add(spec(stack, name)), Reason.SECRET_NOT_FOUND,
                       mentions=("scheduled for deletion",))


async def test_access_denied_for_an_identity_without_permission_or_with_a_bad_key(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    name, _, _ = create(stack, "guarded")
    ref = refs.add(spec(stack, name))
    for variable, setting in stack.moto.nobody.env().items():
        monkeypatch.setenv(variable, setting)
    await expect_error(make_resolver(), ref, Reason.ACCESS_DENIED)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.moto.reader.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key")
    await expect_error(make_resolver(), ref, Reason.ACCESS_DENIED)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    await expect_error(make_resolver(), ref, Reason.ACCESS_DENIED, mentions=("NoCredentialsError",))


async def test_unreachable_endpoint_is_backend_unavailable(refs: Refs, make_resolver: MakeResolver) -> None:
    ref = refs.add({"aws": {"secretId": "x", "region": aws.REGION, "endpoint": closed_url()}})
    error = await expect_error(make_resolver(), ref, Reason.BACKEND_UNAVAILABLE)
    assert error.retryable


@pytest.mark.cluster
async def test_static_keys_from_a_kubernetes_secret(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, cluster: ControlPlane, namespace: str,
        kube: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # the environment's keys cannot read: only the Secret's keys can
    for variable, setting in stack.moto.nobody.env().items():
        monkeypatch.setenv(variable, setting)
    name, _, version = create(stack, "read-with-static-keys")
    credentials = {"secretName": "aws-keys"}
    ref = refs.add({**spec(stack, name, credentials=credentials), "refreshInterval": "1h"}, namespace=namespace)
    resolver = make_resolver(kube=kube)

    await expect_error(resolver, ref, Reason.SECRET_NOT_FOUND, namespace=namespace,
                       mentions=(f"Secret {namespace}/aws-keys",))
    nobody = stack.moto.nobody
    kube_secret(cluster, namespace, "aws-keys", AWS_ACCESS_KEY_ID=nobody.access_key_id,
                AWS_SECRET_ACCESS_KEY=nobody.secret_access_key)
    await expect_error(resolver, ref, Reason.ACCESS_DENIED, namespace=namespace)
    # rotating the keys in the Secret takes effect at the next read (a new client for the new keys)
    reader = stack.moto.reader
    kube_secret(cluster, namespace, "aws-keys", AWS_ACCESS_KEY_ID=reader.access_key_id,
                AWS_SECRET_ACCESS_KEY=reader.secret_access_key)
    value = await resolver.resolve(namespace, ref)
    assert (value.value, value.version) == ("read-with-static-keys", version)

    # a session token key, and a missing key in the Secret
    temporary = stack.moto.assume(aws.POD_IDENTITY_ROLE_ARN, "static-session")
    kube_secret(cluster, namespace, "aws-session", id=temporary.access_key_id, key=temporary.secret_access_key,
                token=temporary.session_token or "")
    session_ref = refs.add(spec(stack, name, credentials={
        "secretName": "aws-session", "accessKeyIdKey": "id", "secretAccessKeyKey": "key",
        "sessionTokenKey": "token"}), namespace=namespace)
    assert (await resolver.resolve(namespace, session_ref)).value == "read-with-static-keys"
    missing_ref = refs.add(spec(stack, name, credentials={"secretName": "aws-session"}), namespace=namespace)
    await expect_error(resolver, missing_ref, Reason.SECRET_NOT_FOUND, namespace=namespace,
                       mentions=("'AWS_ACCESS_KEY_ID'",))
