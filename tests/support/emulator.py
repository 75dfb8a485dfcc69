"""Helpers for tests that run the W&B emulator: a hand-driven clock, a GraphQL call over HTTP, and a
sandbox for the real ``wandb`` SDK (directories, proxies, no egress)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

API_KEY = "e" * 40
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    """A clock that only moves when told to (``advance``)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """POST one GraphQL request; the decoded body of a 200 answer."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seed_scopes(emulator: Any, documents: Iterable[Any]) -> None:
    """Create in the emulator every project, registry (with its organization) and entity the Automations
    among ``documents`` watch, so the operator's polls find them. Idempotent."""
    from wbauto.emulator.state import EmulatorError

    state = emulator.state
    automations = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Automation"]
    # registries first: their organization's entity must not already exist as a team
    automations.sort(key=lambda d: "registry" not in ((d.get("spec") or {}).get("scope") or {}))
    for doc in automations:
        scope = (doc.get("spec") or {}).get("scope") or {}
        with contextlib.suppress(EmulatorError):
            if "project" in scope:
                state.create_project(scope["project"]["entity"], scope["project"]["project"])
            elif "collection" in scope:
                state.create_project(scope["collection"]["entity"], scope["collection"]["project"])
            elif "entity" in scope:
                state.create_project(scope["entity"]["name"], "default")
            elif "registry" in scope:
                organization = scope["registry"]["organization"]
                with contextlib.suppress(EmulatorError):
                    state.create_organization(organization, entity=organization)
                state.create_registry(organization, scope["registry"]["name"])


# The real wandb SDK against the emulator ----------------------------------------------------------

LOOPBACK = "127.0.0.1,localhost,::1"


class EgressTrap:
    """An HTTP proxy on 127.0.0.1 that refuses everything and records what reached it. With the proxy
    variables pointing here and ``NO_PROXY`` naming only loopback, any request the SDK (or its core
    process) made to another host would land here instead of leaving the machine."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        trap = self
        self.requests: list[str] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                with trap._lock:
                    trap.requests.append(self.raw_requestline.decode("latin-1").strip())
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def sdk_sandbox(root: Path, *, base_url: str = "", api_key: str = API_KEY) -> Iterator[EgressTrap]:
    """Environment for the real ``wandb`` SDK: every directory it writes under ``root``, no code or git
    saving, no error reports, online against ``base_url`` (when given) with ``api_key``, and proxies
    pointing at an :class:`EgressTrap`. On exit the SDK's core process is stopped and the test fails if
    anything reached the trap or the SDK wrote to the home directory."""
    import wandb

    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    trap = EgressTrap()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE",
                     "WANDB_RUN_ID", "WANDB_ORGANIZATION"):
            patch.delenv(name, raising=False)
        for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
            (root / name.lower()).mkdir(exist_ok=True)
            patch.setenv(name, str(root / name.lower()))
        patch.setenv("HOME", str(home))
        patch.setenv("WANDB_SILENT", "true")
        patch.setenv("WANDB_ERROR_REPORTING", "false")
        patch.setenv("WANDB_DISABLE_CODE", "true")
        patch.setenv("WANDB_DISABLE_GIT", "true")
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            patch.setenv(name, trap.url)
        patch.setenv("NO_PROXY", LOOPBACK)
        patch.setenv("no_proxy", LOOPBACK)
        if base_url:
            patch.setenv("WANDB_BASE_URL", base_url)
            patch.setenv("WANDB_API_KEY", api_key)
            patch.setenv("WANDB_MODE", "online")
        try:
            yield trap
        finally:
            wandb.teardown()
            trap.stop()
    assert trap.requests == [], f"the SDK tried to reach another host: {trap.requests}"
    assert list(home.iterdir()) == [], "the SDK wrote to the home directory"


def run_settings(**overrides: Any) -> Any:
    """``wandb.Settings`` for a ``wandb.init`` against the emulator: no code, git or system metrics, no
    console capture, a generous start-up timeout for a loaded machine."""
    import wandb

    values: dict[str, Any] = dict(save_code=False, disable_git=True, x_disable_stats=True, x_disable_meta=True,
                                  console="off", init_timeout=90, silent=True)
    values.update(overrides)
    return wandb.Settings(**values)
