"""A real node for the test control plane: containerd (Debian's) + kubelet, with kube-controller-manager
(Deployments, ReplicaSets, the kube-root-ca.crt ConfigMap, node taints) and kube-scheduler, all built from
the pinned ``k8s.io/kubernetes`` (``tools/build.sh node``) and running on loopback.

What this machine needs (cgroup v1 in hybrid mode, no CAP_SYS_RESOURCE, no registry):
- kubelet ``failCgroupV1: false`` (1.35+ refuses cgroup v1 by default), ``cgroupDriver: cgroupfs``,
  no QoS cgroups; containerd ``restrict_oom_score_adj`` (no lowering of oom_score_adj here);
- a pause image made here (``tools/pause``) and the operator image imported from podman; every image
  pull is sent to a closed loopback port, so nothing is ever fetched from outside;
- a loopback-only CNI configuration: Pods run with ``hostNetwork`` (the apiserver, the emulator and
  the receivers listen on 127.0.0.1 only), the node advertises no address;
- the node is tainted, so only Pods that tolerate the taint are scheduled on it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.controlplane import REPO, ControlPlane, free_port, tool_dirs, wait_until
from tests.support.image import built, podman

TAINT = {"key": "wbauto.test/real-node", "value": "only", "effect": "NoSchedule"}
TOLERATION = {"key": TAINT["key"], "operator": "Equal", "value": TAINT["value"], "effect": TAINT["effect"]}
PAUSE = "localhost/wbauto-pause:1"


class Node:
    def __init__(self, cluster: ControlPlane, workdir: Path, name: str = "node-1") -> None:
        self.cluster = cluster
        self.dir = workdir / "node"
        self.name = name
        self.socket = self.dir / "containerd.sock"
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[Any] = []

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> Node:
        self.dir.mkdir(parents=True, exist_ok=True)
        bins = tool_dirs("node")[0]
        self._containerd()
        self.load_image(self._pause_image())
        self.load_image(built().ref)
        admin, pki = str(self.cluster.kubeconfig), self.cluster.workdir / "pki"
        self._spawn("kube-controller-manager", [
            str(bins / "kube-controller-manager"), f"--kubeconfig={admin}", "--leader-elect=false",
            "--controllers=deployment-controller,replicaset-controller,root-ca-certificate-publisher-controller,"
            "node-lifecycle-controller",
            f"--root-ca-file={pki / 'ca.crt'}", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--node-monitor-grace-period=40s", "--v=1"])
        self._spawn("kube-scheduler", [
            str(bins / "kube-scheduler"), f"--kubeconfig={admin}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--v=1"])
        assert self.cluster.ca is not None
        serving = self.cluster.ca.issue_cert("127.0.0.1", "localhost", common_name=f"system:node:{self.name}")
        serving.cert_chain_pems[0].write_to_path(str(self.dir / "kubelet.crt"))
        serving.private_key_pem.write_to_path(str(self.dir / "kubelet.key"))
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(pki / "ca.crt")}},
            "authorization": {"mode": "AlwaysAllow"},  # its API is on loopback, for this test only
            "address": "127.0.0.1", "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "tlsCertFile": str(self.dir / "kubelet.crt"), "tlsPrivateKeyFile": str(self.dir / "kubelet.key"),
            "failSwapOn": False, "makeIPTablesUtilChains": False, "localStorageCapacityIsolation": False,
            "protectKernelDefaults": False, "resolvConf": "/etc/resolv.conf",
            "evictionHard": {"memory.available": "1Mi"},  # the host's disks and memory are shared
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "podLogsDir": str(self.dir / "pods"), "registerWithTaints": [TAINT],
            "syncFrequency": "5s", "fileCheckFrequency": "5s",
        }
        (self.dir / "kubelet.yaml").write_text(yaml.safe_dump(config))
        self._spawn("kubelet", [
            str(bins / "kubelet"), f"--kubeconfig={admin}", f"--config={self.dir / 'kubelet.yaml'}",
            f"--root-dir={self.dir / 'kubelet'}", f"--hostname-override={self.name}",
            "--node-ip=127.0.0.1", "--v=1"])
        wait_until(self._ready, timeout, f"node {self.name} Ready", 1.0)
        return self

    def stop(self) -> None:
        """Kubelet first (Pods already deleted by the test keep nothing), then every container left in
        containerd, containerd itself, the controllers; the Node object goes."""
        self._terminate("kubelet")
        if self.socket.exists():
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
            wait_until(lambda: not [line for line in self.ctr("tasks", "ls", check=False).stdout.splitlines()[1:]
                                    if "RUNNING" in line], 30, "containerd tasks stopped", 0.5)
            for task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "delete", task, check=False)
            for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("containers", "delete", container, check=False)
        for name in ("containerd", "kube-scheduler", "kube-controller-manager"):
            self._terminate(name)
        for log in self._logs:
            log.close()
        self._unmount()
        self.cluster.kubectl("delete", "node", self.name, "--wait=false", check=False)

    def _unmount(self) -> None:
        """The kubelet bind-mounts its root directory and the Pods' volumes (and containerd the sandboxes'
        /dev/shm): undo what is left under this node's directory, deepest first."""
        prefix = f"{self.dir}/"
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)

    # --- helpers -----------------------------------------------------------------------------------

    def ctr(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["ctr", "--address", str(self.socket), "-n", "k8s.io", *args], input=input,
                                capture_output=True, timeout=300)
        out = subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                          result.stderr.decode(errors="replace"))
        if check and result.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args[:2])} failed: {out.stderr}")
        return out

    def load_image(self, ref: str) -> None:
        """podman's image into containerd's k8s.io namespace (what a pull would have put there)."""
        archive = self.dir / "image.tar"
        podman("save", "--format", "oci-archive", "-o", str(archive), ref, timeout=300)
        self.ctr("images", "import", "--base-name", ref.rsplit(":", 1)[0], str(archive))
        archive.unlink()

    def container_logs(self, namespace: str, pod: str, container: str) -> str:
        """What ``kubectl logs`` would show (the node has no address the apiserver could proxy to)."""
        texts = [p.read_text(errors="replace")
                 for p in sorted((self.dir / "pods").glob(f"{namespace}_{pod}_*/{container}/*.log"))]
        return "".join(texts)

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _ready(self) -> bool:
        for name, proc in self._procs:
            assert proc.poll() is None, f"{name} exited ({proc.returncode}):\n{self.log(name)[-3000:]}"
        result = self.cluster.kubectl("get", "node", self.name, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        node = json.loads(result.stdout)
        ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
        not_ready_taint = [t for t in node["spec"].get("taints", []) if t["key"] == "node.kubernetes.io/not-ready"]
        return bool(ready and ready[0]["status"] == "True" and not not_ready_taint)

    def _containerd(self) -> None:
        hosts = self.dir / "registry" / "_default"
        hosts.mkdir(parents=True, exist_ok=True)
        # every registry resolves to a closed loopback port: an image that is not here fails, never fetches
        (hosts / "hosts.toml").write_text('server = "http://127.0.0.1:9"\n[host."http://127.0.0.1:9"]\n'
                                          '  capabilities = ["pull", "resolve"]\n')
        cni = self.dir / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-loopback.conflist").write_text(json.dumps(
            {"cniVersion": "1.0.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]}))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        (self.dir / "containerd.toml").write_text(f"""version = 2
root = "{self.dir / 'containerd-root'}"
state = "{self.dir / 'containerd-state'}"
[grpc]
  address = "{self.socket}"
[{cri}]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni}"
[{cri}.registry]
  config_path = "{self.dir / 'registry'}"
""")
        self._spawn("containerd", ["containerd", "--config", str(self.dir / "containerd.toml")])
        wait_until(lambda: self.socket.exists() and self.ctr("version", check=False).returncode == 0, 30,
                   "containerd")

    def _pause_image(self) -> str:
        context = self.dir / "pause"
        context.mkdir(exist_ok=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off"}
        subprocess.run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(context / "pause"), "."],
                       cwd=REPO / "tools" / "pause", env=env, check=True, capture_output=True)
        (context / "Containerfile").write_text('FROM scratch\nCOPY pause /pause\nUSER 65535:65535\n'
                                               'ENTRYPOINT ["/pause"]\n')
        podman("build", "--quiet", "-t", PAUSE, str(context))
        return PAUSE

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self._procs.append((name, subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)))

    def _terminate(self, name: str) -> None:
        for proc_name, proc in self._procs:
            if proc_name == name and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_pods_gone(cluster: ControlPlane, namespace: str, selector: str, timeout: float = 60) -> None:
    wait_until(lambda: not cluster.get_json("pods", "-n", namespace, "-l", selector)["items"], timeout,
               f"the Pods {selector} deleted")


def pod_of(cluster: ControlPlane, namespace: str, selector: str) -> dict[str, Any]:
    pods: list[dict[str, Any]] = cluster.get_json("pods", "-n", namespace, "-l", selector)["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]

