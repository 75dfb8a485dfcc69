"""The emulator's HTTP server: W&B's ``POST /graphql``, a run's file stream
(``POST /files/<entity>/<project>/<run>/file_stream``), the storage that upload and download URLs point
at (``PUT``/``GET /storage/<key>``), and the ``/_emulator/`` control API.

GraphQL, the file stream and the control API need W&B's credentials, HTTP Basic with user ``api`` and the
API key as password; anything else gets 401. Storage URLs carry a random key instead, as presigned URLs
do. The SDK's OpenTelemetry export (``/sdk/otel/v1/metrics``, sent without credentials) is accepted and
dropped. Injected failures (:meth:`State.fail_next`) apply to ``/graphql`` only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from wbauto.emulator import graphql_api
from wbauto.emulator.control import Control
from wbauto.emulator.state import STORAGE_PREFIX, Conflict, FailureKind, InvalidRequest, NotFound, State

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
CONTROL_PREFIX = "/_emulator/"
OTEL_PREFIX = "/sdk/otel/"
FILE_STREAM = re.compile(r"/files/(?P<entity>[^/]+)/(?P<project>[^/]+)/(?P<run>[^/]+)/file_stream")
_SHUTDOWN_POLL = 0.05  # seconds between the serving loop's checks for stop()


class Emulator:
    """A W&B server on ``host:port`` (port 0: any free port), serving ``state`` in a background thread."""

    def __init__(self, *, api_key: str, host: str = "127.0.0.1", port: int = 0, state: State | None = None) -> None:
        self.api_key = api_key
        self.state = state if state is not None else State()
        self._address = (host, port)
        self._control = Control(self.state)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("the emulator is already started")
        self._httpd = _Server(self._address, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(_SHUTDOWN_POLL,),
                                        name="wbauto-emulator", daemon=True)
        self._thread.start()
        self.state.public_url = self.url
        log.info("W&B emulator listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close every open connection; a no-op when not started."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def authorized(self, header: str | None) -> bool:
        """True for ``Authorization: Basic base64("api:<api key>")``."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == "api" and hmac.compare_digest(password.encode(), self.api_key.encode())

    def control(self, operation: str, arguments: object) -> Any:
        return self._control.call(operation, arguments)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    log.debug("connection already closed")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._read_body()
        path = self.path.split("?", 1)[0]
        if path.startswith(STORAGE_PREFIX):
            data = self.server.emulator.state.download(path.removeprefix(STORAGE_PREFIX))
            if data is None:
                self._reply(404, {"errors": [{"message": "no such file"}]})
            else:
                self._send(200, data, "application/octet-stream")
            return
        self._reply(405, {"errors": [{"message": "use POST"}]}, headers={"Allow": "POST"})

    def do_PUT(self) -> None:
        if self._refuse_chunked():
            return
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        if not path.startswith(STORAGE_PREFIX):
            self._reply(405, {"errors": [{"message": "use POST"}]}, headers={"Allow": "POST"})
            return
        try:
            self.server.emulator.state.upload(path.removeprefix(STORAGE_PREFIX), body,
                                              self.headers.get("Content-MD5"))
        except NotFound as error:
            self._reply(404, {"errors": [{"message": str(error)}]})
        except InvalidRequest as error:
            self._reply(400, {"errors": [{"message": str(error)}]})
        else:
            self._send(200, b"", "text/plain")

    def do_POST(self) -> None:
        if self._refuse_chunked():
            return
        body = self._read_body()
        emulator = self.server.emulator
        path = self.path.split("?", 1)[0]
        if path.startswith(OTEL_PREFIX):
            self._send(200, b"", self.headers.get("Content-Type", "application/x-protobuf"))
            return
        stream = FILE_STREAM.fullmatch(path)
        if path != GRAPHQL_PATH and not path.startswith(CONTROL_PREFIX) and stream is None:
            self._reply(404, {"errors": [{"message": f"no route {path}"}]})
            return
        if not emulator.authorized(self.headers.get("Authorization")):
            self._reply(401, {"errors": [{"message": "authentication required: HTTP Basic api:<API key>"}]},
                        headers={"WWW-Authenticate": 'Basic realm="W&B"'})
            return
        try:
            request = json.loads(body if body or path == GRAPHQL_PATH else b"{}")
        except ValueError as error:
            self._reply(400, {"errors": [{"message": f"malformed JSON: {error}"}]})
            return
        if path == GRAPHQL_PATH:
            self._graphql(request)
        elif stream is not None:
            self._file_stream(stream["entity"], stream["project"], stream["run"], request)
        else:
            self._control(path.removeprefix(CONTROL_PREFIX), request)

    def _refuse_chunked(self) -> bool:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return False
        self.close_connection = True
        self._reply(411, {"errors": [{"message": "send a Content-Length"}]})
        return True

    def _file_stream(self, entity: str, project: str, run: str, request: Any) -> None:
        files = request.get("files") if isinstance(request, dict) else None
        if not isinstance(files, dict | None) or not all(isinstance(f, dict) for f in (files or {}).values()):
            self._reply(400, {"error": 'the body is {"files": {name: {"offset": n, "content": [...]}}, ...}'})
            return
        exitcode = request.get("exitcode")
        try:
            self.server.emulator.state.stream(entity, project, run, files or {},
                                              complete=bool(request.get("complete")),
                                              exitcode=exitcode if isinstance(exitcode, int) else None)
        except NotFound as error:
            self._reply(404, {"error": str(error)})
        except InvalidRequest as error:
            self._reply(400, {"error": str(error)})
        else:
            self._reply(200, {"exitcode": None, "limits": {}})

    def _graphql(self, request: Any) -> None:
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            self._reply(400, {"errors": [{"message": 'the body is {"query": ..., "variables": {...}}'}]})
            return
        variables, operation = request.get("variables"), request.get("operationName")
        if not isinstance(variables, dict | None) or not isinstance(operation, str | None):
            self._reply(400, {"errors": [{"message": "variables must be an object, operationName a string"}]})
            return
        state = self.server.emulator.state
        failure = state.take_failure()
        if failure is None:
            self._reply(*graphql_api.run(state, request["query"], variables, operation))
            return
        state.count_request(graphql_api.prepare(request["query"]).operation_name(operation))
        if failure.kind is FailureKind.HTTP_500:
            self._reply(500, {"errors": [{"message": "injected failure: internal server error"}]})
        elif failure.kind is FailureKind.HTTP_429:
            self._reply(429, {"errors": [{"message": "injected failure: rate limit exceeded"}]},
                        headers={"Retry-After": str(failure.retry_after)})
        else:
            self._reply(200, {"data": None, "errors": [{"message": "injected failure: internal error"}]})

    def _control(self, operation: str, arguments: Any) -> None:
        try:
            self._reply(200, self.server.emulator.control(operation, arguments))
        except NotFound as error:
            self._reply(404, {"errors": [{"message": str(error)}]})
        except Conflict as error:
            self._reply(409, {"errors": [{"message": str(error)}]})
        except InvalidRequest as error:
            self._reply(400, {"errors": [{"message": str(error)}]})

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length") or "0"
        return self.rfile.read(int(length)) if length.isdigit() else b""

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
