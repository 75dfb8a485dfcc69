"""A Key Vault data plane subset and an Entra ID token endpoint on one HTTPS port.

Enough for the real ``azure-keyvault-secrets`` client and the real ``azure-identity`` credential chain
(AKS Workload Identity: a client-assertion grant with the projected service-account token):

* ``GET /secrets/{name}[/{version}]``: a bodyless first request gets the 401 Bearer challenge, as from
  Key Vault; then the access token must be one this server issued for ``https://vault.azure.net``.
  404 ``SecretNotFound``, 403 ``ForbiddenByRbac`` (the caller's client id is not a reader of the
  secret) and 403 ``SecretDisabled``, with Key Vault's error bodies.
* ``POST /{tenant}/oauth2/v2.0/token``: client-credentials grant with a client assertion; the assertion
  must be the federated token registered for the client id (Entra checks the issuer's signature; this
  fake compares the token).

Secrets are seeded in-process (:meth:`KeyVaultServer.set_secret`); everything the clients sent is
recorded for assertions.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from tests.support.secretservers.httpserver import Handler, LoopbackServer
from tests.support.secretservers.tls import Tls

RESOURCE = "https://vault.azure.net"
SCOPE = f"{RESOURCE}/.default"
TENANT = "00000000-0000-4000-8000-0000000000aa"


@dataclass
class _Version:
    id: str
    value: str
    enabled: bool = True
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _Secret:
    versions: list[_Version] = field(default_factory=list)
    readers: set[str] | None = None  # client ids allowed to read; None = every authenticated caller


@dataclass
class TokenRequest:
    client_id: str
    scope: str
    assertion_type: str
    granted: bool


class _KeyVaultHandler(Handler):

    @property
    def fake(self) -> KeyVaultServer:
        return self.server.owner  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = urllib.parse.parse_qs(url.query)
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            base = f"{self.fake.url}/{parts[0]}"
            self.send_json(200, {"issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
                                 "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                 "tenant_region_scope": None})
            return
        if parts[:1] == ["secrets"] and len(parts) in (2, 3):
            self.fake.api_versions.append((query.get("api-version") or [""])[0])
            self._get_secret(parts[1], parts[2] if len(parts) == 3 else None)
            return
        self.send_json(404, {"error": {"code": "NotFound", "message": "no such route"}})

    def do_POST(self) -> None:
        parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            self._token(parts[0], urllib.parse.parse_qs(self.body().decode()))
            return
        self.body()
        self.send_json(404, {"error": {"code": "NotFound", "message": "no such route"}})

    # --- Entra ------------------------------------------------------------------------------------

    def _token(self, tenant: str, form: dict[str, list[str]]) -> None:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        client_id, scope, assertion = one("client_id"), one("scope"), one("client_assertion")
        granted = (tenant == TENANT and one("grant_type") == "client_credentials"
                   and self.fake.federated.get(client_id) == assertion and scope == SCOPE)
        self.fake.token_requests.append(TokenRequest(client_id, scope, one("client_assertion_type"), granted))
        if not granted:
            self.send_json(401, {"error": "invalid_client", "error_description":
                                 "AADSTS700213: No matching federated identity record found.",
                                 "error_codes": [700213]})
            return
        token = "kv-" + secrets.token_hex(16)
        with self.fake.lock:
            self.fake.tokens[token] = client_id
        self.send_json(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                             "access_token": token})

    # --- Key Vault --------------------------------------------------------------------------------

    def _get_secret(self, name: str, version: str | None) -> None:
        auth = self.headers.get("Authorization", "")
        client_id = self.fake.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if client_id is None:
            self.fake.challenges += 1
            challenge = f'Bearer authorization="{self.fake.url}/{TENANT}", resource="{RESOURCE}"'
            self.send_json(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a "
                                           "Bearer or PoP token."}}, {"WWW-Authenticate": challenge})
            return
        with self.fake.lock:
            secret = self.fake.vault.get(name)
            found = secret and (secret.versions[-1] if version is None else
                                next((v for v in secret.versions if v.id == version), None))
        if not secret or not found:
            self.send_json(404, {"error": {"code": "SecretNotFound", "message":
                                           f"A secret with (name/id) {name} was not found in this key vault."}})
            return
        if secret.readers is not None and client_id not in secret.readers:
            self.send_json(403, {"error": {"code": "Forbidden", "message": "Caller is not authorized to perform "
                                           "action on resource.", "innererror": {"code": "ForbiddenByRbac"}}})
            return
        if not found.enabled:
            self.send_json(403, {"error": {"code": "Forbidden", "message": "Operation get is not allowed on a "
                                           "disabled secret.", "innererror": {"code": "SecretDisabled"}}})
            return
        self.send_json(200, {
            "value": found.value,
            "id": f"{self.fake.url}/secrets/{name}/{found.id}",
            "attributes": {"enabled": True, "created": found.created, "updated": found.created,
                           "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
            "tags": {},
        })


class KeyVaultServer(LoopbackServer):
    def __init__(self, tls: Tls) -> None:
        super().__init__(_KeyVaultHandler, tls.server_context())
        self.lock = threading.Lock()
        self.vault: dict[str, _Secret] = {}
        self.federated: dict[str, str] = {}  # client id -> the one assertion Entra accepts for it
        self.tokens: dict[str, str] = {}  # access token -> client id
        self.token_requests: list[TokenRequest] = []
        self.api_versions: list[str] = []
        self.challenges = 0

    def register_workload(self, client_id: str, federated_token: str) -> None:
        """An app registration with a federated credential for one Kubernetes service account."""
        with self.lock:
            self.federated[client_id] = federated_token

    def set_secret(self, name: str, value: str, *, readers: set[str] | None = None) -> str:
        """Add a new current version; returns its id."""
        version = _Version(secrets.token_hex(16), value)
        with self.lock:
            secret = self.vault.setdefault(name, _Secret())
            secret.versions.append(version)
            if readers is not None:
                secret.readers = readers
        return version.id

    def disable(self, name: str, version: str) -> None:
        with self.lock:
            next(v for v in self.vault[name].versions if v.id == version).enabled = False
