"""Where the Kubernetes API is and how to authenticate: in-cluster service account or a kubeconfig.

Supports what operators need: CA file/data, client certificate file/data, bearer token or token
file (bound service-account tokens are re-read, they rotate), ``insecure-skip-tls-verify``.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wbauto.errors import ConfigError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    insecure: bool = False
    namespace: str = "default"

    def bearer_token(self) -> str | None:
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SA_DIR / "token").exists()


def load(kubeconfig: str | None = None, context: str | None = None) -> ClusterConfig:
    """Explicit kubeconfig > $KUBECONFIG > in-cluster service account > ~/.kube/config."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if not path and in_cluster():
        return _in_cluster()
    path = path or str(Path.home() / ".kube" / "config")
    return _from_kubeconfig(Path(path.split(os.pathsep)[0]), context)


def _in_cluster() -> ClusterConfig:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    namespace = (SA_DIR / "namespace").read_text().strip() if (SA_DIR / "namespace").exists() else "default"
    return ClusterConfig(server=f"https://{host}:{port}", ca_file=str(SA_DIR / "ca.crt"),
                         token_file=str(SA_DIR / "token"), namespace=namespace)


def _materialize(data: str | None, suffix: str) -> str | None:
    """kubeconfig *-data fields are base64 PEM; ssl wants files."""
    if not data:
        return None
    fd, name = tempfile.mkstemp(prefix="wbauto-kube-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return name


def _relative(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base.parent / p)


def _from_kubeconfig(path: Path, context: str | None) -> ClusterConfig:
    try:
        doc: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"kubeconfig {path}: cannot read ({exc.strerror}); set KUBECONFIG or --kubeconfig") \
            from exc
    ctx_name = context or doc.get("current-context")
    ctx = _named(doc, "contexts", ctx_name).get("context", {})
    cluster = _named(doc, "clusters", ctx.get("cluster")).get("cluster", {})
    user = _named(doc, "users", ctx.get("user")).get("user", {}) if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise ConfigError(f"kubeconfig {path}: user {ctx.get('user')!r} uses an exec/auth-provider plugin, "
                          "which wbauto does not run; use a client certificate or token")
    if not cluster.get("server"):
        raise ConfigError(f"kubeconfig {path}: context {ctx_name!r} has no cluster server")
    return ClusterConfig(
        server=str(cluster["server"]).rstrip("/"),
        ca_file=_relative(path, cluster.get("certificate-authority"))
        or _materialize(cluster.get("certificate-authority-data"), ".crt"),
        cert_file=_relative(path, user.get("client-certificate"))
        or _materialize(user.get("client-certificate-data"), ".crt"),
        key_file=_relative(path, user.get("client-key")) or _materialize(user.get("client-key-data"), ".key"),
        token=user.get("token"),
        token_file=_relative(path, user.get("tokenFile")),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=str(ctx.get("namespace") or "default"),
    )


def _named(doc: dict[str, Any], section: str, name: str | None) -> dict[str, Any]:
    for item in doc.get(section) or []:
        if item.get("name") == name:
            return dict(item)
    raise ConfigError(f"kubeconfig: no {section[:-1]} named {name!r}")
