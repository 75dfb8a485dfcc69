"""A gRPC Secret Manager (TLS, HTTP/2) built on the official package's own messages, and a GKE metadata
server.

:class:`SecretManagerServer` registers a generic handler under the real service name, so the SDK's
generated client speaks genuine gRPC to it. ``AccessSecretVersion`` resolves ``latest`` to the highest
enabled version and answers with the concrete version name; NOT_FOUND, FAILED_PRECONDITION (disabled),
UNAUTHENTICATED and PERMISSION_DENIED as Secret Manager does. Callers are authenticated from their
Bearer token: an access token issued by :class:`MetadataServer`, or a self-signed service-account JWT
whose signature is checked against the registered public key.

:class:`MetadataServer` serves what ``google.auth.default()`` reads on GKE (Workload Identity): the
``Metadata-Flavor`` ping, the project id, the default service account and its access token.
"""

from __future__ import annotations

import threading
import urllib.parse
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc  # type: ignore[import-untyped]
from google.auth import jwt
from google.cloud import secretmanager_v1 as sm

from tests.support.secretservers.httpserver import Handler, LoopbackServer
from tests.support.secretservers.tls import Tls

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"


def crc32c(data: bytes) -> int:
    """CRC-32C, bit by bit: written independently of the backend's table-driven one."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


@dataclass
class _Version:
    number: int
    data: bytes
    crc: int
    enabled: bool = True


@dataclass
class _Secret:
    versions: list[_Version] = field(default_factory=list)
    readers: set[str] | None = None  # principals allowed; None = every authenticated caller


class SecretManagerServer:
    def __init__(self, tls: Tls) -> None:
        self.lock = threading.Lock()
        self._secrets: dict[str, _Secret] = {}  # "projects/p[/locations/l]/secrets/s" -> secret
        self._tokens: dict[str, str] = {}  # access token -> principal
        self._keys: dict[str, str] = {}  # service-account email -> public key PEM
        self.calls: list[tuple[str, str]] = []  # (version name, principal)
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "AccessSecretVersion": grpc.unary_unary_rpc_method_handler(
                self._access, request_deserializer=sm.AccessSecretVersionRequest.deserialize,
                response_serializer=sm.AccessSecretVersionResponse.serialize),
        })
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((handler,))
        key, cert = tls.key_and_cert()
        self.port = self._server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
        self.endpoint = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(10)

    # --- seeding ----------------------------------------------------------------------------------

    def add_version(self, project: str, secret: str, data: bytes, *, location: str | None = None,
                    readers: set[str] | None = None, corrupt_crc: bool = False) -> int:
        with self.lock:
            entry = self._secrets.setdefault(_parent(project, location, secret), _Secret())
            number = len(entry.versions) + 1
            crc = crc32c(data) ^ (1 if corrupt_crc else 0)
            entry.versions.append(_Version(number, data, crc))
            if readers is not None:
                entry.readers = readers
            return number

    def disable(self, project: str, secret: str, number: int, *, location: str | None = None) -> None:
        with self.lock:
            self._secrets[_parent(project, location, secret)].versions[number - 1].enabled = False

    def trust_token(self, token: str, principal: str) -> None:
        with self.lock:
            self._tokens[token] = principal

    def trust_service_account(self, email: str, public_key_pem: str) -> None:
        with self.lock:
            self._keys[email] = public_key_pem

    # --- the RPC ----------------------------------------------------------------------------------

    def _principal(self, context: grpc.ServicerContext) -> str | None:
        auth = dict(context.invocation_metadata()).get("authorization", "")
        if not isinstance(auth, str) or not auth.startswith("Bearer "):
            return None
        token = auth.removeprefix("Bearer ")
        with self.lock:
            if token in self._tokens:
                return self._tokens[token]
            keys = dict(self._keys)
        try:
            claims = jwt.decode(token, verify=False)  # type: ignore[no-untyped-call]
            issuer = str(claims.get("iss", ""))
            if issuer not in keys:
                return None
            jwt.decode(token, certs=keys[issuer], verify=True)  # type: ignore[no-untyped-call]
        except ValueError:
            return None
        return issuer

    def _access(self, request: sm.AccessSecretVersionRequest, context: grpc.ServicerContext) -> Any:
        principal = self._principal(context)
        with self.lock:
            self.calls.append((request.name, principal or ""))
        if principal is None:
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "Request had invalid authentication credentials.")
        parent, _, wanted = request.name.partition("/versions/")
        with self.lock:
            secret = self._secrets.get(parent)
            versions = secret.versions if secret else []
            if wanted == "latest":
                version = next((v for v in reversed(versions) if v.enabled), None)
            else:
                version = next((v for v in versions if str(v.number) == wanted), None)
        if secret is None or (version is None and wanted == "latest"):
            _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret [{parent}] not found or has no versions.")
        if secret.readers is not None and principal not in secret.readers:
            _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                   f"Permission 'secretmanager.versions.access' denied for resource '{request.name}'.")
        if version is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"Secret Version [{request.name}] not found.")
        if not version.enabled:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"{request.name} is in DISABLED state.")
        return sm.AccessSecretVersionResponse(name=f"{parent}/versions/{version.number}",
                                              payload=sm.SecretPayload(data=version.data, data_crc32c=version.crc))


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)  # raises: ends the RPC with ``code``
    raise AssertionError("grpc's abort returned")


def _parent(project: str, location: str | None, secret: str) -> str:
    return f"projects/{project}" + (f"/locations/{location}" if location else "") + f"/secrets/{secret}"


# --- GKE metadata server ----------------------------------------------------------------------------


class _MetadataHandler(Handler):
    def do_GET(self) -> None:
        server: MetadataServer = self.server.owner  # type: ignore[attr-defined]
        path = urllib.parse.urlsplit(self.path).path
        with server.lock:
            server.requests.append(path)
        flavor = {"Metadata-Flavor": "Google"}
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_json(403, {"error": "Missing Metadata-Flavor:Google header."}, flavor)
            return
        account = "/computeMetadata/v1/instance/service-accounts/default"
        if path in ("/", "/computeMetadata/v1/", "/computeMetadata/v1"):
            self._text("computeMetadata/\n", flavor)
        elif path == "/computeMetadata/v1/project/project-id":
            self._text(server.project, flavor)
        elif path == f"{account}/":
            self.send_json(200, {"aliases": ["default"], "email": server.email,
                                 "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}, flavor)
        elif path == f"{account}/token":
            token = server.issue_token()
            self.send_json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}, flavor)
        else:
            self.send_json(404, {"error": "not found"}, flavor)

    def _text(self, text: str, headers: dict[str, str]) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/text")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class MetadataServer(LoopbackServer):
    """The GKE metadata server (Workload Identity): tokens it issues are trusted by ``secret_manager``."""

    def __init__(self, secret_manager: SecretManagerServer, project: str, email: str) -> None:
        super().__init__(_MetadataHandler)
        self.secret_manager = secret_manager
        self.project = project
        self.email = email
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.host = f"127.0.0.1:{self.port}"
        self._issued = 0

    def issue_token(self) -> str:
        with self.lock:
            self._issued += 1
            token = f"ya29.gke-{self.port}-{self._issued}"
        self.secret_manager.trust_token(token, self.email)
        return token
