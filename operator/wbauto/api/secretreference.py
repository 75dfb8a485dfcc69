"""``SecretReference``: one named secret and where its value lives (W&B's "team secret").

A keyed union: exactly one backend key. The value itself never enters the cluster's objects: the
operator resolves it in memory when a Webhook or Automation needs it, and the status records only
the resolved version and the time.
"""

from __future__ import annotations

import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from wbauto.api.conditions import Condition
from wbauto.api.schema import (
    DURATION,
    CABundle,
    HttpUrl,
    Model,
    ObjectName,
    at_most_one,
    bounded,
    exactly_one,
    url_rules,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
GCP_ENDPOINT = r"^[A-Za-z0-9._-]+(:[0-9]{1,5})?$"
"""host[:port] in ASCII (see ``url_rules`` for why Unicode hosts are refused)."""


class KeySelector(Model):
    """A key of a Kubernetes Secret in the SecretReference's own namespace."""

    name: ObjectName = Field(description="Name of the Secret (same namespace).")
    key: Text = Field(description="Key inside the Secret's data.")


class KubernetesSource(Model):
    """Read the value from a key of a Kubernetes Secret in the same namespace.

    W&B recommends a cloud secret manager over Kubernetes Secrets; this backend is the fallback.
    """

    name: ObjectName = Field(description="Name of the Secret (same namespace).")
    key: Text = Field(description="Key inside the Secret's data.")


class AwsStaticCredentials(Model):
    """Static AWS keys kept in a Kubernetes Secret. Only for clusters without IRSA / Pod Identity."""

    secret_name: ObjectName = Field(description="Secret (same namespace) holding the keys.")
    access_key_id_key: Text = Field("AWS_ACCESS_KEY_ID", description="Key holding the access key id.")
    secret_access_key_key: Text = Field(
        "AWS_SECRET_ACCESS_KEY", description="Key holding the secret access key.")
    session_token_key: Text | None = Field(None, description="Optional key holding a session token.")


class AwsSource(Model):
    """AWS Secrets Manager, through boto3's default credential chain (IRSA, EKS Pod Identity, ...)."""

    __rules__ = (at_most_one("versionStage", "versionId", what="AWS secret version"), *url_rules("endpoint"))

    secret_id: Text = Field(description="Secret name or full ARN.")
    region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", max_length=32)] | None = (
        Field(None, description="AWS region, e.g. us-east-1. Defaults to the region in the ARN, then "
                                "AWS_REGION / AWS_DEFAULT_REGION."))
    version_stage: Text | None = Field(
        None, description="Staging label to read (default AWSCURRENT). Mutually exclusive with versionId.")
    version_id: Text | None = Field(None, description="Exact version id to read.")
    json_key: Text | None = Field(
        None, description="Pick this top-level key from a JSON SecretString (e.g. `password`).")
    endpoint: HttpUrl | None = Field(
        None, description="Custom Secrets Manager endpoint (VPC endpoint, FIPS endpoint).")
    credentials: AwsStaticCredentials | None = Field(
        None, description="Static keys from a Secret. Omit to use the pod's workload identity.")


class GcpSource(Model):
    """Google Cloud Secret Manager, through Application Default Credentials (GKE Workload Identity)."""

    project: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][-a-z0-9.:]{0,126}$")] = Field(
        description="Project id (or number) that owns the secret.")
    secret: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,255}$")] = Field(
        description="Secret id.")
    version: Annotated[str, StringConstraints(pattern=r"^(latest|[0-9]+)$")] = Field(
        "latest", description="Version number, or `latest` (the concrete version is recorded in status).")
    location: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")] | None = Field(
        None, description="Region of a regional secret (e.g. us-east1). Omit for global secrets.")
    json_key: Text | None = Field(None, description="Pick this top-level key from a JSON payload.")
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=GCP_ENDPOINT)] | None = Field(
        None, description="API endpoint host[:port] override (Private Service Connect, tests); ASCII only.")
    credentials_secret: KeySelector | None = Field(
        None, description="A service-account key JSON in a Secret. Omit to use Workload Identity.")


class AzureSource(Model):
    """Azure Key Vault, through azure-identity (AKS Workload Identity)."""

    __rules__ = url_rules("vaultUrl")

    vault_url: HttpUrl = Field(description="Vault URL, e.g. https://my-vault.vault.azure.net.")
    name: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{1,127}$")] = Field(
        description="Secret name.")
    version: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{1,64}$")] | None = Field(
        None, description="Version id. Omit for the current version (recorded in status).")
    json_key: Text | None = Field(None, description="Pick this top-level key from a JSON value.")


