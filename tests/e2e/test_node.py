"""The chart's Deployment on a real node: kube-controller-manager makes the ReplicaSet and the Pod,
kube-scheduler binds it, a kubelet runs it from the operator image in containerd (read-only root, the
/tmp emptyDir, the projected service-account token, real readiness probes, SIGTERM on scale-down).

Two things are added to the chart's Pod template, both because of this test control plane and not of
the chart: ``hostNetwork`` (Pods get no network here; everything listens on loopback) and the
``kube-api-access`` projected volume that the ServiceAccount admission plugin (disabled on the test
apiserver) would have added. Everything else — command, args, env, securityContext, probes, RBAC — is
the chart's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_image import alias_event_is_delivered_once, assert_no_denials, denied_requests, install
from tests.e2e.test_incluster import SECRET
from tests.support.controlplane import ControlPlane
from tests.support.image import built
from tests.support.node import TOLERATION, Node, pod_of, wait_pods_gone
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SELECTOR = "app.kubernetes.io/name=wbauto"

# what the ServiceAccount admission plugin adds to every Pod that automounts its token
KUBE_API_ACCESS = {"name": "kube-api-access", "projected": {"defaultMode": 0o644, "sources": [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


def test_charts_deployment_runs_on_a_real_node(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                               emulator: Emulator) -> None:
    port = cluster.server.rsplit(":", 1)[1]
    deployment = install(
        cluster, namespace, emulator,
        f"tolerations[0].key={TOLERATION['key']}", f"tolerations[0].operator={TOLERATION['operator']}",
        f"tolerations[0].value={TOLERATION['value']}", f"tolerations[0].effect={TOLERATION['effect']}",
        # the kubelet's KUBERNETES_SERVICE_HOST is the Service's ClusterIP; no kube-proxy here
        "extraEnv[0].name=KUBERNETES_SERVICE_HOST", "extraEnv[0].value=127.0.0.1",
        "extraEnv[1].name=KUBERNETES_SERVICE_PORT", strings=(f"extraEnv[1].value={port}",))
    release_ns = deployment["metadata"]["namespace"]
    patch = [{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True},
             {"op": "add", "path": "/spec/template/spec/volumes/-", "value": KUBE_API_ACCESS},
             {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
              "value": {"name": "kube-api-access", "mountPath": SA_DIR, "readOnly": True}}]
    cluster.kubectl("patch", "deployment", "wbauto", "-n", release_ns, "--type=json", "-p", json.dumps(patch))
    receiver = Receiver(secret=SECRET).start()
    node = Node(cluster, tmp_path)
    denied_before = denied_requests(cluster)
    logs = ""
    try:
        node.start()
        cluster.kubectl("wait", "--for=condition=Available", "--timeout=120s", "deployment/wbauto", "-n", release_ns,
                        timeout=150)
        pod = pod_of(cluster, release_ns, SELECTOR)
        name = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == node.name
        status = pod["status"]["containerStatuses"][0]
        assert status["ready"] is True and status["imageID"], status
        assert status["image"].endswith(built().ref.split("/", 1)[1])
        alias_event_is_delivered_once(cluster, namespace, emulator, receiver, release_ns, name)
        logs = node.container_logs(release_ns, name, "operator")  # the kubelet removes them with the Pod
        # scale to zero: the kubelet stops the container (SIGTERM) within the grace period, the Pod goes
        cluster.kubectl("scale", "deployment/wbauto", "-n", release_ns, "--replicas=0")
        wait_pods_gone(cluster, release_ns, SELECTOR, 45)
    finally:
        node.stop()
        receiver.stop()
    assert "wbauto operator started" in logs, logs[-3000:]
    assert_no_denials(cluster, denied_before, logs, SECRET, API_KEY)
