"""The operator image (Containerfile, built by tools/image.sh) running as the chart deploys it.

In-cluster: the chart is installed with ``helm install``; its Deployment's Pod template (command, args,
env, securityContext, /tmp emptyDir, memory limit) is run with podman as the kubelet would run it,
authenticated as the chart's ServiceAccount through a TokenRequest token mounted where the kubelet
mounts it. Standalone: the same image on a mounted manifest folder. Read-only root filesystem in both.
"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_incluster import SECRET, base_objects, first_poll, terminal
from tests.integration.test_chart import helm as helm_unchecked
from tests.integration.test_chart import render
from tests.integration.test_helm_install import CHART, helm
from tests.support.controlplane import REPO, ControlPlane, free_port, wait_until
from tests.support.image import Container, PodContainer, built, podman, split_image
from tests.support.manifests import automation, obj, webhook
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

PROJECT = {"project": {"entity": "acme", "project": "fraud"}}


def denied_requests(cluster: ControlPlane) -> int:
    """Requests the apiserver's authorizers refused (RBAC found no rule: "no-opinion", or "denied")."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    found = re.findall(r'^authorization_attempts_total\{result="(?:denied|no-opinion)"\} (\S+)$', text, re.M)
    return int(sum(float(v) for v in found))


def install(cluster: ControlPlane, team: str, emulator: Emulator, *extra: str,
            strings: tuple[str, ...] = ()) -> dict[str, Any]:
    """``helm install`` of the chart, watching ``team``, naming the image just built; its Deployment.
    ``extra`` are more ``--set`` values, ``strings`` ``--set-string`` ones."""
    release_ns = f"{team[:56].rstrip('-')}-op"
    cluster.kubectl("create", "namespace", release_ns)
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wandb-api-key",
                   "namespace": release_ns}, "stringData": {"api-key": API_KEY}})
    repository, tag = split_image(built().ref)
    sets = [f"watchNamespaces={{{team}}}", f"image.repository={repository}", f"image.tag={tag}",
            "image.pullPolicy=Never", f"operator.wandb.baseUrl={emulator.url}",
            "operator.wandb.apiKeySecret.name=wandb-api-key", "operator.pollInterval=300ms",
            "operator.allowPrivateTargets=true", "operator.logLevel=debug",
            # host networking: ports of their own, so parallel runs on one machine do not collide
            f"metrics.port={free_port()}", f"health.port={free_port()}",
            # the people ClusterRoles have fixed names; another release of this test run owns them
            "rbac.aggregateRoles=false", *extra]
    helm(cluster, "install", "wbauto", str(CHART), "-n", release_ns, "--wait=false",
         *[arg for s in sets for arg in ("--set", s)], *[arg for s in strings for arg in ("--set-string", s)])
    deployment: dict[str, Any] = cluster.get_json("deployment", "wbauto", "-n", release_ns)
    return deployment


def alias_event_is_delivered_once(cluster: ControlPlane, namespace: str, emulator: Emulator, receiver: Receiver,
                                  release_ns: str, pod_name: str) -> None:
    """Webhook + Automation in the team namespace, Ready through ``kubectl wait``; an alias event in W&B;
    one signed delivery, the execution Finished, the Automation's lastExecution, the Lease held by the Pod."""
    cluster.apply([*base_objects(namespace, receiver),
                   automation("deploy", namespace=namespace, scope=PROJECT,
                              event={"artifactAliasAdded": {"aliasRegex": "^production$"}})])
    for kind, name in (("secretreference", "signing"), ("webhook", "hook"), ("automation", "deploy")):
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", f"{kind}/{name}", "-n", namespace)
    first_poll(emulator)
    emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "production", author="alice")
    item = terminal(cluster, namespace, 1)[0]
    assert item["status"]["phase"] == "Finished" and item["status"]["responseCode"] == 200
    request = receiver.wait_for(1)[0]
    assert request.signature_ok is True
    assert request.headers["X-Wbauto-Delivery"] == item["spec"]["deliveryId"]
    assert request.json()["event_type"] == "ADD_ARTIFACT_ALIAS"
    wait_until(lambda: (cluster.get_json("automation", "deploy", "-n", namespace)["status"]
                        .get("lastExecution") or {}).get("status") == "Finished", 30, "lastExecution")
    lease = cluster.get_json("lease", "wbauto-leader", "-n", release_ns)
    assert lease["spec"]["holderIdentity"].startswith(pod_name)  # POD_NAME, from the chart's fieldRef
    assert len(receiver.requests) == 1, "one event, one delivery"


def assert_no_denials(cluster: ControlPlane, denied_before: int, logs: str, *secrets: str) -> None:
    assert denied_requests(cluster) - denied_before == 0, "the chart's RBAC refused some of the operator's requests"
    # every 403 from the apiserver says "... is forbidden: User ..." (kopf: APIForbiddenError)
    assert not re.search("forbidden", logs, re.IGNORECASE), logs[-3000:]
    for secret in secrets:
        assert secret not in logs