class VaultTokenAuth(Model):
    """A Vault token kept in a Kubernetes Secret."""

    secret_ref: KeySelector = Field(description="Secret key holding the token.")


class VaultAppRoleAuth(Model):
    """AppRole login: role id in the spec, secret id in a Kubernetes Secret."""

    role_id: Text = Field(description="AppRole role_id.")
    secret_id_ref: KeySelector = Field(description="Secret key holding the AppRole secret_id.")
    mount: Text = Field("approle", description="Mount path of the AppRole auth method.")


class VaultKubernetesAuth(Model):
    """Kubernetes auth: log in with the operator's service-account token."""

    role: Text = Field(description="Vault role bound to the operator's service account.")
    mount: Text = Field("kubernetes", description="Mount path of the Kubernetes auth method.")
    token_path: Text = Field(
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        description="File holding the service-account JWT.")


class VaultAuth(Model):
    """How to log in to Vault. Exactly one method."""

    __rules__ = (exactly_one("token", "appRole", "kubernetes", what="Vault auth method"),)

    token: VaultTokenAuth | None = Field(None, description="Static token from a Secret.")
    app_role: VaultAppRoleAuth | None = Field(None, description="AppRole login.")
    kubernetes: VaultKubernetesAuth | None = Field(None, description="Kubernetes service-account login.")


class VaultSource(Model):
    """HashiCorp Vault / OpenBao, KV version 2."""

    __rules__ = url_rules("address")

    address: HttpUrl = Field(description="Vault address, e.g. https://vault.vault.svc:8200.")
    mount: Text = Field("secret", description="Mount path of the KV v2 engine.")
    path: Text = Field(description="Secret path inside the mount, e.g. team-a/webhooks.")
    key: Text = Field(description="Key inside the secret's data.")
    version: int | None = Field(None, ge=1, description="KV version to read. Omit for the latest.")
    namespace: Text | None = Field(None, description="Vault Enterprise / OpenBao namespace.")
    ca_bundle: CABundle | None = Field(
        None, description="PEM CA bundle to verify the Vault server.")
    auth: VaultAuth = Field(description="Login method.")


class FileSource(Model):
    """A file on the operator's filesystem. Standalone runtime only (single-VM installs, mounted secrets):
    the in-cluster operator refuses it, so one namespace cannot read the operator's own files."""

    path: Text = Field(description="Absolute path of the file; its content (trailing newline removed).")
    json_key: Text | None = Field(None, description="Pick this top-level key from a JSON file.")


class EnvSource(Model):
    """An environment variable of the operator process. Standalone runtime only (see `file`)."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=256)] = Field(
        description="Variable name.")


BACKENDS = ("kubernetes", "aws", "gcp", "azure", "vault", "file", "env")


class SecretReferenceSpec(Model):
    """Where one secret value lives. Exactly one backend."""

    __rules__ = (exactly_one(*BACKENDS, what="secret backend"),)

    kubernetes: KubernetesSource | None = Field(None, description="A key of a Kubernetes Secret.")
    aws: AwsSource | None = Field(None, description="AWS Secrets Manager.")
    gcp: GcpSource | None = Field(None, description="Google Cloud Secret Manager.")
    azure: AzureSource | None = Field(None, description="Azure Key Vault.")
    vault: VaultSource | None = Field(None, description="HashiCorp Vault / OpenBao KV v2.")
    file: FileSource | None = Field(None, description="A local file (standalone runtime only).")
    env: EnvSource | None = Field(None, description="An environment variable (standalone runtime only).")
    refresh_interval: Annotated[str, DURATION, bounded("24h", minimum="1s")] = Field(
        "5m", description="How long a resolved value is cached in memory before it is read again.")

    @property
    def source(self) -> Model:
        """The backend's own settings (e.g. the ``AwsSource``)."""
        return getattr(self, self.backend)  # type: ignore[no-any-return]

    @property
    def backend(self) -> str:
        for name in BACKENDS:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated spec has a backend")


class SecretReferenceStatus(Model):
    """Observed state. Never contains the secret value."""

    conditions: list[Condition] = Field(default_factory=list, description="Ready / Reconciling / Stalled.")
    observed_generation: int | None = Field(None, description="Last generation reconciled.")
    backend: str | None = Field(None, description="Backend in use (kubernetes, aws, gcp, azure, vault).")
    resolved_version: str | None = Field(
        None, description="Version id of the value last resolved (e.g. AWS VersionId, GCP version number).")
    last_resolved_time: datetime.datetime | None = Field(None, description="When the value was last read.")
