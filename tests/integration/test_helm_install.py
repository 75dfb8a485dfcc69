"""`helm install` into the real apiserver; the operator running as the chart's ServiceAccount (least
privilege, through a TokenRequest token); the people roles tested with impersonation; a render snapshot."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane
from tests.support.manifests import automation, secret_reference, webhook
from tests.support.operator import OperatorProcess
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "wbauto"
SNAPSHOT = REPO / "tests" / "snapshots" / "chart-default.yaml"


def helm(cluster: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["helm", *args], capture_output=True, text=True, env=cluster.env())
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}{result.stdout}"
    return result


@pytest.fixture(scope="module")
def installed(cluster: ControlPlane) -> dict[str, str]:
    """The chart installed once for this module, watching one team namespace."""
    team = "team-helm"
    cluster.kubectl("create", "namespace", team, check=False)
    helm(cluster, "install", "wbauto", str(CHART), "-n", "wbauto-helm", "--create-namespace",
         "--set", f"watchNamespaces={{{team}}}", "--set", "replicaCount=2",
         "--set", "podDisruptionBudget.enabled=true", "--wait=false")
    return {"release": "wbauto", "namespace": "wbauto-helm", "team": team}


def test_deployment_object_is_as_expected(cluster: ControlPlane, installed: dict[str, str]) -> None:
    deployment = cluster.get_json("deployment", "wbauto", "-n", installed["namespace"])
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "wbauto"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["command"] == ["wbauto"] and container["args"] == ["run"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]["memory"] == "128Mi"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WBAUTO_NAMESPACES"] == installed["team"]
    assert env["WBAUTO_LEADER_ELECTION"] == "true"
    assert env["WBAUTO_LEASE_NAMESPACE"] == installed["namespace"]
    pdb = cluster.get_json("pdb", "wbauto", "-n", installed["namespace"])
    assert pdb["spec"]["minAvailable"] == 1
    out = cluster.kubectl("get", "deployment,serviceaccount,role,rolebinding", "-n", installed["namespace"]).stdout
    assert "wbauto-self" in out


def test_operator_runs_with_only_the_charts_rbac(cluster: ControlPlane, installed: dict[str, str],
                                                 tmp_path: Path, wandb: Emulator) -> None:
    """The operator, authenticated as the chart's ServiceAccount, reconciles the team namespace."""
    token = cluster.kubectl("create", "token", "wbauto", "-n", installed["namespace"], "--duration=1h").stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "sa", "user": {"token": token}}]
    config["contexts"] = [{"name": "sa", "context": {"cluster": "wbauto", "user": "sa"}}]
    config["current-context"] = "sa"
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    team = installed["team"]
    cluster.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sig", "namespace": team},
                    "stringData": {"key": "value"}},
                   secret_reference("sig", namespace=team, kubernetes={"name": "sig", "key": "key"}),
                   webhook(namespace=team, secretRef={"name": "sig"}),
                   automation(namespace=team)])
    proc = OperatorProcess(cluster, [team], tmp_path, allow_private=False, wandb=wandb,
                           env={"KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": installed["namespace"]})
    proc.start()
    try:
        for kind, name in (("secretreference", "sig"), ("webhook", "hook"), ("automation", "auto")):
            cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", f"{kind}/{name}", "-n", team)
        lease = cluster.get_json("lease", "wbauto-leader", "-n", installed["namespace"])
        assert lease["spec"]["holderIdentity"]
        # a denial reads "<VERB> <path>: 403 ..." (KubeError) or "Forbidden"; "403" alone may be a resourceVersion
        assert not re.search(r": 403 |Forbidden", proc.logs()), proc.logs()
    finally:
        proc.stop()
    can_i = cluster.kubectl("auth", "can-i", "list", "secrets", "-n", team,
                            f"--as=system:serviceaccount:{installed['namespace']}:wbauto", check=False)
    assert can_i.stdout.strip() == "no", "the operator may read a named Secret, never list them"
    other = cluster.kubectl("auth", "can-i", "get", "automations", "-n", "default",
                            f"--as=system:serviceaccount:{installed['namespace']}:wbauto", check=False)
    assert other.stdout.strip() == "no", "namespaced mode: nothing outside the watched namespaces"


@pytest.mark.parametrize(("user", "role", "allowed", "denied"), [
    ("alice", "wbauto-admin",
     [("create", "secretreferences"), ("delete", "webhooks"), ("create", "automations"),
      ("delete", "automationexecutions")],
     [("create", "automationexecutions"), ("get", "secrets")]),
    ("bob", "wbauto-editor",
     [("create", "automations"), ("get", "webhooks"), ("list", "automationexecutions")],
     [("create", "webhooks"), ("get", "secretreferences"), ("create", "secretreferences"),
      ("delete", "automationexecutions")]),
    ("carol", "wbauto-viewer",
     [("list", "automations"), ("get", "automationexecutions")],
     [("create", "automations"), ("get", "webhooks"), ("get", "secretreferences")]),
])
def test_people_roles_mirror_wandb_permissions(cluster: ControlPlane, installed: dict[str, str], user: str,
                                               role: str, allowed: list[tuple[str, str]],
                                               denied: list[tuple[str, str]]) -> None:
    team = installed["team"]
    cluster.kubectl("create", "rolebinding", f"{user}-{role}", f"--clusterrole={role}", f"--user={user}",
                    "-n", team, check=False)
    for verb, resource in allowed:
        result = cluster.kubectl("auth", "can-i", verb, resource, "-n", team, f"--as={user}", check=False)
        assert result.stdout.strip() == "yes", f"{user} ({role}) should {verb} {resource}"
    for verb, resource in denied:
        result = cluster.kubectl("auth", "can-i", verb, resource, "-n", team, f"--as={user}", check=False)
        assert result.stdout.strip() == "no", f"{user} ({role}) must not {verb} {resource}"
    # and for real, through impersonation: the editor's create of an Automation passes, of a Webhook fails
    if user == "bob":
        ok = cluster.kubectl("apply", "-f", "-", f"--as={user}", input=yaml.safe_dump(
            automation("bobs", namespace=team, action={"noOp": {}})), check=False)
        assert ok.returncode == 0, ok.stderr
        refused = cluster.kubectl("apply", "-f", "-", f"--as={user}", input=yaml.safe_dump(
            webhook("bobs", namespace=team)), check=False)
        assert refused.returncode != 0 and "forbidden" in refused.stderr


def test_rendered_chart_matches_the_snapshot(cluster: ControlPlane) -> None:
    rendered = helm(cluster, "template", "wbauto", str(CHART), "-n", "wbauto", "--kube-version", "1.36.5").stdout
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(rendered) if d]
    text = yaml.safe_dump_all(docs, sort_keys=True)
    if os.environ.get("WBAUTO_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), "no snapshot: run with WBAUTO_UPDATE_SNAPSHOTS=1 once and review it"
    assert text == SNAPSHOT.read_text(), "the chart renders differently: review, then WBAUTO_UPDATE_SNAPSHOTS=1"
