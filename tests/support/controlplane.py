"""A real kube-apiserver + etcd on 127.0.0.1, envtest style, for tests and benchmarks.

Binaries come from ``tools/build.sh`` (built from the Go module proxy, cached outside the repo).
Certificates are generated per run with trustme; the admin identity is a client certificate in
``system:masters``. Nothing here skips: if a binary cannot be built the fixture fails loudly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool_dirs(*components: str) -> list[Path]:
    """Build (or reuse) the pinned binaries and return their directories."""
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "build.sh"), *components],
        check=True, stdout=subprocess.PIPE, text=True,
    )
    return [Path(line) for line in out.stdout.split() if line.strip()]


def tools_path(*components: str) -> str:
    return os.pathsep.join(str(d) for d in tool_dirs(*components))


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling; report the last error on timeout
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}" +
                       (f" (last error: {last_exc!r})" if last_exc else ""))


@dataclass
class User:
    name: str
    kubeconfig: Path


@dataclass
class ControlPlane:
    workdir: Path
    bin_path: str
    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    ca: trustme.CA | None = None
    audit: bool = False
    """Write an audit log of every request (metadata only) to ``workdir/audit.log``: benchmarks count
    apiserver requests per event with it."""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[Any] = field(default_factory=list)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        self.ca = trustme.CA()
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        self.ca.cert_pem.write_to_path(str(pki / "ca.crt"))
        server_cert = self.ca.issue_cert("127.0.0.1", "localhost", common_name="kube-apiserver")
        server_cert.cert_chain_pems[0].write_to_path(str(pki / "apiserver.crt"))
        server_cert.private_key_pem.write_to_path(str(pki / "apiserver.key"))
        sa_key = ec.generate_private_key(ec.SECP256R1())
        (pki / "sa.key").write_bytes(sa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        data = self.workdir / "etcd"
        self._spawn("etcd", [
            "etcd", "--name=wbauto", f"--data-dir={data}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=wbauto=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true", "--log-level=warn",
        ])
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{etcd_port}/health"), 30, "etcd /health")

        self.server = f"https://127.0.0.1:{api_port}"
        self._spawn("kube-apiserver", [
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true", "--profiling=false", "--v=0",
            f"--cert-dir={pki}",
            *self._audit_flags(),
        ])
        self.kubeconfig = self.add_user("admin", groups=("system:masters",)).kubeconfig
        ctx = self.ssl_context("admin")
        wait_until(lambda: _http_ok(f"{self.server}/readyz", ctx), timeout, "kube-apiserver /readyz")

    def _audit_flags(self) -> list[str]:
        if not self.audit:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
                          "rules:\n- level: Metadata\n")
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.workdir / 'audit.log'}",
                "--audit-log-format=json", "--audit-log-mode=batch", "--audit-log-batch-max-wait=1s",
                "--audit-log-maxsize=0"]

    def requests(self, user_agent: str, start: float, end: float) -> dict[str, int]:
        """Requests (``VERB resource``) a client whose User-Agent starts with ``user_agent`` sent between two
        ``time.time()`` moments, from the audit log (watches counted once, when they end or at ``end``)."""
        import collections
        import datetime

        counts: collections.Counter[str] = collections.Counter()
        path = self.workdir / "audit.log"
        if not path.exists():
            return {}
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not str(entry.get("userAgent", "")).startswith(user_agent):
                continue
            at = datetime.datetime.fromisoformat(entry["requestReceivedTimestamp"].replace("Z", "+00:00"))
            if not start <= at.timestamp() <= end:
                continue
            ref = entry.get("objectRef") or {}
            sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
            counts[f"{entry.get('verb')} {ref.get('resource', entry.get('requestURI', ''))}{sub}"] += 1
        return dict(counts)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()
        self._procs.clear()

    def _spawn(self, name: str, argv: Sequence[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        env = {**os.environ, "PATH": self.bin_path + os.pathsep + os.environ.get("PATH", "")}
        exe = shutil.which(argv[0], path=env["PATH"])
        if exe is None:
            raise FileNotFoundError(f"{argv[0]} not found in {self.bin_path}")
        proc = subprocess.Popen([exe, *argv[1:]], stdout=log, stderr=subprocess.STDOUT, env=env)
        self._procs.append(proc)

    # --- identities --------------------------------------------------------------------------------

    def add_user(self, name: str, groups: Sequence[str] = ()) -> User:
        """A client-certificate identity with its own kubeconfig."""
        assert self.ca is not None
        pki = self.workdir / "pki"
        cert = self.ca.issue_cert(f"{name}.user.invalid", common_name=name,
                                  organization_name=",".join(groups) or None)
        # one O per group: trustme takes one organization; the apiserver reads every O in the subject
        cert.cert_chain_pems[0].write_to_path(str(pki / f"{name}.crt"))
        cert.private_key_pem.write_to_path(str(pki / f"{name}.key"))
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "wbauto", "cluster": {
                "server": self.server, "certificate-authority": str(pki / "ca.crt")}}],
            "users": [{"name": name, "user": {
                "client-certificate": str(pki / f"{name}.crt"), "client-key": str(pki / f"{name}.key")}}],
            "contexts": [{"name": name, "context": {"cluster": "wbauto", "user": name}}],
            "current-context": name,
        }
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return User(name=name, kubeconfig=path)

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        pki = self.workdir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / f"{user}.crt"), str(pki / f"{user}.key"))
        return ctx

    # --- kubectl -----------------------------------------------------------------------------------

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(kubeconfig or self.kubeconfig),
                "PATH": self.bin_path + os.pathsep + os.environ.get("PATH", "")}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args], input=input, text=True, capture_output=True,
            env=self.env(kubeconfig), timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stderr}{result.stdout}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]], *extra: str,
              check: bool = True) -> subprocess.CompletedProcess[str]:
        if isinstance(manifest, dict):
            manifest = yaml.safe_dump(manifest)
        elif isinstance(manifest, list):
            manifest = yaml.safe_dump_all(manifest)
        return self.kubectl("apply", "-f", "-", *extra, input=manifest, check=check)

    def install_crds(self, directory: Path) -> None:
        self.kubectl("apply", "--server-side", "-f", str(directory))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
                     "app.kubernetes.io/part-of=wbauto")


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def running(crds: Path | None = REPO / "crds", *, audit: bool = False) -> Iterator[ControlPlane]:
    """Start a control plane (building binaries if needed), install the CRDs, stop it at the end."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="wbauto-cp-", dir=base) as tmp:
        plane = ControlPlane(workdir=Path(tmp), bin_path=tools_path("k8s", "etcd", "helm"), audit=audit)
        try:
            plane.start()
            if crds is not None:
                plane.install_crds(crds)
            yield plane
        except BaseException:
            for name in ("kube-apiserver", "etcd"):
                log = Path(tmp) / f"{name}.log"
                if log.exists():
                    print(f"--- {name}.log (tail) ---\n" + log.read_text(errors="replace")[-4000:])
            raise
        finally:
            plane.stop()
