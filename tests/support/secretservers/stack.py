"""All secret test servers at once, with the identities the operator uses, for the tests and the benchmark.

:func:`running` starts moto, the Pod Identity agent, the gRPC Secret Manager, the GKE metadata server,
Key Vault + Entra and OpenBao, and seeds the operator's identities:

* AWS: the ``reader`` user's keys (environment credentials in-process; IRSA and Pod Identity in
  subprocesses, see :meth:`Stack.irsa_env` and :meth:`Stack.pod_identity_env`)
* GCP: a service-account key file for Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``)
* Azure: an app registration whose federated credential is a projected service-account token (the
  AKS Workload Identity variables)

:meth:`Stack.env` is a hermetic environment: every variable an SDK chain could read is cleared first,
so no chain can reach a real cloud or metadata address.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.controlplane import free_port
from tests.support.secretservers import aws, azure, gcp, vault
from tests.support.secretservers.tls import Tls

GCP_PROJECT = "wbauto-test"
OPERATOR_SA = f"operator@{GCP_PROJECT}.iam.gserviceaccount.com"
GKE_SA = f"gke-operator@{GCP_PROJECT}.iam.gserviceaccount.com"
AZURE_CLIENT_ID = "11111111-2222-4333-8444-555555555555"

# prefixes of every variable an SDK or its credential chain reads
_CLEARED = ("AWS_", "AZURE_", "GOOGLE_", "GCE_", "CLOUDSDK_", "GRPC_", "VAULT_", "BAO_", "WBAUTO_", "IDENTITY_",
            "MSI_", "IMDS_", "ECS_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_", "HTTP_PROXY",
            "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


def service_account_key(email: str) -> tuple[dict[str, str], str]:
    """A fresh service-account key JSON (as Google issues them) and its public key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    closed = f"http://127.0.0.1:{free_port()}/token"  # never called: the client signs its own JWTs
    info = {"type": "service_account", "project_id": GCP_PROJECT, "private_key_id": secrets.token_hex(20),
            "private_key": private_pem, "client_email": email, "client_id": str(secrets.randbelow(10**20)),
            "token_uri": closed}
    return info, public_pem


