"""Vault / OpenBao backend against the real ``bao`` dev server (TLS), with credentials in Kubernetes
Secrets of the real control plane, and Kubernetes auth verified by bao through the apiserver's
TokenReview."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.secrets.conftest import MakeResolver
from tests.secrets.helpers import Clock, Refs, closed_url, expect_error, kube_secret, unique
from tests.support.controlplane import ControlPlane
from tests.support.secretservers.stack import Stack
from tests.support.secretservers.tls import Tls
from wbauto.api.conditions import Reason
from wbauto.kube.client import Client
from wbauto.secrets import vault as vault_backend

pytestmark = pytest.mark.cluster

READ_POLICY = 'path "secret/data/team/*" { capabilities = ["read"] }'
OPERATOR_NAMESPACE = "wbauto-system"


@dataclass(frozen=True)
class VaultSetup:
    reader_token: str  # a token with the read policy only
    role_id: str  # AppRole role "wbauto"
    secret_id: str
    jwt_file: Path  # the operator's service-account token (Kubernetes auth role "wbauto")


@pytest.fixture(scope="module")
def vault(stack: Stack, cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultSetup]:
    root = stack.bao.root()
    root.sys.create_or_update_policy("team-read", READ_POLICY)
    root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("wbauto", token_policies=["team-read"], token_ttl="1h")
    role_id = root.auth.approle.read_role_id("wbauto")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("wbauto")["data"]["secret_id"]

    # the operator's service account; bao reviews its JWT with the apiserver's TokenReview API
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    cluster.kubectl("create", "serviceaccount", "wbauto", "-n", OPERATOR_NAMESPACE)
    cluster.kubectl("create", "clusterrolebinding", "wbauto-auth-delegator", "--clusterrole=system:auth-delegator",
                    f"--serviceaccount={OPERATOR_NAMESPACE}:wbauto")
    jwt_file = tmp_path_factory.mktemp("sa") / "token"
    jwt_file.write_text(cluster.kubectl("create", "token", "wbauto", "-n", OPERATOR_NAMESPACE,
                                        "--duration=1h").stdout.strip())
    root.sys.enable_auth_method("kubernetes")
    root.auth.kubernetes.configure(kubernetes_host=cluster.server, disable_local_ca_jwt=True,
                                   kubernetes_ca_cert=(cluster.workdir / "pki" / "ca.crt").read_text())
    root.auth.kubernetes.create_role("wbauto", bound_service_account_names=["wbauto"],
                                     bound_service_account_namespaces=[OPERATOR_NAMESPACE],
                                     policies=["team-read"], ttl="1h")
    reader = root.auth.token.create(policies=["team-read"], ttl="2h")["auth"]["client_token"]
    yield VaultSetup(reader, role_id, secret_id, jwt_file)


def write(stack: Stack, path: str, data: dict[str, Any]) -> int:
    response = stack.bao.root().secrets.kv.v2.create_or_update_secret(path=path, secret=data)
    return int(response["data"]["version"])


def spec(stack: Stack, path: str, key: str, auth: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"vault": {"address": stack.bao.address, "caBundle": stack.bao.ca_pem, "path": path, "key": key,
                      "auth": auth, **extra}}


TOKEN_AUTH = {"token": {"secretRef": {"name": "vault-token", "key": "token"}}}


async def test_token_auth_versions_values_and_rotation(
        stack: Stack, vault: VaultSetup, refs: Refs, clock: Clock, make_resolver: MakeResolver,
        cluster: ControlPlane, namespace: str, kube: Client) -> None:
    kube_secret(cluster, namespace, "vault-token", token=vault.reader_token)
    path = unique("team/db")
    write(stack, path, {"password": "p1", "port": 5432})
    write(stack, path, {"password": "p2", "port": 5432, "tags": {"a": 1}})
    resolver = make_resolver(kube=kube)

    async def get(key: str, **extra: Any) -> tuple[str, str]:
        value = await resolver.resolve(namespace, refs.add(spec(stack, path, key, TOKEN_AUTH, **extra),
                                                           namespace=namespace))
        return value.value, value.version

    assert await get("password") == ("p2", "2")
    assert await get("password", version=1) == ("p1", "1")
    assert await get("port") == ("5432", "2")
    assert await get("tags") == ('{"a": 1}', "2")

    ref = refs.add({**spec(stack, path, "password", TOKEN_AUTH), "refreshInterval": "2m"}, namespace=namespace)
    assert (await resolver.resolve(namespace, ref)).value == "p2"
    write(stack, path, {"password": "p3"})
    assert (await resolver.resolve(namespace, ref)).value == "p2"
    clock.advance(121)
    assert (await resolver.resolve(namespace, ref)).version == "3"
    write(stack, path, {"password": "p4"})
    resolver.invalidate(namespace, ref)
    assert (await resolver.resolve(namespace, ref)).value == "p4"


async def test_token_auth_errors(
        stack: Stack, vault: VaultSetup, refs: Refs, make_resolver: MakeResolver, cluster: ControlPlane,
        namespace: str, kube: Client, tmp_path: Path) -> None:
    resolver = make_resolver(kube=kube)
    path = unique("team/app")
    write(stack, path, {"key": "v1"})

    def ref(path_: str, key: str = "key", auth: dict[str, Any] = TOKEN_AUTH, **extra: Any) -> str:
        return refs.add(spec(stack, path_, key, auth, **extra), namespace=namespace)

    async def fails(name: str, reason: str, *mentions: str) -> None:
        await expect_error(resolver, name, reason, namespace=namespace, mentions=mentions)

    await fails(ref(path), Reason.SECRET_NOT_FOUND, f"Secret {namespace}/vault-token")
    kube_secret(cluster, namespace, "vault-token", token=vault.reader_token)
    await fails(ref(path, "other"), Reason.SECRET_NOT_FOUND, "key 'other'")
    await fails(ref(unique("team/missing")), Reason.SECRET_NOT_FOUND)
    await fails(ref(path, version=7), Reason.SECRET_NOT_FOUND)
    stack.bao.root().secrets.kv.v2.delete_latest_version_of_secret(path=path)
    await fails(ref(path), Reason.SECRET_NOT_FOUND)
    await fails(ref(unique("elsewhere/app")), Reason.ACCESS_DENIED)  # outside the token's policy
    kube_secret(cluster, namespace, "vault-token", token="s.not-a-token")
    await fails(ref(path), Reason.ACCESS_DENIED)
    unreachable = refs.add({"vault": {"address": closed_url("https"), "path": path, "key": "key",
                                      "auth": TOKEN_AUTH}}, namespace=namespace)
    await fails(unreachable, Reason.BACKEND_UNAVAILABLE)
    other_ca = Tls.create(tmp_path).ca.cert_pem.bytes().decode()
    await fails(refs.add(spec(stack, path, "key", TOKEN_AUTH, caBundle=other_ca), namespace=namespace),
                Reason.BACKEND_UNAVAILABLE)


def approle_tokens(stack: Stack) -> list[str]:
    """Accessors of the live tokens AppRole "wbauto" issued."""
    root = stack.bao.root()
    accessors = root.list("auth/token/accessors")["data"]["keys"]
    found = []
    for accessor in accessors:
        data = root.auth.token.lookup_accessor(accessor)["data"]
        if (data.get("meta") or {}).get("role_name") == "wbauto":
            found.append(accessor)
    return found


async def test_approle_login_is_reused_and_renewed_after_revocation(
        stack: Stack, vault: VaultSetup, refs: Refs, make_resolver: MakeResolver, cluster: ControlPlane,
        namespace: str, kube: Client) -> None:
    for accessor in approle_tokens(stack):
        stack.bao.root().auth.token.revoke_accessor(accessor)
    path = unique("team/approle")
    write(stack, path, {"key": "via-approle"})
    auth = {"appRole": {"roleId": vault.role_id, "secretIdRef": {"name": "approle", "key": "secret-id"}}}
    kube_secret(cluster, namespace, "approle", **{"secret-id": vault.secret_id})
    ref = refs.add(spec(stack, path, "key", auth), namespace=namespace)
    resolver = make_resolver(kube=kube)

    assert (await resolver.resolve(namespace, ref)).value == "via-approle"
    resolver.invalidate(namespace, ref)
    assert (await resolver.resolve(namespace, ref)).value == "via-approle"
    tokens = approle_tokens(stack)
    assert len(tokens) == 1  # one login for both reads

    stack.bao.root().auth.token.revoke_accessor(tokens[0])
    resolver.invalidate(namespace, ref)
    assert (await resolver.resolve(namespace, ref)).value == "via-approle"  # 403, then a new login
    assert len(approle_tokens(stack)) == 1

    kube_secret(cluster, namespace, "approle", **{"secret-id": "not-the-secret-id"})
    resolver.invalidate(namespace, ref)
    await expect_error(resolver, ref, Reason.ACCESS_DENIED, namespace=namespace,
                       mentions=("Vault login (approle at auth/approle)",))
    # a login that cannot reach Vault is not a refusal
    unreachable = refs.add({"vault": {"address": closed_url("https"), "path": path, "key": "key", "auth": auth}},
                           namespace=namespace)
    await expect_error(resolver, unreachable, Reason.BACKEND_UNAVAILABLE, namespace=namespace)


async def test_kubernetes_auth_with_the_operator_service_account(
        stack: Stack, vault: VaultSetup, refs: Refs, make_resolver: MakeResolver, namespace: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vault_backend.KUBERNETES_AUTH_ADDRESSES_ENV, f"https://vault.example, {stack.bao.address}/")
    monkeypatch.setenv(vault_backend.JWT_DIRS_ENV, f"{vault.jwt_file.parent}:{tmp_path}")
    path = unique("team/kube")
    write(stack, path, {"key": "via-kubernetes-auth"})
    resolver = make_resolver()  # no Kubernetes client needed: the JWT is a file

    def ref(**auth: Any) -> str:
        return refs.add(spec(stack, path, "key", {"kubernetes": {"role": "wbauto", "tokenPath": str(vault.jwt_file),
                                                                 **auth}}), namespace=namespace)

    value = await resolver.resolve(namespace, ref())
    assert (value.value, value.version) == ("via-kubernetes-auth", "1")
    await expect_error(resolver, ref(role="no-such-role"), Reason.ACCESS_DENIED, namespace=namespace,
                       mentions=("Vault login (kubernetes at auth/kubernetes)",))
    await expect_error(resolver, ref(tokenPath=str(tmp_path / "missing")), Reason.ACCESS_DENIED,
                       namespace=namespace)
    forged = tmp_path / "forged"
    forged.write_text(vault.jwt_file.read_text()[:-4] + "AAAA")  # bad signature: TokenReview says no
    await expect_error(resolver, ref(tokenPath=str(forged)), Reason.ACCESS_DENIED, namespace=namespace)


async def test_kubernetes_auth_only_with_listed_addresses_and_token_dirs(
        stack: Stack, vault: VaultSetup, refs: Refs, make_resolver: MakeResolver, namespace: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = make_resolver()
    path = unique("team/guarded")
    write(stack, path, {"key": "x"})

    def ref(token_path: str) -> str:
        auth = {"kubernetes": {"role": "wbauto", "tokenPath": token_path}}
        return refs.add(spec(stack, path, "key", auth), namespace=namespace)

    async def refused(token_path: str, mention: str) -> None:
        await expect_error(resolver, ref(token_path), Reason.INVALID_SPEC, namespace=namespace, mentions=(mention,))

    await refused(str(vault.jwt_file), vault_backend.KUBERNETES_AUTH_ADDRESSES_ENV)  # unset: refused
    monkeypatch.setenv(vault_backend.KUBERNETES_AUTH_ADDRESSES_ENV, "https://vault.example")
    await refused(str(vault.jwt_file), vault_backend.KUBERNETES_AUTH_ADDRESSES_ENV)
    monkeypatch.setenv(vault_backend.KUBERNETES_AUTH_ADDRESSES_ENV, stack.bao.address)
    await refused(str(vault.jwt_file), vault_backend.JWT_DIRS_ENV)  # default: /var/run/secrets only
    monkeypatch.setenv(vault_backend.JWT_DIRS_ENV, str(vault.jwt_file.parent))
    (tmp_path / "link").symlink_to("/etc/hostname")
    for outside in ("/etc/hostname", f"{vault.jwt_file.parent}/../x", str(tmp_path / "link"),
                    vault.jwt_file.name):
        await refused(outside, vault_backend.JWT_DIRS_ENV)
    assert (await resolver.resolve(namespace, ref(str(vault.jwt_file)))).value == "x"  # the listed one works


async def test_vault_namespace(stack: Stack, refs: Refs, make_resolver: MakeResolver, cluster: ControlPlane,
                               namespace: str, kube: Client) -> None:
    bao_namespace = unique("tenant")
    stack.bao.root().sys.create_namespace(bao_namespace)
    scoped = stack.bao.root(namespace=bao_namespace)
    scoped.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    scoped.sys.create_or_update_policy("read", 'path "secret/data/*" { capabilities = ["read"] }')
    scoped.secrets.kv.v2.create_or_update_secret(path="app", secret={"key": "in-namespace"})
    token = scoped.auth.token.create(policies=["read"], ttl="1h")["auth"]["client_token"]
    kube_secret(cluster, namespace, "ns-token", token=token)
    auth = {"token": {"secretRef": {"name": "ns-token", "key": "token"}}}
    resolver = make_resolver(kube=kube)
    ref = refs.add(spec(stack, "app", "key", auth, namespace=bao_namespace), namespace=namespace)
    assert (await resolver.resolve(namespace, ref)).value == "in-namespace"
    outside = refs.add(spec(stack, "app", "key", auth), namespace=namespace)  # the root namespace
    await expect_error(resolver, outside, Reason.ACCESS_DENIED, namespace=namespace)
