"""Workload identity end to end: each platform's credential chain in a fresh process whose environment
holds only PATH/HOME/LANG, the hermetic settings (no config files, no real metadata address, the test
CA) and what the platform injects into the operator's pod. The SDK chains are unmodified; only their
endpoints are loopback fakes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.secrets.helpers import unique
from tests.support.secretservers import aws
from tests.support.secretservers.stack import AZURE_CLIENT_ID, GCP_PROJECT, GKE_SA, Stack

CHILD = """
import asyncio, hashlib, json, sys
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.errors import SecretError
from wbauto.secrets.base import Context
from wbauto.secrets.resolver import Resolver

spec = SecretReferenceSpec.model_validate(json.loads(sys.argv[1]))

async def main():
    resolver = Resolver(Context(), lambda namespace, name: spec)
    try:
        value = await resolver.resolve("team", "identity")
    except SecretError as exc:
        return {"reason": exc.reason, "message": str(exc)}
    finally:
        close = getattr(resolver.backend(spec.backend), "aclose", None)
        if close is not None:
            await close()
    return {"version": value.version, "sha256": hashlib.sha256(value.value.encode()).hexdigest()}

print(json.dumps(asyncio.run(main())))
"""


def resolve_in_child(stack: Stack, spec: dict[str, Any], platform: dict[str, str], cwd: Path) -> dict[str, str]:
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=stack.child_env(platform),
                            capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stderr
    outcome: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return outcome


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_irsa_web_identity(stack: Stack, tmp_path: Path) -> None:
    name = unique("irsa")
    version = stack.moto.client("secretsmanager").create_secret(Name=name, SecretString="via-irsa")["VersionId"]
    spec = {"aws": {"secretId": name}}  # region from AWS_REGION, endpoint from AWS_ENDPOINT_URL
    outcome = resolve_in_child(stack, spec, stack.irsa_env(), tmp_path)
    assert outcome == {"version": version, "sha256": digest("via-irsa")}
    # without the projected token nothing else in the chain has credentials (IMDS is disabled)
    env = {k: v for k, v in stack.irsa_env().items() if k != "AWS_WEB_IDENTITY_TOKEN_FILE"}
    outcome = resolve_in_child(stack, spec, env, tmp_path)
    assert outcome["reason"] == "AccessDenied" and "NoCredentialsError" in outcome["message"]


def test_eks_pod_identity(stack: Stack, tmp_path: Path) -> None:
    name = unique("pod-identity")
    version = stack.moto.client("secretsmanager").create_secret(Name=name, SecretString="via-pod-identity")[
        "VersionId"]
    before = len(stack.pod_identity.requests)
    outcome = resolve_in_child(stack, {"aws": {"secretId": name}}, stack.pod_identity_env(), tmp_path)
    assert outcome == {"version": version, "sha256": digest("via-pod-identity")}
    # the agent was asked once, with the projected token as Authorization
    assert stack.pod_identity.requests[before:] == [("/v1/credentials", stack.eks_token_file.read_text())]


def test_gke_workload_identity_through_the_metadata_server(stack: Stack, tmp_path: Path) -> None:
    name = unique("gke")
    stack.secret_manager.add_version(GCP_PROJECT, name, b"via-gke", readers={GKE_SA})
    spec = {"gcp": {"project": GCP_PROJECT, "secret": name, "endpoint": stack.secret_manager.endpoint}}
    before = len(stack.metadata.requests)
    outcome = resolve_in_child(stack, spec, stack.gke_env(), tmp_path)
    assert outcome == {"version": "1", "sha256": digest("via-gke")}
    assert "/computeMetadata/v1/instance/service-accounts/default/token" in stack.metadata.requests[before:]
    assert stack.secret_manager.calls[-1] == (f"projects/{GCP_PROJECT}/secrets/{name}/versions/latest", GKE_SA)


def test_aks_workload_identity(stack: Stack, tmp_path: Path) -> None:
    name = unique("aks")
    version = stack.keyvault.set_secret(name, "via-aks", readers={AZURE_CLIENT_ID})
    before = len(stack.keyvault.token_requests)
    outcome = resolve_in_child(stack, {"azure": {"vaultUrl": stack.keyvault.url, "name": name}},
                               stack.aks_env(), tmp_path)
    assert outcome == {"version": version, "sha256": digest("via-aks")}
    grants = stack.keyvault.token_requests[before:]
    assert [(g.client_id, g.assertion_type, g.granted) for g in grants] == [
        (AZURE_CLIENT_ID, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", True)]


def test_child_environment_is_minimal(stack: Stack) -> None:
    env = stack.child_env(stack.irsa_env())
    assert not {k for k in env if k.startswith(("AZURE_", "GOOGLE_"))}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"}.isdisjoint(env)
    assert env["AWS_ROLE_ARN"] == aws.IRSA_ROLE_ARN