@dataclass
class Stack:
    workdir: Path
    tls: Tls
    moto: aws.MotoServer
    pod_identity: aws.PodIdentityAgent
    secret_manager: gcp.SecretManagerServer
    metadata: gcp.MetadataServer
    keyvault: azure.KeyVaultServer
    bao: vault.BaoServer
    adc_file: Path
    aks_token_file: Path
    eks_token_file: Path
    web_identity_file: Path

    def hermetic(self) -> dict[str, str]:
        """Keep SDK chains away from files and addresses outside the test, and trust the fakes' CA through
        the settings the operator documents (gRPC's roots file, ``WBAUTO_GCP_ENDPOINTS``, ``WBAUTO_AZURE_*``)."""
        closed = f"127.0.0.1:{free_port()}"
        return {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "CLOUDSDK_CONFIG": "/nonexistent/gcloud",
            "GCE_METADATA_HOST": closed,
            "GCE_METADATA_IP": closed,
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(self.tls.ca_file),
            "WBAUTO_GCP_ENDPOINTS": self.secret_manager.endpoint,
            "WBAUTO_AZURE_CA_BUNDLE": str(self.tls.ca_file),
            "WBAUTO_AZURE_API_VERSION": "7.6",
            "WBAUTO_AZURE_VERIFY_CHALLENGE_RESOURCE": "false",
        }

    def env(self) -> dict[str, str]:
        """The in-process environment: this process's, cleared of every cloud variable, plus one identity
        per cloud (AWS environment keys, a GCP key file for ADC, AKS Workload Identity)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
        env.update(self.hermetic())
        env.update(self.moto.reader.env())
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(self.adc_file)
        env.update(self.aks_env())
        return env

    def child_env(self, platform: Mapping[str, str]) -> dict[str, str]:
        """A fresh process's environment: only PATH/HOME/LANG, the hermetic settings and what the
        platform injects."""
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
                **self.hermetic(), **platform}

    # --- what each platform injects into the operator's pod (plus the loopback redirections) ----------

    def irsa_env(self) -> dict[str, str]:
        return {"AWS_ROLE_ARN": aws.IRSA_ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": str(self.web_identity_file),
                "AWS_REGION": aws.REGION, "AWS_DEFAULT_REGION": aws.REGION, "AWS_STS_REGIONAL_ENDPOINTS": "regional",
                "AWS_ENDPOINT_URL": self.moto.endpoint}

    def pod_identity_env(self) -> dict[str, str]:
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.pod_identity.credentials_url,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(self.eks_token_file),
                "AWS_REGION": aws.REGION, "AWS_ENDPOINT_URL": self.moto.endpoint}

    def gke_env(self) -> dict[str, str]:
        return {"GCE_METADATA_HOST": self.metadata.host, "GCE_METADATA_IP": self.metadata.host}

    def aks_env(self) -> dict[str, str]:
        return {"AZURE_CLIENT_ID": AZURE_CLIENT_ID, "AZURE_TENANT_ID": azure.TENANT,
                "AZURE_FEDERATED_TOKEN_FILE": str(self.aks_token_file), "AZURE_AUTHORITY_HOST": self.keyvault.url,
                "AZURE_TOKEN_CREDENTIALS": "prod"}


def _projected_token(path: Path, audience: str) -> Path:
    """A stand-in for a projected service-account token (the fakes compare it, they do not verify it)."""
    claims = {"aud": [audience], "sub": "system:serviceaccount:wbauto-system:wbauto", "nonce": secrets.token_hex(8)}
    path.write_text(json.dumps(claims))
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[Stack]:
    workdir.mkdir(parents=True, exist_ok=True)
    tls = Tls.create(workdir)
    with contextlib.ExitStack() as stack:
        moto = aws.MotoServer()
        moto.start()
        stack.callback(moto.stop)
        eks_token = _projected_token(workdir / "eks-pod-identity-token", "pods.eks.amazonaws.com")
        agent = aws.PodIdentityAgent(moto, eks_token.read_text())
        agent.start()
        stack.callback(agent.stop)

        secret_manager = gcp.SecretManagerServer(tls)
        secret_manager.start()
        stack.callback(secret_manager.stop)
        metadata = gcp.MetadataServer(secret_manager, GCP_PROJECT, GKE_SA)
        metadata.start()
        stack.callback(metadata.stop)
        info, public_pem = service_account_key(OPERATOR_SA)
        secret_manager.trust_service_account(OPERATOR_SA, public_pem)
        adc_file = workdir / "adc.json"
        adc_file.write_text(json.dumps(info))
        adc_file.chmod(0o600)

        keyvault = azure.KeyVaultServer(tls)
        keyvault.start()
        stack.callback(keyvault.stop)
        aks_token = _projected_token(workdir / "azure-identity-token", "api://AzureADTokenExchange")
        keyvault.register_workload(AZURE_CLIENT_ID, aks_token.read_text())

        bao = vault.BaoServer(workdir / "bao")
        bao.start()
        stack.callback(bao.stop)

        yield Stack(workdir=workdir, tls=tls, moto=moto, pod_identity=agent, secret_manager=secret_manager,
                    metadata=metadata, keyvault=keyvault, bao=bao, adc_file=adc_file, aks_token_file=aks_token,
                    eks_token_file=eks_token,
                    web_identity_file=_projected_token(workdir / "irsa-token", "sts.amazonaws.com"))


def apply_env(env: Mapping[str, str]) -> None:
    """Replace this process's environment with ``env`` (benchmark; tests use monkeypatch)."""
    os.environ.clear()
    os.environ.update(env)
