"""Google Cloud Secret Manager backend (google-cloud-secret-manager, gRPC).

Identity: Application Default Credentials (on GKE: Workload Identity through the metadata server),
unless the SecretReference names a service-account key JSON in a Kubernetes Secret of its own
namespace. Regional secrets (``location``) are read from ``secretmanager.<location>.rep.googleapis.com``;
``endpoint`` overrides the host (Private Service Connect). A private CA for the endpoint is trusted
through gRPC's own ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` (read once per process).

The operator's own identity is an access token (a bearer credential), so it is only sent to Google
hosts (``*.googleapis.com``) and to the ``host:port`` endpoints listed, comma-separated, in the
operator's ``WBAUTO_GCP_ENDPOINTS``; a SecretReference that brings its own key may use any endpoint.

The payload's CRC32C is verified when the server sends one; a mismatch is ``BadFormat``. Binary
payloads are returned as UTF-8 text when they decode, else base64. ``latest`` is recorded as the
concrete version number the server answered with.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import google.api_core.exceptions as gexc
import google.auth.exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud import secretmanager_v1
from google.oauth2 import service_account

from wbauto.api.conditions import Reason
from wbauto.api.secretreference import GcpSource, KeySelector, KubernetesSource
from wbauto.errors import SecretError
from wbauto.secrets import base
from wbauto.secrets.kubernetes import KubernetesBackend

ENDPOINTS_ENV = "WBAUTO_GCP_ENDPOINTS"
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_HOST_PORT = re.compile(r"([A-Za-z0-9.-]+)(?::[0-9]{1,5})?")
_ATTEMPT_TIMEOUT = 5.0
# the SDK's default retries UNAVAILABLE for 60 s; keep retries well inside the caller's timeout
_RETRY = Retry(predicate=if_exception_type(gexc.ServiceUnavailable, gexc.ResourceExhausted),
               initial=0.1, maximum=1.0, multiplier=2.0, timeout=3.0)


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager sends as ``data_crc32c``."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def endpoint_of(source: GcpSource) -> str | None:
    if source.endpoint:
        return source.endpoint
    if source.location:
        return f"secretmanager.{source.location}.rep.googleapis.com"
    return None


def version_name(source: GcpSource) -> str:
    parent = f"projects/{source.project}"
    if source.location:
        parent += f"/locations/{source.location}"
    return f"{parent}/secrets/{source.secret}/versions/{source.version}"


@dataclass(frozen=True)
class _Key:
    """A service-account key read from a Kubernetes Secret."""

    identity: str  # namespace/secret/key
    version: str  # the Secret's resourceVersion: a new client when the key is rotated
    credentials: Any = field(repr=False)


def trusted_endpoint(endpoint: str | None) -> bool:
    """May the operator's own credentials be sent to ``endpoint``?"""
    if endpoint is None:
        return True
    listed = {e.strip() for e in os.environ.get(ENDPOINTS_ENV, "").split(",") if e.strip()}
    if endpoint in listed:
        return True
    shape = _HOST_PORT.fullmatch(endpoint)
    host = shape.group(1).lower() if shape else ""
    return host == "googleapis.com" or host.endswith(".googleapis.com")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii")


class GcpBackend:
    name = "gcp"

    def __init__(self, context: base.Context) -> None:
        self._context = context
        self._kube = KubernetesBackend(context)
        self._lock = threading.Lock()
        # (endpoint, key Secret or "") -> (the Secret's resourceVersion, client)
        self._clients: dict[tuple[str | None, str], tuple[str, Any]] = {}

    async def get(self, request: base.Request) -> base.SecretValue:
        source: GcpSource = request.source
        name = version_name(source)
        where = f" in {source.location}" if source.location else ""
        what = f"GCP secret {source.project}/{source.secret}{where} version {source.version}"
        endpoint = endpoint_of(source)
        if source.credentials_secret is None and not trusted_endpoint(endpoint):
            raise SecretError(f"SecretReference {request.ref}: endpoint {endpoint!r} is not a Google API host; the "
                              f"operator sends its own credentials only to *.googleapis.com and to endpoints listed "
                              f"in {ENDPOINTS_ENV} (or set credentialsSecret)", reason=Reason.INVALID_SPEC,
                              retryable=False)
        credentials = (await self._key_credentials(request, source.credentials_secret)
                       if source.credentials_secret else None)
        try:
            response = await self._context.in_thread(self._access, endpoint, credentials, name)
        except gexc.NotFound as exc:
            raise base.not_found(request, what) from exc
        except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
            raise base.access_denied(request, what) from exc
        except gexc.FailedPrecondition as exc:
            raise SecretError(f"SecretReference {request.ref}: {what} is disabled or destroyed",
                              reason=Reason.SECRET_NOT_FOUND) from exc
        except gexc.InvalidArgument as exc:
            raise SecretError(f"SecretReference {request.ref}: {what}: the request was rejected (InvalidArgument);"
                              " check project, secret, version and location", reason=Reason.INVALID_SPEC,
                              retryable=False) from exc
        except (google.auth.exceptions.DefaultCredentialsError, google.auth.exceptions.RefreshError) as exc:
            raise base.access_denied(request, f"{what} (no usable Google credentials: "
                                              f"{type(exc).__name__})") from exc
        except (gexc.GoogleAPIError, google.auth.exceptions.GoogleAuthError, TimeoutError) as exc:
            raise base.unavailable(request, "Google Cloud Secret Manager", exc) from exc
        payload = response.payload
        if "data_crc32c" in payload and crc32c(payload.data) != payload.data_crc32c:
            raise SecretError(f"SecretReference {request.ref}: {what}: the payload failed its CRC32C check "
                              "(corrupted in transit); will retry", reason=Reason.BAD_FORMAT)
        value = base.pick_json_key(request, _text(payload.data), source.json_key)
        return base.SecretValue(value=value, version=str(response.name).rsplit("/", 1)[-1])

    async def _key_credentials(self, request: base.Request, selector: KeySelector) -> _Key:
        """Credentials from a service-account key JSON kept in a Kubernetes Secret."""
        key = await self._kube.get(base.Request(request.namespace, request.name,
                                                KubernetesSource(name=selector.name, key=selector.key)))
        try:
            info = json.loads(key.value)
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=_SCOPES)
        except (ValueError, TypeError, AttributeError, KeyError):
            # the parser's message could quote the key material: name the Secret only
            raise SecretError(f"SecretReference {request.ref}: key {selector.key!r} of Secret "
                              f"{request.namespace}/{selector.name} is not a service-account key JSON",
                              reason=Reason.BAD_FORMAT, retryable=False) from None
        return _Key(f"{request.namespace}/{selector.name}/{selector.key}", key.version, credentials)

    def _access(self, endpoint: str | None, key: _Key | None, name: str) -> Any:
        """Blocking: runs in a worker thread."""
        client = self._client(endpoint, key)
        return client.access_secret_version(request={"name": name}, retry=_RETRY, timeout=_ATTEMPT_TIMEOUT)

    def _client(self, endpoint: str | None, key: _Key | None) -> Any:
        identity, version = (key.identity, key.version) if key else ("", "")
        with self._lock:
            cached = self._clients.get((endpoint, identity))
            if cached is not None and cached[0] == version:
                return cached[1]
            client = secretmanager_v1.SecretManagerServiceClient(
                credentials=key.credentials if key else None,
                client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None,
            )
            self._clients[(endpoint, identity)] = (version, client)
            return client


base.register("gcp", GcpBackend)
