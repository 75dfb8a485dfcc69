"""One throwaway certificate authority per test session (trustme) and a server certificate for
127.0.0.1 / localhost, written to files because the SDKs take CA bundles by path."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Tls:
    ca: trustme.CA
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> Tls:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        paths = cls(ca, directory / "ca.pem", directory / "server.pem", directory / "server.key")
        ca.cert_pem.write_to_path(str(paths.ca_file))
        cert.cert_chain_pems[0].write_to_path(str(paths.cert_file))
        cert.private_key_pem.write_to_path(str(paths.key_file))
        return paths

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def key_and_cert(self) -> tuple[bytes, bytes]:
        return self.key_file.read_bytes(), self.cert_file.read_bytes()
