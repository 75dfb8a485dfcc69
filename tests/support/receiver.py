"""A real HTTP receiver on 127.0.0.1 for tests: records every request, verifies X-Wandb-Signature with an
independent HMAC implementation (``cryptography``, not Python's ``hmac`` that wbauto uses), and answers
with scripted status codes. Also a Slack-Web-API-shaped variant."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from tests.support.controlplane import wait_until


def independent_signature(secret: str, body: bytes) -> str:
    mac = crypto_hmac.HMAC(secret.encode(), hashes.SHA256())
    mac.update(body)
    return base64.b64encode(mac.finalize()).decode()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    signature_ok: bool | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str | None = None
    statuses: list[int] = field(default_factory=list)  # answered in order; then `default_status`
    default_status: int = 200
    delay: float = 0.0
    respond: Callable[[Received], tuple[int, dict[str, Any]]] | None = None
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                given = self.headers.get("X-Wandb-Signature")
                ok = None if receiver.secret is None else (
                    given == independent_signature(receiver.secret, body))
                record = Received("POST", self.path, dict(self.headers.items()), body, time.monotonic(), ok)
                with receiver._lock:
                    receiver.requests.append(record)
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                payload: dict[str, Any] = {"received": len(receiver.requests)}
                if receiver.respond is not None:
                    status, payload = receiver.respond(record)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        wait_until(lambda: len(self.requests) >= count, timeout, f"{count} request(s) at the receiver "
                                                                  f"(got {len(self.requests)})")
        return list(self.requests)

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]


def slack_api(token: str) -> Receiver:
    """Answers like Slack's chat.postMessage: {"ok": true, "ts": ...} for the right bot token."""

    def respond(req: Received) -> tuple[int, dict[str, Any]]:
        if req.headers.get("Authorization") != f"Bearer {token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if not req.path.endswith("/chat.postMessage"):
            return 404, {"ok": False, "error": "unknown_method"}
        doc = req.json()
        if not doc.get("channel"):
            return 200, {"ok": False, "error": "channel_not_found"}
        return 200, {"ok": True, "channel": doc["channel"], "ts": f"{time.time():.6f}"}

    return Receiver(respond=respond)
