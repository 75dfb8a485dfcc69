"""Admission-time validation on the real apiserver, and the same verdict from ``wbauto validate``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane
from tests.support.manifests import DELETE, automation, secret_reference, webhook, with_field

pytestmark = pytest.mark.cluster

THRESHOLD = {"runMetricThreshold": {"metric": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$lt",
                                    "threshold": 0.1}}
RUN_SCOPE = {"project": {"entity": "acme", "project": "proj"}}

# (id, manifest, field the error must name)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-event", automation(event={}), "spec.event"),
    ("two-events", automation(event={"artifactLinked": {}, "artifactAliasAdded": {}}), "spec.event"),
    ("two-actions", automation(action={"noOp": {}, "webhook": {"webhookRef": {"name": "h"}}}), "spec.action"),
    ("no-action", automation(action={}), "spec.action"),
    ("window-zero", automation(event=with_field(THRESHOLD, "runMetricThreshold.window", 0)),
     "spec.event.runMetricThreshold.window"),
    ("zero-change-amount", automation(event={"runMetricChange": {
        "metric": "acc", "changeType": "RELATIVE", "direction": "INCREASE", "amount": 0}}),
     "spec.event.runMetricChange.amount"),
    ("bad-agg-enum", automation(event=with_field(THRESHOLD, "runMetricThreshold.agg", "MEDIAN")),
     "spec.event.runMetricThreshold.agg"),
    ("bad-cmp-enum", automation(event=with_field(THRESHOLD, "runMetricThreshold.cmp", "==")),
     "spec.event.runMetricThreshold.cmp"),
    ("bad-state", automation(event={"runStateChanged": {"states": ["KILLED"]}}),
     "spec.event.runStateChanged.states[0]"),
    ("no-states", automation(event={"runStateChanged": {"states": []}}), "spec.event.runStateChanged.states"),
    ("zscore-threshold-zero", automation(event={"runMetricZScore": {"metric": "loss", "threshold": 0}}),
     "spec.event.runMetricZScore.threshold"),
    ("non-http-url", webhook(url="ftp://files.example.com/hook"), "spec.url"),
    ("url-with-credentials", webhook(url="https://user:pass@hooks.example.com/x"), "spec.url"),
    ("url-with-spaces", webhook(url="https://hooks.example.com/a b"), "spec.url"),
    ("display-name-too-long", automation(displayName="x" * 256), "spec.displayName"),
    ("unknown-field", automation(retries=3), "spec.retries"),
    ("unknown-nested-field", automation(scope={"project": {"entity": "a", "project": "b", "team": "c"}}),
     "spec.scope.project.team"),
    ("missing-webhook-ref", automation(action={"webhook": {"payload": "{}"}}),
     "spec.action.webhook.webhookRef"),
    ("bad-webhook-ref-name", automation(action={"webhook": {"webhookRef": {"name": "Not_A_Name"}}}),
     "spec.action.webhook.webhookRef.name"),
    ("two-scopes", automation(scope={"project": {"entity": "a", "project": "b"}, "entity": {"name": "a"}}),
     "spec.scope"),
    ("entity-with-slash", automation(scope={"project": {"entity": "a/b", "project": "p"}}),
     "spec.scope.project.entity"),
    ("create-artifact-on-project", automation(event={"artifactVersionCreated": {}}),
     "spec.event.artifactVersionCreated"),
    ("run-event-on-registry", automation(scope={"registry": {"organization": "acme", "name": "model"}},
                                         event=THRESHOLD), "spec.scope"),
    ("run-filter-on-artifact-event", automation(runFilter={"nameRegex": "^train"}), "spec.runFilter"),
    ("zero-max-attempts", webhook(retry={"maxAttempts": 0}), "spec.retry.maxAttempts"),
    ("backoff-over-max", webhook(retry={"backoff": "10m", "maxBackoff": "1m"}), "spec.retry"),
    ("bad-duration", webhook(timeout="10 seconds"), "spec.timeout"),
    ("authorization-header", webhook(headers={"Authorization": "Bearer abc"}), "spec.headers"),
    ("bad-success-code", webhook(successCodes=[700]), "spec.successCodes[0]"),
    ("secret-two-backends", secret_reference(kubernetes={"name": "s", "key": "k"}, env={"name": "X"}), "spec"),
    ("secret-no-backend", secret_reference(refreshInterval="5m"), "spec"),
    ("aws-stage-and-id", secret_reference(aws={"secretId": "s", "versionStage": "AWSCURRENT",
                                                "versionId": "v1"}), "spec.aws"),
    ("slack-token-without-channel", automation(action={"slack": {"tokenRef": {"name": "slack-bot"}}}),
     "spec.action.slack.channel"),
    ("launch-job-version-twice", automation(action={"launch": {"queue": "q", "job": "a/b/train:v1",
                                                               "jobVersion": "v2"}}),
     "spec.action.launch.jobVersion"),
    ("kubernetes-job-without-template", automation(action={"kubernetesJob": {"spec": {"backoffLimit": 1}}}),
     "spec.action.kubernetesJob.spec.template"),
    ("scope-missing", with_field(automation(), "spec.scope", DELETE), "spec.scope"),
]


def _dry_run(cluster: ControlPlane, namespace: str, doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                           input=yaml.safe_dump(doc), check=False)


def _validate(tmp_path: Path, doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc))
    return subprocess.run([sys.executable, "-m", "wbauto", "validate", str(path)], capture_output=True, text=True)


def test_table_is_big_enough() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize(("doc", "field"), [pytest.param(d, f, id=i) for i, d, f in INVALID])
def test_apiserver_rejects_naming_the_field(cluster: ControlPlane, namespace: str, doc: dict[str, Any],
                                            field: str) -> None:
    result = _dry_run(cluster, namespace, doc)
    assert result.returncode != 0, f"apiserver accepted an invalid manifest:\n{yaml.safe_dump(doc)}"
    assert field in result.stderr, f"expected the error to name {field!r}, got:\n{result.stderr}"


@pytest.mark.parametrize(("doc", "field"), [pytest.param(d, f, id=i) for i, d, f in INVALID])
def test_validate_rejects_naming_the_same_field(tmp_path: Path, doc: dict[str, Any], field: str) -> None:
    result = _validate(tmp_path, doc)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{field}:" in result.stdout, f"expected {field!r} in:\n{result.stdout}"


def test_credentials_in_url_are_not_echoed(cluster: ControlPlane, namespace: str, tmp_path: Path) -> None:
    doc = webhook(url="https://user:hunter2-secret@hooks.example.com/x")
    server = _dry_run(cluster, namespace, doc)
    offline = _validate(tmp_path, doc)
    assert server.returncode != 0 and offline.returncode == 1
    assert "hunter2-secret" not in server.stderr
    assert "hunter2-secret" not in offline.stdout + offline.stderr


def test_every_example_is_accepted_by_the_apiserver(cluster: ControlPlane) -> None:
    files = sorted((REPO / "examples").rglob("*.yaml"))
    assert files, "no examples found"
    namespaces = {d["metadata"]["namespace"] for f in files for d in yaml.safe_load_all(f.read_text())
                  if isinstance(d, dict) and d.get("metadata", {}).get("namespace")}
    for ns in sorted(namespaces):
        cluster.kubectl("create", "namespace", ns, check=False)
    for f in files:
        result = cluster.kubectl("apply", "--dry-run=server", "-f", str(f), check=False)
        assert result.returncode == 0, f"{f.relative_to(REPO)} rejected:\n{result.stderr}"


def test_every_example_passes_offline_validation() -> None:
    result = subprocess.run([sys.executable, "-m", "wbauto", "validate", str(REPO / "examples")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invalid" not in result.stdout


def test_wandb_aliases_are_accepted(cluster: ControlPlane, namespace: str, tmp_path: Path) -> None:
    doc = automation(event={"runMetricChange": {"metric": "acc", "agg": "AVG", "currentWindow": 10,
                                                "priorWindow": 50, "changeType": "REL", "direction": "INC",
                                                "amount": 0.1}})
    assert _dry_run(cluster, namespace, doc).returncode == 0
    assert _validate(tmp_path, doc).returncode == 0
    doc = automation(event={"runStateChanged": {"states": ["CRASHED", "FINISHED"]}},
                     runFilter={"nameRegex": "^train-", "user": "alice"})
    assert _dry_run(cluster, namespace, doc).returncode == 0
    doc = automation(event={"runMetricThreshold": {"metric": "loss", "cmp": ">=", "threshold": 3}})
    assert _dry_run(cluster, namespace, doc).returncode == 0


def test_ip_literal_and_localhost_are_not_schema_errors(cluster: ControlPlane, namespace: str) -> None:
    for url in ("https://10.0.0.5/hook", "http://localhost:8080/hook", "https://[::1]/hook"):
        assert _dry_run(cluster, namespace, webhook(url=url)).returncode == 0, url
