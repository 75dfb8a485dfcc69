"""Logging in like kubectl (issue 13 §1), against the real apiserver: a user that is an exec credential plugin
(as on EKS, GKE and AKS kubeconfigs), a KUBECONFIG of two files merged, ``--context``. The operator and
every ``--cluster`` command work with each; embedded key material does not stay on disk."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import ControlPlane
from tests.support.manifests import automation
from tests.support.operator import OperatorProcess
from wbauto.emulator.server import Emulator
from wbauto.errors import ConfigError
from wbauto.kube import client as kube

PLUGIN = '''
import json, sys, datetime, pathlib
calls = pathlib.Path(sys.argv[2])
calls.write_text(str(int(calls.read_text() or 0) + 1) if calls.exists() else "1")
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(sys.argv[3]))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": pathlib.Path(sys.argv[1]).read_text().strip(),
                             "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
'''


def _ca_data(cluster: ControlPlane) -> str:
    return base64.b64encode((cluster.workdir / "pki" / "ca.crt").read_bytes()).decode()


@pytest.fixture(scope="module")
def exec_kubeconfig(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A kubeconfig whose user runs a plugin printing an ExecCredential with a ServiceAccount token."""
    work = tmp_path_factory.mktemp("exec")
    cluster.kubectl("create", "namespace", "exec-login", check=False)
    cluster.kubectl("create", "serviceaccount", "exec-user", "-n", "exec-login", check=False)
    cluster.kubectl("create", "clusterrolebinding", "exec-user-admin", "--clusterrole=cluster-admin",
                    "--serviceaccount=exec-login:exec-user", check=False)
    token = cluster.kubectl("create", "token", "exec-user", "-n", "exec-login", "--duration=2h").stdout.strip()
    (work / "token").write_text(token)
    (work / "plugin.py").write_text(PLUGIN)
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "test", "cluster": {"server": cluster.server,
                                                         "certificate-authority-data": _ca_data(cluster)}}],
              "users": [{"name": "eks-like", "user": {"exec": {
                  "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                  "args": [str(work / "plugin.py"), str(work / "token"), str(work / "calls"), "2"],
                  "interactiveMode": "Never"}}}],
              "contexts": [{"name": "exec", "context": {"cluster": "test", "user": "eks-like",
                                                        "namespace": "exec-login"}}],
              "current-context": "exec"}
    (work / "kubeconfig").write_text(yaml.safe_dump(config))
    return {"kubeconfig": work / "kubeconfig", "calls": work / "calls", "dir": work}


async def test_an_exec_plugin_user_logs_in_and_runs_again_when_its_token_expires(
        exec_kubeconfig: dict[str, Path]) -> None:
    client = kube.Client(str(exec_kubeconfig["kubeconfig"]))
    try:
        await client.connect()
        assert client.namespace == "exec-login"
        assert (await client.get(kube.NAMESPACES, None, "exec-login"))["metadata"]["name"] == "exec-login"
        first = int(exec_kubeconfig["calls"].read_text())
        login = await client.login()
        assert login.token and login.expiration is not None
        import asyncio

        await asyncio.sleep(2.5)  # the plugin's tokens live 2 s: the next call must run it again
        await client.list(kube.NAMESPACES)
        assert int(exec_kubeconfig["calls"].read_text()) > first
    finally:
        await client.aclose()


async def test_embedded_key_material_is_not_left_on_disk(cluster: ControlPlane, tmp_path: Path) -> None:
    pki = cluster.workdir / "pki"
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    user = config["users"][0]["user"]
    key = Path(user.pop("client-key")).read_bytes()
    user["client-key-data"] = base64.b64encode(key).decode()
    user["client-certificate-data"] = base64.b64encode(Path(user.pop("client-certificate")).read_bytes()).decode()
    config["clusters"][0]["cluster"].pop("certificate-authority")
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        (pki / "ca.crt").read_bytes()).decode()
    (tmp_path / "embedded").write_text(yaml.safe_dump(config))
    before = set(Path(tempfile.gettempdir()).iterdir())
    client = kube.Client(str(tmp_path / "embedded"))
    try:
        await client.list(kube.NAMESPACES)
        for _ in range(2):  # a second client in the same process logs in too
            other = kube.Client(str(tmp_path / "embedded"))
            await other.list(kube.NAMESPACES)
            await other.aclose()
        created = set(Path(tempfile.gettempdir()).iterdir()) - before
        leftovers = [p for p in created if p.is_file() and key in p.read_bytes()]
        leftovers += [f for p in created if p.is_dir() for f in p.rglob("*") if f.is_file() and key in f.read_bytes()]
        assert leftovers == []
    finally:
        await client.aclose()


