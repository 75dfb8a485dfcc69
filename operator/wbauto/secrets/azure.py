"""Azure Key Vault backend (azure-keyvault-secrets and azure-identity, async clients).

Identity: ``DefaultAzureCredential`` (on AKS: Workload Identity from the webhook-injected
``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE``, ``AZURE_AUTHORITY_HOST``).
Ship ``AZURE_TOKEN_CREDENTIALS=prod`` in production so the chain never tries developer tools.

Three operator-wide settings come from the operator's environment, not from SecretReferences: they
describe the operator's network, and a namespace must not be able to weaken TLS or the challenge check.

``WBAUTO_AZURE_CA_BUNDLE``
    PEM file trusted for Key Vault and Entra ID (private CA, TLS-inspecting proxy). Default: system roots.
``WBAUTO_AZURE_API_VERSION``
    Key Vault REST API version to use (Azure Stack Hub, emulators). Default: the SDK's.
``WBAUTO_AZURE_VERIFY_CHALLENGE_RESOURCE``
    ``false`` skips the SDK's check that the vault host belongs to the resource named in the vault's
    Bearer challenge (``*.vault.azure.net``). Only for emulators on other hosts; default ``true``.

The recorded version is the concrete version id of the value read. One client per vault URL shares
one credential; :meth:`AzureBackend.aclose` closes them (the operator keeps them for its lifetime).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity.aio import DefaultAzureCredential
from azure.keyvault.secrets.aio import SecretClient

from wbauto.api.conditions import Reason
from wbauto.api.secretreference import AzureSource
from wbauto.errors import SecretError
from wbauto.secrets import base

CA_BUNDLE_ENV = "WBAUTO_AZURE_CA_BUNDLE"
API_VERSION_ENV = "WBAUTO_AZURE_API_VERSION"
VERIFY_CHALLENGE_ENV = "WBAUTO_AZURE_VERIFY_CHALLENGE_RESOURCE"

_CONNECT_TIMEOUT = 3.0
_READ_TIMEOUT = 5.0
_RETRIES = 2


@dataclass(frozen=True)
class Settings:
    """The operator-wide Azure settings (see the module docstring)."""

    ca_bundle: str | None = None
    api_version: str | None = None
    verify_challenge_resource: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        # anything but an explicit "false" keeps the check
        verify = env.get(VERIFY_CHALLENGE_ENV, "").strip().lower() != "false"
        return cls(ca_bundle=env.get(CA_BUNDLE_ENV) or None, api_version=env.get(API_VERSION_ENV) or None,
                   verify_challenge_resource=verify)

    def transport(self) -> dict[str, Any]:
        """Keyword arguments for the credential's and the clients' HTTP pipelines."""
        options: dict[str, Any] = {"connection_timeout": _CONNECT_TIMEOUT, "read_timeout": _READ_TIMEOUT,
                                   "retry_total": _RETRIES}
        if self.ca_bundle:
            options["connection_verify"] = self.ca_bundle
        return options


class AzureBackend:
    name = "azure"

    def __init__(self, context: base.Context) -> None:
        self._context = context
        self._settings = Settings.from_env()
        self._credential: DefaultAzureCredential | None = None
        self._clients: dict[str, SecretClient] = {}

    async def get(self, request: base.Request) -> base.SecretValue:
        source: AzureSource = request.source
        what = f"Key Vault secret {source.name!r}" + (f" version {source.version!r}" if source.version else "")
        try:
            secret = await asyncio.wait_for(self._client(source.vault_url).get_secret(source.name, source.version),
                                            self._context.timeout)
        except ResourceNotFoundError as exc:
            raise base.not_found(request, what) from exc
        except ClientAuthenticationError as exc:  # no token (CredentialUnavailableError) or a refused one
            raise base.access_denied(request, what) from exc
        except HttpResponseError as exc:
            raise _http_error(request, what, exc) from exc
        except ValueError as exc:  # the SDK refuses a vaultUrl that does not match its challenge
            raise SecretError(f"SecretReference {request.ref}: vaultUrl is not a Key Vault URL that matches the "
                              f"vault's authentication challenge ({type(exc).__name__})",
                              reason=Reason.INVALID_SPEC, retryable=False) from exc
        except (AzureError, TimeoutError) as exc:
            raise base.unavailable(request, "Azure Key Vault", exc) from exc
        if secret.value is None:
            raise SecretError(f"SecretReference {request.ref}: {what} has no value", reason=Reason.BAD_FORMAT,
                              retryable=False)
        value = base.pick_json_key(request, secret.value, source.json_key)
        return base.SecretValue(value=value, version=secret.properties.version or "")

    def _client(self, vault_url: str) -> SecretClient:
        client = self._clients.get(vault_url)
        if client is None:
            if self._credential is None:
                self._credential = DefaultAzureCredential(**self._settings.transport())
            options = self._settings.transport()
            if self._settings.api_version:
                options["api_version"] = self._settings.api_version
            client = SecretClient(vault_url, self._credential,
                                  verify_challenge_resource=self._settings.verify_challenge_resource, **options)
            self._clients[vault_url] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP sessions of every client and of the credential."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        if self._credential is not None:
            credential, self._credential = self._credential, None
            await credential.close()


def _http_error(request: base.Request, what: str, exc: HttpResponseError) -> SecretError:
    inner = getattr(exc.error, "innererror", None) or {}
    if exc.status_code == 403 and isinstance(inner, dict) and inner.get("code") == "SecretDisabled":
        return SecretError(f"SecretReference {request.ref}: {what} is disabled", reason=Reason.SECRET_NOT_FOUND)
    if exc.status_code in (401, 403):
        return base.access_denied(request, what)
    if exc.status_code == 404:
        return base.not_found(request, what)
    if exc.status_code == 400:
        return SecretError(f"SecretReference {request.ref}: {what}: Key Vault rejected the request (400); check "
                           "name and version", reason=Reason.INVALID_SPEC, retryable=False)
    return SecretError(f"SecretReference {request.ref}: Azure Key Vault answered {exc.status_code} for {what}; "
                       "will retry", reason=Reason.BACKEND_UNAVAILABLE)


base.register("azure", AzureBackend)
