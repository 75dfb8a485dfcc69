"""The Kopf operator against the real apiserver: conditions, transient vs terminal, Kopf bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import ControlPlane, wait_until
from tests.support.manifests import automation, secret_reference, webhook
from tests.support.operator import OperatorProcess
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster


def conditions(cluster: ControlPlane, kind: str, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    obj = cluster.get_json(kind, name, "-n", namespace)
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def wait_condition(cluster: ControlPlane, kind: str, namespace: str, name: str, type_: str, status: str,
                   reason: str | None = None, timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = conditions(cluster, kind, namespace, name).get(type_)
        if c and c["status"] == status and (reason is None or c["reason"] == reason):
            return c
        return None

    result: dict[str, Any] = wait_until(check, timeout, f"{kind}/{name} {type_}={status} {reason or ''}")
    return result


def kube_secret(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": data}


def test_missing_references_are_transient_and_heal(cluster: ControlPlane, namespace: str,
                                                   operator: OperatorProcess) -> None:
    ns = namespace
    cluster.apply([automation(namespace=ns), webhook(namespace=ns, secretRef={"name": "sig"})])

    c = wait_condition(cluster, "webhook", ns, "hook", "Ready", "False", "SecretReferenceNotFound")
    assert "spec.secretRef" in c["message"] and f"{ns}/sig" in c["message"]
    assert conditions(cluster, "webhook", ns, "hook")["Reconciling"]["status"] == "True"
    assert "Stalled" not in conditions(cluster, "webhook", ns, "hook")
    wait_condition(cluster, "automation", ns, "auto", "Ready", "False", "WebhookNotReady")

    # the SecretReference appears, but its Secret is still missing: it is not Ready, and says why
    cluster.apply(secret_reference(namespace=ns, kubernetes={"name": "sig", "key": "key"}))
    c = wait_condition(cluster, "secretreference", ns, "sig", "Ready", "False", "SecretNotFound")
    assert f"Secret {ns}/sig" in c["message"]
    wait_condition(cluster, "webhook", ns, "hook", "Ready", "False", "SecretReferenceNotReady")

    cluster.apply(kube_secret(ns, "sig", key="s3cr3t-value-never-shown"))
    for kind, name in (("secretreference", "sig"), ("webhook", "hook"), ("automation", "auto")):
        cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", f"{kind}/{name}", "-n", ns)

    auto = cluster.get_json("automation", "auto", "-n", ns)
    assert auto["status"]["eventType"] == "ADD_ARTIFACT_ALIAS"
    assert auto["status"]["actionType"] == "GENERIC_WEBHOOK"
    assert auto["status"]["observedGeneration"] == auto["metadata"]["generation"]
    assert "Reconciling" not in conditions(cluster, "automation", ns, "auto")
    sref = cluster.get_json("secretreference", "sig", "-n", ns)
    assert sref["status"]["backend"] == "kubernetes" and sref["status"]["resolvedVersion"]
    assert "s3cr3t-value-never-shown" not in json.dumps(sref) + operator.logs()


def test_invalid_spec_is_terminal_until_fixed(cluster: ControlPlane, namespace: str,
                                              operator: OperatorProcess) -> None:
    ns = namespace
    # what the apiserver can check it refuses (a regex RE2 cannot compile); what only the operator can
    # check (the payload rendered for a sample event) is a terminal condition until the manifest is fixed
    refused = cluster.kubectl("apply", "-f", "-", check=False, input=json.dumps(automation(
        namespace=ns, event={"artifactAliasAdded": {"aliasRegex": "(prod"}}, action={"noOp": {}})))
    assert refused.returncode != 0 and "spec.event.artifactAliasAdded.aliasRegex" in refused.stderr
    bad = automation(namespace=ns, action={"webhook": {"webhookRef": {"name": "hook"}, "payload": '{"a": ${alias}}'}})
    cluster.apply([webhook(namespace=ns), bad])
    c = wait_condition(cluster, "automation", ns, "auto", "Stalled", "True", "InvalidSpec")
    assert "spec.action.webhook.payload" in c["message"]
    ready = conditions(cluster, "automation", ns, "auto")["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert ready["observedGeneration"] == cluster.get_json("automation", "auto", "-n", ns)["metadata"]["generation"]

    cluster.apply(automation(namespace=ns, event={"artifactAliasAdded": {"aliasRegex": "^prod"}},
                             action={"noOp": {}}))
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/auto", "-n", ns)
    assert "Stalled" not in conditions(cluster, "automation", ns, "auto")

    events = cluster.get_json("events.v1.events.k8s.io", "-n", ns)["items"]
    warnings = [e for e in events if e["type"] == "Warning" and e["reason"] == "InvalidSpec"]
    assert warnings and warnings[0]["regarding"]["name"] == "auto"


def test_payload_that_cannot_render_to_json_stalls_before_any_event(cluster: ControlPlane, namespace: str,
                                                                      operator: OperatorProcess) -> None:
    cluster.apply([webhook(namespace=namespace),
                   automation(namespace=namespace, action={"webhook": {"webhookRef": {"name": "hook"},
                                                                       "payload": '{"alias": ${alias}}'}})])
    c = wait_condition(cluster, "automation", namespace, "auto", "Stalled", "True", "InvalidSpec")
    assert "spec.action.webhook.payload" in c["message"] and "inside quotes" in c["message"]


def test_disabled_automation_is_ready_and_says_so(cluster: ControlPlane, namespace: str,
                                                  operator: OperatorProcess) -> None:
    cluster.apply(automation(namespace=namespace, enabled=False, action={"noOp": {}}))
    c = wait_condition(cluster, "automation", namespace, "auto", "Ready", "True", "Disabled")
    assert "spec.enabled" in c["message"]


def test_kopf_bookkeeping_stays_out_of_status(cluster: ControlPlane, namespace: str,
                                              operator: OperatorProcess) -> None:
    cluster.apply(automation(namespace=namespace, action={"noOp": {}}))
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/auto", "-n", namespace)
    obj = cluster.get_json("automation", "auto", "-n", namespace)
    assert set(obj["status"]) <= {"conditions", "observedGeneration", "eventType", "actionType", "target",
                                  "lastExecution"}
    annotations = obj["metadata"].get("annotations") or {}
    assert not [a for a in annotations if a.startswith("kopf.zalando.org")]
    assert not obj["metadata"].get("finalizers")


def test_private_webhook_target_is_refused_by_default(cluster: ControlPlane, namespace: str,
                                                      tmp_path: Path, wandb: Emulator) -> None:
    proc = OperatorProcess(cluster, [namespace], tmp_path, allow_private=False, wandb=wandb)
    proc.start()
    try:
        cluster.apply([webhook("ip", url="https://10.1.2.3/hook", namespace=namespace),
                       webhook("local", url="http://localhost:9000/hook", namespace=namespace),
                       webhook("public", url="https://hooks.example.com/x", namespace=namespace)])
        c = wait_condition(cluster, "webhook", namespace, "ip", "Ready", "False", "EgressDenied")
        assert "IP address" in c["message"] and "spec.url" in c["message"]
        assert conditions(cluster, "webhook", namespace, "ip")["Stalled"]["status"] == "True"
        c = wait_condition(cluster, "webhook", namespace, "local", "Ready", "False", "EgressDenied")
        assert "localhost" in c["message"]
        wait_condition(cluster, "webhook", namespace, "public", "Ready", "True")
    finally:
        proc.stop()


def test_printer_columns(cluster: ControlPlane, namespace: str, operator: OperatorProcess) -> None:
    cluster.apply(automation(namespace=namespace, action={"noOp": {}}))
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "automation/auto", "-n", namespace)
    out = cluster.kubectl("get", "automations", "-n", namespace).stdout
    header, row = out.splitlines()[:2]
    for column in ("EVENT", "ACTION", "TARGET", "READY", "LAST RESULT", "AGE"):
        assert column in header
    assert "ADD_ARTIFACT_ALIAS" in row and "NO_OP" in row and "True" in row
