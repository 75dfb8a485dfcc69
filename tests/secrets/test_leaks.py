"""Canaries: unique values planted in every backend (secret values, and the credentials that unlock them)
must never show in results' ``str``/``repr``, in exception text or tracebacks (chained causes included),
in log records, or on stdout/stderr, on success and on every error path.

Logging is captured at DEBUG with the SDK loggers at WARNING, as ``wbauto.logs.setup`` configures them
(botocore at DEBUG would log response bodies; keeping it quiet is the operator's logging setup's job).
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.secrets.conftest import MakeResolver
from tests.secrets.helpers import Refs, closed_url, kube_secret, unique
from tests.support.controlplane import ControlPlane
from tests.support.secretservers import aws
from tests.support.secretservers.stack import GCP_PROJECT, Stack
from wbauto.api.conditions import Reason
from wbauto.errors import SecretError
from wbauto.kube.client import Client

# the loggers wbauto.logs.setup pins to WARNING (plus grpc, which it leaves to GRPC_VERBOSITY)
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "azure", "google", "grpc", "hvac", "asyncio", "httpx", "httpcore")


@dataclass
class Case:
    ref: str
    expect: str | None  # a Reason, or None for success
    env: dict[str, str] = field(default_factory=dict)
    namespace: str = "team"


@dataclass
class Plan:
    canary: str
    cases: list[Case] = field(default_factory=list)
    kube: Any = None

    def add(self, ref: str, expect: str | None, **env: str) -> None:
        self.cases.append(Case(ref, expect, env))


Scenario = Callable[[Stack, Refs, Plan, Path], Awaitable[None]]


async def aws_scenario(stack: Stack, refs: Refs, plan: Plan, tmp_path: Path) -> None:
    c = plan.canary
    sm = stack.moto.client("secretsmanager")
    names = {kind: unique(f"leak-{kind}") for kind in ("plain", "doc", "deleted")}
    sm.create_secret(Name=names["plain"], SecretString=c)
    sm.create_secret(Name=names["doc"], SecretString=json.dumps({"other": c}))
    sm.create_secret(Name=names["deleted"], SecretString=c)
    sm.delete_secret(SecretId=names["deleted"], RecoveryWindowInDays=7)

    def ref(name: str, **extra: Any) -> str:
        return refs.add({"aws": {"secretId": name, "region": aws.REGION, "endpoint": stack.moto.endpoint, **extra}})

    plan.add(ref(names["plain"]), None)
    plan.add(ref(names["plain"], jsonKey="password"), Reason.BAD_FORMAT)
    plan.add(ref(names["doc"], jsonKey="password"), Reason.BAD_FORMAT)
    plan.add(ref(names["deleted"]), Reason.SECRET_NOT_FOUND)
    plan.add(ref("missing"), Reason.SECRET_NOT_FOUND)
    plan.add(ref(names["plain"]), Reason.ACCESS_DENIED, **stack.moto.nobody.env())
    plan.add(ref(names["plain"]), Reason.ACCESS_DENIED, AWS_SECRET_ACCESS_KEY=c)  # the canary as a credential
    plan.add(refs.add({"aws": {"secretId": names["plain"], "region": aws.REGION, "endpoint": closed_url()}}),
             Reason.BACKEND_UNAVAILABLE)


async def gcp_scenario(stack: Stack, refs: Refs, plan: Plan, tmp_path: Path) -> None:
    c, fake = plan.canary, stack.secret_manager
    names = {kind: unique(f"leak-{kind}") for kind in ("plain", "doc", "corrupt", "disabled", "guarded")}
    fake.add_version(GCP_PROJECT, names["plain"], c.encode())
    fake.add_version(GCP_PROJECT, names["doc"], json.dumps({"other": c}).encode())
    fake.add_version(GCP_PROJECT, names["corrupt"], c.encode(), corrupt_crc=True)
    fake.add_version(GCP_PROJECT, names["disabled"], c.encode())
    fake.disable(GCP_PROJECT, names["disabled"], 1)
    fake.add_version(GCP_PROJECT, names["guarded"], c.encode(), readers={"someone@example.com"})

    def ref(name: str, **extra: Any) -> str:
        return refs.add({"gcp": {"project": GCP_PROJECT, "secret": name, "endpoint": fake.endpoint, **extra}})

    plan.add(ref(names["plain"]), None)
    plan.add(ref(names["plain"], jsonKey="password"), Reason.BAD_FORMAT)
    plan.add(ref(names["doc"], jsonKey="password"), Reason.BAD_FORMAT)
    plan.add(ref(names["corrupt"]), Reason.BAD_FORMAT)
    plan.add(ref(names["disabled"], version="1"), Reason.SECRET_NOT_FOUND)
    plan.add(ref(names["guarded"]), Reason.ACCESS_DENIED)
    closed = closed_url().removeprefix("http://")
    plan.add(refs.add({"gcp": {"project": GCP_PROJECT, "secret": "x", "endpoint": closed}}),
             Reason.BACKEND_UNAVAILABLE, WBAUTO_GCP_ENDPOINTS=closed)
    plan.add(refs.add({"gcp": {"project": GCP_PROJECT, "secret": names["plain"], "endpoint": "evil.example:443"}}),
             Reason.INVALID_SPEC)


async def azure_scenario(stack: Stack, refs: Refs, plan: Plan, tmp_path: Path) -> None:
    c, fake = plan.canary, stack.keyvault
    names = {kind: unique(f"leak-{kind}") for kind in ("plain", "doc", "disabled", "guarded")}
    fake.set_secret(names["plain"], c)
    fake.set_secret(names["doc"], json.dumps({"other": c}))
    fake.disable(names["disabled"], fake.set_secret(names["disabled"], c))
    fake.set_secret(names["guarded"], c, readers={"another-app"})
    forged = tmp_path / "federated-token"
    forged.write_text(c)  # the canary as the projected token: refused by Entra, must not be echoed

    def ref(name: str, **extra: Any) -> str:
        return refs.add({"azure": {"vaultUrl": fake.url, "name": name, **extra}})

    plan.add(ref(names["plain"]), None)
    plan.add(ref(names["plain"], jsonKey="password"), Reason.BAD_FORMAT)
    plan.add(ref(names["doc"], jsonKey="password"), Reason.BAD_FORMAT)
    plan.add(ref(names["disabled"]), Reason.SECRET_NOT_FOUND)
    plan.add(ref(names["guarded"]), Reason.ACCESS_DENIED)
    plan.add(ref(names["plain"]), Reason.ACCESS_DENIED, AZURE_FEDERATED_TOKEN_FILE=str(forged))
    plan.add(refs.add({"azure": {"vaultUrl": closed_url("https"), "name": "x"}}), Reason.BACKEND_UNAVAILABLE)


def kube_scenario(stack: Stack, refs: Refs, plan: Plan, cluster: ControlPlane, namespace: str,
                  tmp_path: Path) -> None:
    """Credentials in Kubernetes Secrets (AWS static keys, a GCP key, Vault token and AppRole) and Vault."""
    c = plan.canary
    root = stack.bao.root()
    root.sys.create_or_update_policy("leak-read", 'path "secret/data/leak/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=["leak-read"], ttl="1h")["auth"]["client_token"]
    path = unique("leak/app")
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"key": c, "other": c})
    root.secrets.kv.v2.create_or_update_secret(path=unique("outside/app"), secret={"key": c})
    kube_secret(cluster, namespace, "good-token", token=token)
    kube_secret(cluster, namespace, "canary-creds", token=c, secretid=c, AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
                AWS_SECRET_ACCESS_KEY=c, **{"key.json": json.dumps({"type": "service_account", "private_key": c})})
    sm = stack.moto.client("secretsmanager")
    aws_name = unique("leak-static")
    sm.create_secret(Name=aws_name, SecretString=c)

    def add(spec: dict[str, Any], expect: str | None, **env: str) -> None:
        plan.cases.append(Case(refs.add(spec, namespace=namespace), expect, env, namespace=namespace))

    def vault(key: str, auth: dict[str, Any], vault_path: str = path) -> dict[str, Any]:
        return {"vault": {"address": stack.bao.address, "caBundle": stack.bao.ca_pem, "path": vault_path,
                          "key": key, "auth": auth}}

    good = {"token": {"secretRef": {"name": "good-token", "key": "token"}}}
    add(vault("key", good), None)
    add(vault("missing", good), Reason.SECRET_NOT_FOUND)
    add(vault("key", good, unique("outside/app")), Reason.ACCESS_DENIED)
    add(vault("key", {"token": {"secretRef": {"name": "canary-creds", "key": "token"}}}), Reason.ACCESS_DENIED)
    add(vault("key", {"appRole": {"roleId": "no-such-role", "mount": "approle",
                                  "secretIdRef": {"name": "canary-creds", "key": "secretid"}}}),
        Reason.ACCESS_DENIED)
    jwt = tmp_path / "jwt"
    jwt.write_text(c)  # the canary as the service-account token: bao's TokenReview refuses it
    add(vault("key", {"kubernetes": {"role": "any", "tokenPath": str(jwt)}}), Reason.ACCESS_DENIED,
        WBAUTO_VAULT_KUBERNETES_AUTH_ADDRESSES=stack.bao.address, WBAUTO_VAULT_JWT_DIRS=str(tmp_path))
    add({"aws": {"secretId": aws_name, "region": aws.REGION, "endpoint": stack.moto.endpoint,
                 "credentials": {"secretName": "canary-creds"}}}, Reason.ACCESS_DENIED)
    add({"gcp": {"project": GCP_PROJECT, "secret": "x", "endpoint": stack.secret_manager.endpoint,
                 "credentialsSecret": {"name": "canary-creds", "key": "key.json"}}}, Reason.BAD_FORMAT)


SCENARIOS: dict[str, Scenario] = {"aws": aws_scenario, "gcp": gcp_scenario, "azure": azure_scenario}


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in SDK_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)


async def run(plan: Plan, make_resolver: MakeResolver, monkeypatch: pytest.MonkeyPatch,
              caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """Resolve every case (a fresh Resolver each, so cold clients), then look for the canary everywhere."""
    texts: list[str] = []
    for case in plan.cases:
        with monkeypatch.context() as mp:
            for variable, setting in case.env.items():
                mp.setenv(variable, setting)
            resolver = make_resolver(kube=plan.kube)
            try:
                value = await resolver.resolve(case.namespace, case.ref)
            except SecretError as exc:
                assert exc.reason == case.expect, f"{case}: {exc.reason}: {exc}"
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc)), str(exc.args)]
            else:
                assert case.expect is None, f"{case}: resolved, expected {case.expect}"
                assert value.value == plan.canary
                texts += [str(value), repr(value), f"{value}", f"{value!r}", str([value])]

    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    texts += [record.getMessage() for record in caplog.records]
    texts += [logging.Formatter().formatException(r.exc_info) for r in caplog.records if r.exc_info]
    assert len(plan.cases) >= 6
    assert [t for t in texts if plan.canary in t] == []


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


@pytest.mark.parametrize("backend", sorted(SCENARIOS))
async def test_canaries_never_leak(
        backend: str, stack: Stack, refs: Refs, make_resolver: MakeResolver, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    capture_everything(caplog)
    plan = Plan(canary())
    await SCENARIOS[backend](stack, refs, plan, tmp_path)
    await run(plan, make_resolver, monkeypatch, caplog, capfd)


@pytest.mark.cluster
async def test_canaries_in_kubernetes_held_credentials_never_leak(
        stack: Stack, refs: Refs, make_resolver: MakeResolver, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cluster: ControlPlane,
        namespace: str, kube: Client, tmp_path: Path) -> None:
    capture_everything(caplog)
    plan = Plan(canary(), kube=kube)
    kube_scenario(stack, refs, plan, cluster, namespace, tmp_path)
    await run(plan, make_resolver, monkeypatch, caplog, capfd)