def test_operator_image_runs_as_the_charts_pod(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                               emulator: Emulator) -> None:
    deployment = install(cluster, namespace, emulator)
    release_ns = deployment["metadata"]["namespace"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == built().ref
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    def secret(ns: str, name: str, key: str) -> str:  # what the kubelet reads for a secretKeyRef
        return base64.b64decode(cluster.get_json("secret", name, "-n", ns)["data"][key]).decode()

    token = cluster.kubectl("create", "token", "wbauto", "-n", release_ns, "--duration=1h").stdout.strip()
    receiver = Receiver(secret=SECRET).start()
    denied_before = denied_requests(cluster)
    pod = PodContainer(tmp_path, deployment, pod_name="wbauto-7d9c8-x2v4q", token=token,
                       ca=cluster.workdir / "pki" / "ca.crt", server=cluster.server, secret=secret).start()
    try:
        pod.wait_ready(90)
        alias_event_is_delivered_once(cluster, namespace, emulator, receiver, release_ns, "wbauto-7d9c8-x2v4q")
        assert pod.probe("livenessProbe")
    finally:
        code = pod.stop()
        receiver.stop()
    logs = pod.logs()
    assert code == 0, f"the container did not stop cleanly on SIGTERM (exit {code}):\n{logs[-3000:]}"
    assert_no_denials(cluster, denied_before, logs, SECRET, API_KEY, token)


def test_standalone_runtime_from_the_image(tmp_path: Path, emulator: Emulator) -> None:
    """``wbauto run --manifests`` in the image: read-only root, the manifests and a state volume mounted."""
    manifests, state = tmp_path / "manifests", tmp_path / "state"
    manifests.mkdir()
    state.mkdir()
    receiver = Receiver(secret=SECRET).start()
    docs = [obj("SecretReference", "signing", {"env": {"name": "DEPLOY_HOOK_SIGNING"}}),
            webhook(url=receiver.url(), secretRef={"name": "signing"}),
            automation("deploy", scope=PROJECT, event={"artifactAliasAdded": {"aliasRegex": "^production$"}})]
    (manifests / "automations.yaml").write_text(yaml.safe_dump_all(docs))
    health = free_port()
    mounts = ["--network", "host", "--pull", "never", "--read-only", "--read-only-tmpfs=false",
              "--cap-drop", "all", "--security-opt", "no-new-privileges",
              "--mount", "type=tmpfs,destination=/tmp,tmpfs-mode=1777",
              "-v", f"{manifests}:/manifests:ro", "-v", f"{state}:/var/lib/wbauto:U"]
    run = Container(tmp_path, "standalone", [
        *mounts, "-e", "WANDB_API_KEY", "-e", "DEPLOY_HOOK_SIGNING", built().ref,
        "run", "--manifests", "/manifests", "--state", "/var/lib/wbauto/state.sqlite",
        "--wandb-base-url", emulator.url, "--poll-interval", "300ms", "--allow-cidr", "127.0.0.1/32",
        "--metrics-address", "", "--health-address", f"127.0.0.1:{health}"],
        env={"WANDB_API_KEY": API_KEY, "DEPLOY_HOOK_SIGNING": SECRET}, grace=30).start()
    try:
        first_poll(emulator)
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "production", author="alice")
        request = receiver.wait_for(1, timeout=60)[0]
        assert request.signature_ok is True and request.json()["event_type"] == "ADD_ARTIFACT_ALIAS"
        assert run.alive()
    finally:
        code = run.stop()
        receiver.stop()
    assert code == 0, run.logs()[-3000:]
    history = podman("run", "--rm", "--network", "none", "--read-only", "-v", f"{state}:/var/lib/wbauto", built().ref,
                     "history", "--state", "/var/lib/wbauto/state.sqlite", "-o", "json").stdout
    rows = json.loads(history)
    assert [(r["spec"]["automation"]["name"], r["status"]["phase"]) for r in rows] == [("deploy", "Finished")], rows
    assert rows[0]["spec"]["deliveryId"] == receiver.requests[0].headers["X-Wbauto-Delivery"]
    assert len(receiver.requests) == 1
    assert SECRET not in run.logs() and API_KEY not in run.logs()


def test_image_is_non_root_read_only_and_labelled() -> None:
    inspect = json.loads(podman("image", "inspect", built().ref).stdout)[0]
    config = inspect["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["wbauto"] and config["Cmd"] == ["run"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.revision"]
    listing = podman("run", "--rm", "--read-only", "--entrypoint", "sh", built().ref, "-c",
                     "command -v gcc cc pip || true; ls /root/.cache /home/wbauto/.cache 2>/dev/null || true; "
                     "/opt/wbauto/bin/python -c 'import wbauto, boto3, hvac, azure.identity, "
                     "google.cloud.secretmanager, sys; print(sys.version_info[:2])'").stdout
    assert listing.strip() == "(3, 11)", listing


def test_chart_names_the_image_by_app_version_or_digest(cluster: ControlPlane) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    repository = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"]

    def image(*sets: str) -> str:
        deployment = next(d for d in render(cluster, *sets) if d["kind"] == "Deployment")
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    digest = "sha256:" + "0123456789abcdef" * 4
    assert image() == f"{repository}:{app_version}"
    assert image("image.tag=1.2.3") == f"{repository}:1.2.3"
    assert image(f"image.digest={digest}", "image.tag=1.2.3") == f"{repository}@{digest}"
    refused = helm_unchecked(cluster, "template", "wbauto", str(CHART), "--kube-version", "1.36.5",
                             "--set", "image.digest=latest", check=False)
    assert refused.returncode != 0 and "image/digest" in refused.stderr, refused.stderr
