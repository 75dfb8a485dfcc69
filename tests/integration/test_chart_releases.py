"""The chart as platform teams use it: two releases side by side, as a dependency of an umbrella chart,
`helm template` offline (no --kube-version), and the values ESO's chart offers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane
from tests.support.manifests import automation, secret_reference, webhook

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "wbauto"


def helm(cluster: ControlPlane, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["helm", *args], capture_output=True, text=True, env=cluster.env())
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}{result.stdout}"
    return result


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_helm_template_works_offline_without_kube_version(cluster: ControlPlane) -> None:
    offline = helm(cluster, "template", "wbauto", str(CHART))
    assert {"Deployment", "ClusterRole"} <= {d["kind"] for d in docs_of(offline.stdout)}
    lint = helm(cluster, "lint", str(CHART), "--strict")
    assert "0 chart(s) failed" in lint.stdout
    # a version that is known (not Helm's offline default) is still checked
    old = helm(cluster, "template", "wbauto", str(CHART), "--kube-version", "1.29.0", check=False)
    assert old.returncode != 0 and "needs Kubernetes 1.30 or newer" in old.stderr, old.stderr
    helm(cluster, "template", "wbauto", str(CHART), "--kube-version", "1.30.0")


def test_two_releases_install_side_by_side(cluster: ControlPlane) -> None:
    """A cluster-wide release and a namespaced one, in different namespaces, each with its people roles."""
    cluster.kubectl("create", "namespace", "team-two", check=False)
    helm(cluster, "install", "wbauto-one", str(CHART), "-n", "wbauto-one", "--create-namespace", "--wait=false")
    helm(cluster, "install", "wbauto-two", str(CHART), "-n", "wbauto-two", "--create-namespace",
         "--set", "watchNamespaces={team-two}", "--wait=false")
    try:
        for release in ("wbauto-one", "wbauto-two"):
            status = helm(cluster, "status", release, "-n", release, "-o", "json")
            assert yaml.safe_load(status.stdout)["info"]["status"] == "deployed"
            for role, aggregate in (("admin", "admin"), ("editor", "edit"), ("viewer", "view")):
                cr = cluster.get_json("clusterrole", f"{release}-{role}")
                labels = cr["metadata"]["labels"]
                assert labels[f"rbac.authorization.k8s.io/aggregate-to-{aggregate}"] == "true"
                assert labels["app.kubernetes.io/instance"] == release
        # the built-in view role aggregates the viewers of both releases (the controller is not running
        # here, so check the selection the aggregation controller would make)
        viewers = cluster.get_json("clusterroles", "-l", "rbac.authorization.k8s.io/aggregate-to-view=true")
        names = {i["metadata"]["name"] for i in viewers["items"]}
        assert {"wbauto-one-viewer", "wbauto-two-viewer"} <= names
        assert cluster.get_json("clusterrolebinding", "wbauto-one")["subjects"][0]["namespace"] == "wbauto-one"
        assert cluster.get_json("rolebinding", "wbauto-two", "-n", "team-two")["subjects"][0]["namespace"] \
            == "wbauto-two"
    finally:
        for release in ("wbauto-one", "wbauto-two"):
            helm(cluster, "uninstall", release, "-n", release, "--wait=false", check=False)


def test_umbrella_chart_with_global_values_installs(cluster: ControlPlane, tmp_path: Path) -> None:
    umbrella = tmp_path / "platform"
    (umbrella / "templates").mkdir(parents=True)
    (umbrella / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "platform", "version": "1.0.0",
        "dependencies": [{"name": "wbauto", "version": "0.1.0", "repository": f"file://{CHART}"}]}))
    (umbrella / "values.yaml").write_text(yaml.safe_dump({
        "global": {"imageRegistry": "registry.example", "labels": {"team": "platform"}},
        "wbauto": {"watchNamespaces": ["team-umbrella"], "commonLabels": {"platform": "yes"}}}))
    helm(cluster, "dependency", "update", str(umbrella))
    rendered = docs_of(helm(cluster, "template", "platform", str(umbrella), "-n", "platform").stdout)
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "platform-wbauto"
    assert deployment["metadata"]["labels"]["platform"] == "yes"
    cluster.kubectl("create", "namespace", "team-umbrella", check=False)
    helm(cluster, "install", "platform", str(umbrella), "-n", "platform", "--create-namespace", "--wait=false")
    try:
        assert cluster.get_json("role", "platform-wbauto", "-n", "team-umbrella")["rules"]
        assert cluster.get_json("clusterrole", "platform-wbauto-viewer")["metadata"]["labels"]["platform"] == "yes"
    finally:
        helm(cluster, "uninstall", "platform", "-n", "platform", "--wait=false", check=False)


def test_eso_style_values_render_and_are_accepted(cluster: ControlPlane, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({
        "image": {"digest": "sha256:" + "a" * 64},
        "revisionHistoryLimit": 3,
        "commonLabels": {"cost-centre": "ml"},
        "extraArgs": ["--manifests-ignored-by-test"],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/corp-ca", "readOnly": True}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway"}],
        "networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.0.0.1/32"]},
    }))
    cluster.kubectl("create", "namespace", "wbauto-eso", check=False)
    docs = docs_of(helm(cluster, "template", "wbauto", str(CHART), "-n", "wbauto-eso", "-f", str(values)).stdout)
    assert all(d["metadata"]["labels"]["cost-centre"] == "ml" for d in docs)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["revisionHistoryLimit"] == 3
    assert container["image"] == "ghcr.io/wbauto/wbauto@sha256:" + "a" * 64
    assert container["args"] == ["run", "--manifests-ignored-by-test"]
    assert {"name": "ca", "mountPath": "/etc/corp-ca", "readOnly": True} in container["volumeMounts"]
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    spread = pod["topologySpreadConstraints"][0]
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    api_rule = policy["spec"]["egress"][-1]
    assert {p["port"] for p in api_rule["ports"]} == {443, 6443}
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False)
    assert result.returncode == 0, result.stderr
    bad = helm(cluster, "template", "wbauto", str(CHART), "--set", "image.digest=latest", check=False)
    assert bad.returncode != 0 and "/image/digest" in bad.stderr, bad.stderr


def test_role_in_a_namespace_that_does_not_exist_fails_the_install_with_its_name(cluster: ControlPlane) -> None:
    """What the README says: watchNamespaces must exist before `helm install` (Helm creates only the
    release namespace)."""
    result = helm(cluster, "install", "wbauto-missing", str(CHART), "-n", "wbauto-missing", "--create-namespace",
                  "--set", "watchNamespaces={no-such-team}", "--set", "rbac.aggregateRoles=false", "--wait=false",
                  check=False)
    try:
        assert result.returncode != 0
        assert 'namespaces "no-such-team" not found' in result.stderr, result.stderr
    finally:
        helm(cluster, "uninstall", "wbauto-missing", "-n", "wbauto-missing", "--wait=false", check=False)


def test_kubectl_get_wbauto_lists_every_kind_and_short_names_are_distinct(cluster: ControlPlane,
                                                                         namespace: str) -> None:
    """What the docs say: `kubectl get wbauto` is the category (every kind); each kind has its own short name."""
    cluster.install_crds(REPO / "crds")
    cluster.apply([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sig", "namespace": namespace},
         "stringData": {"key": "value"}},
        secret_reference("sig", namespace=namespace, kubernetes={"name": "sig", "key": "key"}),
        webhook(namespace=namespace), automation(namespace=namespace, action={"noOp": {}})])
    listed = cluster.kubectl("get", "wbauto", "-n", namespace, "-o", "name").stdout.split()
    kinds_listed = {line.split("/")[0] for line in listed}
    assert {"secretreference.automations.wandb.ai", "webhook.automations.wandb.ai",
            "automation.automations.wandb.ai"} <= kinds_listed, listed
    for short, kind in (("wbsr", "secretreference"), ("wbwh", "webhook"), ("wba", "automation"),
                        ("wbx", "automationexecution")):
        out = cluster.kubectl("get", short, "-n", namespace, "-o", "name").stdout.split()
        assert all(line.startswith(f"{kind}.automations.wandb.ai/") for line in out), (short, out)
    crds = [cluster.get_json("crd", f"{plural}.automations.wandb.ai")["spec"]["names"]
            for plural in ("secretreferences", "webhooks", "automations", "automationexecutions")]
    shorts = [s for names in crds for s in names.get("shortNames", [])]
    assert len(shorts) == len(set(shorts)) and "wbauto" not in shorts
    assert all(names["categories"] == ["wbauto"] for names in crds)
