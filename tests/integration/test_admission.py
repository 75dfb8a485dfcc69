"""Admission-time validation on the real apiserver, and the same verdict from ``wbauto validate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane
from tests.support.manifests import DELETE, automation, secret_reference, webhook, with_field
from wbauto.admission import files

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
    ("backoff-over-max", webhook(retry={"backoff": "10m", "maxBackoff": "1m"}), "spec.retry.backoff"),
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
    # issue 11 §1: Unicode spellings of an IP address, bracketed IPv4, ports over 65535, in every URL field
    ("url-circled-digits", webhook(url="http://\u2460\u2461\u2466.0.0.1:8080/hook"), "spec.url"),
    ("url-fullwidth", webhook(url="http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/"), "spec.url"),
    ("url-ideographic-dots", webhook(url="http://127\u30020\u30020\u30021/"), "spec.url"),
    ("url-bracketed-ipv4", webhook(url="http://[127.0.0.1]:8/x"), "spec.url"),
    ("url-port-99999", webhook(url="http://hooks.example.com:99999/x"), "spec.url"),
    ("slack-api-url-unicode", automation(action={"slack": {"incomingWebhookRef": {"name": "s"},
                                                           "apiUrl": "https://sl\u00e4ck.example.com/api"}}),
     "spec.action.slack.apiUrl"),
    ("vault-address-unicode", secret_reference(vault={"address": "https://vault\u3002example:8200", "path": "p",
                                                      "key": "k", "auth": {"token": {"secretRef": {"name": "t",
                                                                                                   "key": "k"}}}}),
     "spec.vault.address"),
    ("azure-vault-url-unicode", secret_reference(azure={"vaultUrl": "https://v\u00e4ult.vault.azure.net",
                                                        "name": "hook"}),
     "spec.azure.vaultUrl"),
    # issue 11 §4: types without coercion, a trailing newline, bounded durations, PEM shape
    ("max-attempts-string", webhook(retry={"maxAttempts": "8"}), "spec.retry.maxAttempts"),
    ("enabled-string", automation(enabled="false"), "spec.enabled"),
    ("success-codes-strings", webhook(successCodes=["200"]), "spec.successCodes[0]"),
    ("url-trailing-newline", webhook(url="https://hooks.example.com/x\n"), "spec.url"),
    ("timeout-overflow", webhook(timeout="99999999999h"), "spec.timeout"),
    ("timeout-over-10m", webhook(timeout="11m"), "spec.timeout"),
    ("backoff-overflow", webhook(retry={"backoff": "99999999999h"}), "spec.retry.backoff"),
    ("refresh-interval-overflow", secret_reference(env={"name": "X"}, refreshInterval="99999999999h"),
     "spec.refreshInterval"),
    ("refresh-interval-zero", secret_reference(env={"name": "X"}, refreshInterval="0s"), "spec.refreshInterval"),
    ("rate-limit-period-overflow", automation(rateLimit={"maxExecutions": 1, "period": "99999999999h"}),
     "spec.rateLimit.period"),
    ("ca-bundle-not-pem", webhook(caBundle="not a pem"), "spec.caBundle"),
    # issue 12 §6: regexes must compile under RE2 (CEL's matches())
    ("alias-regex-unbalanced", automation(event={"artifactAliasAdded": {"aliasRegex": "("}}),
     "spec.event.artifactAliasAdded.aliasRegex"),
    ("tag-regex-lookahead", automation(event={"artifactTagAdded": {"tagRegex": "(?=prod)"}}),
     "spec.event.artifactTagAdded.tagRegex"),
    ("name-regex-backreference", automation(event=THRESHOLD, scope=RUN_SCOPE, runFilter={"nameRegex": "(a)\\1"}),
     "spec.runFilter.nameRegex"),
]

# accepted by the apiserver, so validate must accept them too
VALID: list[tuple[str, dict[str, Any]]] = [
    ("url-nbsp-in-path", webhook(url="https://hooks.example.com/a\u00a0b")),
    ("url-line-separator-in-path", webhook(url="https://hooks.example.com/a\u2028b")),
    ("alias-regex-nested-quantifier", automation(event={"artifactAliasAdded": {"aliasRegex": "^(a+)+$"}})),
    ("punycode-host", webhook(url="https://xn--bcher-kva.example/x")),
    ("port-65535", webhook(url="http://hooks.example.com:65535/x")),
    ("ipv6-literal", webhook(url="https://[fd00::1]:8443/x")),
    ("status-ignored", {**webhook(), "status": "hello"}),
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


@pytest.mark.parametrize("doc", [pytest.param(d, id=i) for i, d in VALID])
def test_apiserver_and_validate_accept(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                       doc: dict[str, Any]) -> None:
    server = _dry_run(cluster, namespace, doc)
    assert server.returncode == 0, server.stderr
    offline = _validate(tmp_path, doc)
    assert offline.returncode == 0, offline.stdout + offline.stderr


KUBECTL_SCALARS = """\
apiVersion: automations.wandb.ai/v1alpha1
kind: Automation
metadata: {name: scalars}
spec:
  scope: {project: {entity: a, project: p}}
  event: {artifactLinked: {}}
  action:
    launch:
      queue: q
      job: a/b/c
      overrides:
        runConfig:
          {d1: 2020-01-01, d2: 2020-01-01 10:00:00, b1: y, b2: n, b3: yes, b4: off, s60: 1:30, e: 1e3,
           oct: 017, oct2: 0o17, hex: 0x1F, bin: 0b101, und: 1_000, big: 99999999999999999999, plus: +12,
           dot: .5, f1: 1., tilde: "~", bin64: !!binary aGVsbG8=, strtag: !!str 5, loc: !foo bar, 1: intkey,
           true: boolkey, 1.5: floatkey, inf: 1e400, merge: {<<: {a: 1}, b: 2}, dup: 1, dup: 2}
"""


def test_yaml_reads_as_kubectl_reads_it(cluster: ControlPlane, namespace: str, tmp_path: Path) -> None:
    """YAML 1.1 booleans, dates, base-60, tags, map keys, merges: what kubectl sends is what validate checks."""
    path = tmp_path / "scalars.yaml"
    path.write_text(KUBECTL_SCALARS)
    sent = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), "-o", "json")
    theirs = json.loads(sent.stdout)["spec"]["action"]["launch"]["overrides"]["runConfig"]
    ours = next(iter(files.read_documents(path))).value["spec"]["action"]["launch"]["overrides"]["runConfig"]
    assert ours == theirs
    assert ours["d1"] == "2020-01-01" and ours["b1"] is True and ours["s60"] == "1:30" and ours["1"] == "intkey"


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


@pytest.mark.parametrize(("args", "accepted"), [(60, True), (62, True), (66, False), (70, False)])
def test_kubectl_apply_last_applied_annotation_limit(cluster: ControlPlane, namespace: str, tmp_path: Path,
                                                     args: int, accepted: bool) -> None:
    """Client-side ``kubectl apply`` keeps the object in an annotation (256 KiB limit); validate says so."""
    doc = automation(action={"kubernetesJob": {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "x", "args": ["a" * 4000] * args}]}}}}})
    server = _dry_run(cluster, namespace, doc)
    offline = _validate(tmp_path, doc)
    assert (server.returncode == 0) is accepted, server.stderr
    assert (offline.returncode == 0) is accepted, offline.stdout
    if not accepted:
        assert "metadata.annotations: Too long" in server.stderr and "metadata.annotations: Too long" in offline.stdout