def _merged(cluster: ControlPlane, tmp_path: Path) -> str:
    """kubectl's merge: clusters and users in one file, the contexts in another (current-context there)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    first = {"apiVersion": "v1", "kind": "Config", "clusters": config["clusters"], "users": config["users"]}
    broken = {"name": "broken", "cluster": {"server": "https://127.0.0.1:1",
                                             "certificate-authority": config["clusters"][0]["cluster"][
                                                 "certificate-authority"]}}
    first["clusters"] = [*config["clusters"], broken]
    second = {"apiVersion": "v1", "kind": "Config",
              "contexts": [{"name": "good", "context": {"cluster": config["clusters"][0]["name"],
                                                        "user": config["users"][0]["name"], "namespace": "good-ns"}},
                           {"name": "unreachable", "context": {"cluster": "broken",
                                                               "user": config["users"][0]["name"]}}],
              "current-context": "unreachable"}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(first))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(second))
    return f"{tmp_path / 'a.yaml'}{os.pathsep}{tmp_path / 'b.yaml'}"


async def test_a_merged_kubeconfig_and_context(cluster: ControlPlane, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", _merged(cluster, tmp_path))
    good = kube.Client(context="good")
    try:
        await good.list(kube.NAMESPACES)
        assert good.namespace == "good-ns"
    finally:
        await good.aclose()
    current = kube.Client()  # the current context points at nothing listening
    try:
        with pytest.raises(kube.KubeError):
            await current.list(kube.NAMESPACES)
    finally:
        await current.aclose()
    with pytest.raises(ConfigError, match=r"contexts: good, unreachable.*--context"):
        await kube.Client(context="nope").connect()


def _wbauto(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wbauto", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_the_operator_and_every_cluster_command_log_in_each_way(cluster: ControlPlane, namespace: str,
                                                                tmp_path: Path, wandb: Emulator,
                                                                exec_kubeconfig: dict[str, Path]) -> None:
    merged = _merged(cluster, tmp_path)
    ways: dict[str, tuple[dict[str, str], list[str]]] = {
        "exec plugin": ({"KUBECONFIG": str(exec_kubeconfig["kubeconfig"])}, []),
        "merged KUBECONFIG + --context": ({"KUBECONFIG": merged}, ["--context", "good"]),
        "--kubeconfig + --context": ({"KUBECONFIG": "/nonexistent"}, ["--kubeconfig", merged, "--context", "good"]),
    }
    for index, (way, (env, flags)) in enumerate(ways.items()):
        proc = OperatorProcess(cluster, [namespace], tmp_path, extra_args=[*flags, "--no-leader-election"],
                               env=env, wandb=wandb, name=f"way-{index}")
        proc.start()
        try:
            name = f"auto-{index}"  # a new object: only this operator can make it Ready
            cluster.apply([automation(name, namespace=namespace, action={"noOp": {}})])
            cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", f"automation/{name}", "-n", namespace)
        finally:
            proc.stop()
        assert "Traceback" not in proc.logs(), (way, proc.logs()[-3000:])
        full_env: dict[str, Any] = {**cluster.env(), **env}
        history = _wbauto("history", "--cluster", *flags, "-n", namespace, env=full_env)
        assert history.returncode == 0 and "Traceback" not in history.stderr, (way, history.stderr)
        test = _wbauto("test-webhook", "missing-hook", "--cluster", *flags, "-n", namespace, env=full_env)
        assert "Traceback" not in test.stderr, (way, test.stderr)
        assert "missing-hook" in test.stdout + test.stderr, (way, test.stdout, test.stderr)
