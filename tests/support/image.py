"""The operator image (built by ``tools/image.sh``) and containers run from it with podman.

``PodContainer`` runs a container of a Deployment's Pod template the way a kubelet would: the chart's
command, args and env (``fieldRef`` and ``secretKeyRef`` resolved like the kubelet does), its
securityContext (user, read-only root, no capabilities, no privilege escalation), its emptyDir mounts
(tmpfs, nothing else is writable), the memory limit, the service-account token, CA and namespace at
``/var/run/secrets/kubernetes.io/serviceaccount`` and ``KUBERNETES_SERVICE_HOST/PORT``. Host networking:
the apiserver, the emulator and the receivers all listen on loopback.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.controlplane import REPO, wait_until

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class Image:
    ref: str
    env: dict[str, str]  # CONTAINERS_CONF and CONTAINERS_STORAGE_CONF: this machine's podman settings


@functools.cache
def built() -> Image:
    """``tools/image.sh`` builds the image, or reuses the one built from the same inputs."""
    script = str(REPO / "tools" / "image.sh")
    ref = subprocess.run(["bash", script], check=True, stdout=subprocess.PIPE, text=True).stdout.split()[-1]
    env = subprocess.run(["bash", script, "env"], check=True, stdout=subprocess.PIPE, text=True).stdout
    return Image(ref, dict(line.split("=", 1) for line in env.splitlines() if "=" in line))


def podman_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **built().env, **(extra or {})}


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(), timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... failed ({result.returncode}):\n{result.stderr}")
    return result


def split_image(ref: str) -> tuple[str, str]:
    """``localhost/wbauto:0.1.0-abc`` → (``localhost/wbauto``, ``0.1.0-abc``)."""
    repository, _, tag = ref.rpartition(":")
    return repository, tag


class Container:
    """``podman run`` in the foreground with its output in a log file; stopped like a kubelet stops one."""

    def __init__(self, workdir: Path, name: str, run_args: Sequence[str], env: Mapping[str, str] | None = None,
                 grace: float = 30) -> None:
        self.workdir = workdir
        self.name = f"wbauto-test-{name}-{uuid.uuid4().hex[:8]}"
        self.run_args = list(run_args)
        self.env = dict(env or {})  # values of the `-e NAME` options: never on a command line
        self.grace = grace
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def start(self) -> Container:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["podman", "run", "--rm", "--name", self.name, *self.run_args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=podman_env(self.env))
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after the grace period (``podman stop -t``); the container's exit code."""
        if self.proc is not None:
            if self.proc.poll() is None:
                podman("stop", "-t", str(int(self.grace)), self.name, check=False, timeout=self.grace + 30)
            try:
                self.returncode = self.proc.wait(timeout=self.grace + 30)
            except subprocess.TimeoutExpired:
                podman("kill", self.name, check=False)
                self.returncode = self.proc.wait(timeout=30)
        if hasattr(self, "_log"):
            self._log.close()
        if os.environ.get("WBAUTO_TEST_SHOW_LOGS"):
            print(self.logs())
        return self.returncode


def _image_user(ref: str) -> int:
    user = podman("image", "inspect", "--format", "{{.User}}", ref).stdout.strip().split(":")[0]
    assert user.isdigit(), f"runAsNonRoot needs a numeric image user, the image has {user!r}"
    return int(user)


def _quantity_bytes(value: str) -> int:
    units = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9]+)([A-Za-z]*)", str(value))
    assert match and match.group(2) in units, f"unsupported quantity {value!r}"
    return int(match.group(1)) * units[match.group(2)]


class PodContainer(Container):
    """The first container of ``deployment``'s Pod template, run as a Pod of it named ``pod_name``."""

    def __init__(self, workdir: Path, deployment: dict[str, Any], *, pod_name: str, token: str, ca: Path,
                 server: str, secret: Callable[[str, str, str], str]) -> None:
        template = deployment["spec"]["template"]
        pod, container = template["spec"], template["spec"]["containers"][0]
        namespace = deployment["metadata"]["namespace"]
        self.container = container
        self.ports = {p["name"]: int(p["containerPort"]) for p in container.get("ports", [])}
        sa = workdir / "serviceaccount"
        sa.mkdir(exist_ok=True)
        for name, content in (("token", token), ("ca.crt", ca.read_text()), ("namespace", namespace)):
            (sa / name).write_text(content)
            (sa / name).chmod(0o644)  # what the kubelet's projected volume gives (defaultMode 0644)
        host, port = urllib.parse.urlsplit(server).hostname, urllib.parse.urlsplit(server).port
        fields = {"metadata.name": pod_name, "metadata.namespace": namespace,
                  "spec.serviceAccountName": pod.get("serviceAccountName", "default"),
                  "status.podIP": "127.0.0.1", "spec.nodeName": "localhost"}
        env = {"KUBERNETES_SERVICE_HOST": str(host), "KUBERNETES_SERVICE_PORT": str(port)}
        for item in container.get("env", []):
            source = item.get("valueFrom")
            if source is None:
                env[item["name"]] = str(item.get("value", ""))
            elif "fieldRef" in source:
                env[item["name"]] = fields[source["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                env[item["name"]] = secret(namespace, ref["name"], ref["key"])
            else:
                raise AssertionError(f"env source not supported here: {source}")
        security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        args = ["--network", "host", "--pull", "never", "--hostname", pod_name]
        if security.get("runAsNonRoot"):  # the kubelet refuses to start it otherwise
            assert int(security.get("runAsUser", -1)) > 0 or _image_user(container["image"]) > 0
        if "runAsUser" in security:
            args += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"]
        if "fsGroup" in security:
            args += ["--group-add", str(security["fsGroup"])]
        if security.get("readOnlyRootFilesystem"):
            args += ["--read-only", "--read-only-tmpfs=false"]  # only the Pod's volumes are writable
        if security.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        for cap in security.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", cap.lower()]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            assert "emptyDir" in volume, f"only emptyDir volumes are run here: {volume}"
            size = (volume["emptyDir"] or {}).get("sizeLimit")
            options = f",tmpfs-size={_quantity_bytes(size)}" if size else ""
            args += ["--mount", f"type=tmpfs,destination={mount['mountPath']},tmpfs-mode=1777{options}"]
        if pod.get("automountServiceAccountToken", True):
            args += ["-v", f"{sa}:{SA_DIR}:ro"]
        memory = container.get("resources", {}).get("limits", {}).get("memory")
        if memory:
            args += ["--memory", str(_quantity_bytes(memory))]
        for name in env:
            args += ["-e", name]  # the value comes from podman's environment: secrets stay off argv
        if container.get("command"):
            args += ["--entrypoint", json.dumps(container["command"])]
        image = container["image"]
        super().__init__(workdir, pod_name, [*args, image, *container.get("args", [])], env=env,
                         grace=float(pod.get("terminationGracePeriodSeconds", 30)))
        self.security = security

    def probe(self, which: str = "readinessProbe") -> bool:
        """The container's HTTP probe, as the kubelet runs it (host network: on 127.0.0.1)."""
        get = self.container[which]["httpGet"]
        port = self.ports[get["port"]] if isinstance(get["port"], str) else int(get["port"])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{get['path']}", timeout=2) as resp:
                return bool(200 <= resp.status < 400)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.alive(), f"the container exited ({self.proc and self.proc.poll()}):\n{self.logs()[-3000:]}"
            return self.probe("readinessProbe")

        wait_until(ready, timeout, "the readiness probe")
