"""The Helm chart: lint, schema, and every rendering accepted by the real apiserver (server dry run)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "wbauto"


def helm(cluster: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["helm", *args], capture_output=True, text=True, env=cluster.env())
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


def render(cluster: ControlPlane, *sets: str, namespace: str = "wbauto") -> list[dict[str, Any]]:
    args = ["template", "wbauto", str(CHART), "-n", namespace, "--kube-version", "1.36.5"]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(cluster, *args).stdout) if d]


def test_helm_lint(cluster: ControlPlane) -> None:
    out = helm(cluster, "lint", str(CHART), "--strict", "--kube-version", "1.36.5")
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("sets", [
    pytest.param((), id="cluster-wide"),
    pytest.param(("watchNamespaces={team-a,team-b}",), id="namespaced"),
    pytest.param(("replicaCount=2", "podDisruptionBudget.enabled=true", "networkPolicy.enabled=true",
                  "operator.receiver.enabled=true", "operator.receiver.secretRef=team-a/inbound",
                  "workloadIdentity.aws.roleArn=arn:aws:iam::1:role/x",
                  "workloadIdentity.gcp.serviceAccount=wbauto@p.iam.gserviceaccount.com",
                  "workloadIdentity.azure.clientId=00000000-0000-0000-0000-000000000000"), id="everything"),
])
def test_rendered_chart_is_accepted_by_the_apiserver(cluster: ControlPlane, sets: tuple[str, ...]) -> None:
    for ns in ("wbauto", "team-a", "team-b"):
        cluster.kubectl("create", "namespace", ns, check=False)
    docs = render(cluster, *sets)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount"} <= kinds
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False)
    assert result.returncode == 0, result.stderr


def test_values_schema_rejects_typos_and_bad_values(cluster: ControlPlane) -> None:
    for bad in ("operator.logLevel=loud", "replicaCount=0", "operator.pollIntervall=30s",
                "leaderElection.leaseDuration=fifteen"):
        args = ["template", "wbauto", str(CHART), "--kube-version", "1.36.5", "--set", bad]
        result = helm(cluster, *args, check=False)
        assert result.returncode != 0, bad
        assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


def test_namespaced_mode_uses_roles_not_cluster_roles_for_the_operator(cluster: ControlPlane) -> None:
    docs = render(cluster, "watchNamespaces={team-a,team-b}")
    roles = [d for d in docs if d["kind"] == "Role"]
    assert {r["metadata"]["namespace"] for r in roles} == {"team-a", "team-b", "wbauto"}
    operator_cluster_roles = [d for d in docs if d["kind"] == "ClusterRole"
                              and not d["metadata"]["name"].startswith("wbauto-")]
    assert operator_cluster_roles == []
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WBAUTO_NAMESPACES"] == "team-a,team-b"


def test_chart_crds_are_the_generated_ones() -> None:
    for path in (REPO / "crds").glob("*.yaml"):
        assert (CHART / "crds" / path.name).read_text() == path.read_text()
