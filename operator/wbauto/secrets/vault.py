"""HashiCorp Vault / OpenBao backend (hvac, KV secrets engine version 2).

Login methods: a token from a Kubernetes Secret, AppRole (role id in the spec, secret id from a
Kubernetes Secret), or Kubernetes auth with the operator's service-account JWT. Tokens and AppRole
credentials belong to the SecretReference's namespace and are never shared with another namespace.
Login tokens are reused until 80% of their lease, and renewed by a new login after a 403 (a revoked
token). hvac never reads ``VAULT_TOKEN`` here.

Kubernetes auth presents the operator's own identity, so two operator settings bound it:

``WBAUTO_VAULT_KUBERNETES_AUTH_ADDRESSES``
    Comma-separated Vault addresses the operator may send its JWT to. Unset: Kubernetes auth is refused
    (any namespace could otherwise point ``address`` at a server of its own and collect the JWT).
``WBAUTO_VAULT_JWT_DIRS``
    ``os.pathsep``-separated directories ``tokenPath`` must lie in (default ``/var/run/secrets``), so a
    SecretReference cannot make the operator read and send any other file. Prefer a projected token with
    a Vault audience (e.g. ``/var/run/secrets/vault/token``) over the API token.

The value is one key of the secret's data (a non-string value is returned as JSON); the recorded
version is the KV metadata version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

from wbauto.api.conditions import Reason
from wbauto.api.secretreference import KeySelector, KubernetesSource, VaultSource
from wbauto.errors import SecretError
from wbauto.secrets import base
from wbauto.secrets.kubernetes import KubernetesBackend

KUBERNETES_AUTH_ADDRESSES_ENV = "WBAUTO_VAULT_KUBERNETES_AUTH_ADDRESSES"
JWT_DIRS_ENV = "WBAUTO_VAULT_JWT_DIRS"
_DEFAULT_JWT_DIRS = "/var/run/secrets"
_TIMEOUT = 5
_LEASE_USE = 0.8  # log in again after this fraction of the login token's lease
_REFUSED = (hvac.exceptions.InvalidRequest, hvac.exceptions.Unauthorized, hvac.exceptions.Forbidden,
            hvac.exceptions.InvalidPath)


@dataclass(frozen=True)
class _Login:
    """How to authenticate one read. ``secret`` (token, secret id) is never shown."""

    method: str  # token | approle | kubernetes
    identity: str  # who logs in: part of the client's cache key
    mount: str = ""
    role: str = ""  # AppRole role id, or the Kubernetes auth role
    token_path: str = ""
    version: str = ""  # resourceVersion of the Secret holding ``secret``
    secret: str = field(default="", repr=False)


class _LoginRefused(Exception):
    """Vault refused the login (bad credentials, unknown role, missing auth mount), or the service-account
    token to log in with cannot be read."""


def _check_kubernetes_auth(request: base.Request, address: str, token_path: str) -> None:
    trusted = {a.strip().rstrip("/") for a in os.environ.get(KUBERNETES_AUTH_ADDRESSES_ENV, "").split(",")}
    if address.rstrip("/") not in trusted - {""}:
        raise SecretError(f"SecretReference {request.ref}: Kubernetes auth presents the operator's own identity, "
                          f"so it is only used with the Vault addresses listed in {KUBERNETES_AUTH_ADDRESSES_ENV}; "
                          f"{address} is not listed", reason=Reason.INVALID_SPEC, retryable=False)
    dirs = [os.path.realpath(d) for d in os.environ.get(JWT_DIRS_ENV, _DEFAULT_JWT_DIRS).split(os.pathsep) if d]
    path = os.path.realpath(token_path)
    if not os.path.isabs(token_path) or not any(os.path.commonpath([path, d]) == d for d in dirs):
        raise SecretError(f"SecretReference {request.ref}: tokenPath must be a file under {os.pathsep.join(dirs)} "
                          f"(operator setting {JWT_DIRS_ENV})", reason=Reason.INVALID_SPEC, retryable=False)


def _read_jwt(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise _LoginRefused(type(exc).__name__) from exc


@dataclass
class _Session:
    client: Any  # hvac.Client
    lock: threading.Lock = field(default_factory=threading.Lock)
    logged_in_with: str = ""  # the _Login.version of the current token
    expires: float = 0.0  # monotonic deadline of the current login token


class VaultBackend:
    name = "vault"

    def __init__(self, context: base.Context) -> None:
        self._context = context
        self._kube = KubernetesBackend(context)
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str | None, str, str], _Session] = {}
        self._ca_dir: Path | None = None

    async def get(self, request: base.Request) -> base.SecretValue:
        source: VaultSource = request.source
        login = await self._login_for(request, source)
        what = f"Vault secret {source.mount}/{source.path}" + (f" version {source.version}" if source.version else "")
        try:
            response = await self._context.in_thread(self._read, source, login)
        except _LoginRefused as exc:
            raise base.access_denied(request, f"Vault login ({login.method} at auth/{login.mount})") from exc
        except hvac.exceptions.InvalidPath as exc:
            raise base.not_found(request, what) from exc
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
            raise base.access_denied(request, what) from exc
        except hvac.exceptions.InvalidRequest as exc:
            raise SecretError(f"SecretReference {request.ref}: {what}: Vault rejected the request (400); check "
                              "mount, path and version", reason=Reason.INVALID_SPEC, retryable=False) from exc
        except (hvac.exceptions.VaultError, requests.RequestException, TimeoutError) as exc:
            raise base.unavailable(request, f"Vault at {source.address}", exc) from exc
        document = response.get("data") or {}
        data, metadata = document.get("data") or {}, document.get("metadata") or {}
        if source.key not in data:
            raise base.not_found(request, f"key {source.key!r} in {what}")
        value = data[source.key]
        return base.SecretValue(value=value if isinstance(value, str) else json.dumps(value),
                                version=str(metadata.get("version", "")))

    # --- credentials (event loop) -----------------------------------------------------------------

    async def _login_for(self, request: base.Request, source: VaultSource) -> _Login:
        auth = source.auth
        if auth.token is not None:
            token = await self._secret_key(request, auth.token.secret_ref)
            return _Login("token", f"{request.namespace}/{auth.token.secret_ref.name}/{auth.token.secret_ref.key}",
                          version=token.version, secret=token.value)
        if auth.app_role is not None:
            role = auth.app_role
            secret_id = await self._secret_key(request, role.secret_id_ref)
            return _Login("approle", f"{request.namespace}/{role.secret_id_ref.name}/{role.secret_id_ref.key}",
                          mount=role.mount, role=role.role_id, version=secret_id.version, secret=secret_id.value)
        kube = auth.kubernetes
        if kube is None:
            raise AssertionError("a validated VaultAuth has exactly one method")
        _check_kubernetes_auth(request, source.address, kube.token_path)
        return _Login("kubernetes", f"operator:{kube.token_path}", mount=kube.mount, role=kube.role,
                      token_path=kube.token_path)

    async def _secret_key(self, request: base.Request, selector: KeySelector) -> base.SecretValue:
        return await self._kube.get(base.Request(request.namespace, request.name,
                                                 KubernetesSource(name=selector.name, key=selector.key)))

    # --- Vault calls (worker thread) --------------------------------------------------------------

    def _read(self, source: VaultSource, login: _Login) -> dict[str, Any]:
        session = self._session(source, login)
        fresh = self._authenticate(session, login, force=False)
        try:
            return self._read_kv(session, source)
        except hvac.exceptions.Forbidden:
            if login.method == "token" or fresh:
                raise
        # the cached login token was revoked or has expired early: log in again, once
        self._authenticate(session, login, force=True)
        return self._read_kv(session, source)

    @staticmethod
    def _read_kv(session: _Session, source: VaultSource) -> dict[str, Any]:
        response: dict[str, Any] = session.client.secrets.kv.v2.read_secret_version(
            path=source.path, version=source.version, mount_point=source.mount, raise_on_deleted_version=True)
        return response

    def _authenticate(self, session: _Session, login: _Login, *, force: bool) -> bool:
        """Make the session's token valid for ``login``; True when a new login happened."""
        with session.lock:
            if login.method == "token":
                session.client.token = login.secret
                return False
            if not force and session.logged_in_with == login.version and time.monotonic() < session.expires:
                return False
            session.expires = 0.0
            try:
                if login.method == "approle":
                    response = session.client.auth.approle.login(login.role, login.secret, mount_point=login.mount)
                else:
                    response = session.client.auth.kubernetes.login(login.role, _read_jwt(login.token_path),
                                                                    mount_point=login.mount)
            except _REFUSED as exc:
                raise _LoginRefused(type(exc).__name__) from exc
            lease = float((response.get("auth") or {}).get("lease_duration") or 0)
            session.logged_in_with = login.version
            session.expires = time.monotonic() + lease * _LEASE_USE if lease > 0 else math.inf
            return True

    def _session(self, source: VaultSource, login: _Login) -> _Session:
        ca = hashlib.sha256(source.ca_bundle.encode()).hexdigest() if source.ca_bundle else ""
        key = (source.address, source.namespace, ca, f"{login.method}:{login.mount}:{login.role}:{login.identity}")
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                verify: bool | str = self._ca_file(ca, source.ca_bundle) if source.ca_bundle else True
                # token="" so hvac never falls back to VAULT_TOKEN or ~/.vault-token
                client = hvac.Client(url=source.address, token="", verify=verify, timeout=_TIMEOUT,
                                     namespace=source.namespace)
                session = self._sessions[key] = _Session(client)
            return session

    def _ca_file(self, digest: str, pem: str) -> str:
        """requests takes a CA bundle by path: keep each bundle in a private temporary directory."""
        if self._ca_dir is None:
            self._ca_dir = Path(tempfile.mkdtemp(prefix="wbauto-vault-ca-"))
            weakref.finalize(self, shutil.rmtree, self._ca_dir, True)
        path = self._ca_dir / f"{digest}.pem"
        if not path.exists():
            path.write_text(pem)
        return str(path)


base.register("vault", VaultBackend)
