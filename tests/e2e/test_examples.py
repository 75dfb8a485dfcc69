"""Every example folder, applied for real into a fresh namespace with the operator running.

Objects whose references are all Kubernetes-backed reach ``Ready=True``. SecretReferences of the cloud
backends (example 12) cannot reach a cloud here: they report ``Ready=False`` with a transient reason and
the objects that use them wait (``SecretReferenceNotReady`` / ``WebhookNotReady``), while the operator
keeps running. ``wbauto render`` succeeds for every Automation of every example.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane, wait_until
from tests.support.emulator import seed_scopes
from tests.support.operator import OperatorProcess
from wbauto.emulator.server import Emulator

EXAMPLES_DIR = REPO / "examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_dir())
GROUP = "automations.wandb.ai"
CLOUD_BACKENDS = ("aws", "gcp", "azure", "vault")
CLOUD_REASONS = {"BackendUnavailable", "AccessDenied", "SecretNotFound"}
TIMEOUT = 120.0


def documents(folder: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return docs


def ours(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if str(d.get("apiVersion", "")).startswith(f"{GROUP}/") and d.get("kind") == kind]


def in_namespace(docs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The examples carry their own namespace (ml-team): move every object into the test's."""
    moved = copy.deepcopy(docs)
    for doc in moved:
        doc.setdefault("metadata", {})["namespace"] = namespace
    return moved


def secret_names(spec: dict[str, Any], *keys: str) -> list[str]:
    names = [spec[k]["name"] for k in keys if isinstance(spec.get(k), dict)]
    return names + [ref["name"] for ref in spec.get("payloadSecretRefs") or []]


class Expectation:
    """What each object of an example must report: Ready, or not Ready with one of some reasons."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.cloud_refs = {
            d["metadata"]["name"] for d in ours(docs, "SecretReference") if any(b in d["spec"] for b in CLOUD_BACKENDS)
        }
        self.ready: list[tuple[str, str]] = []
        self.waiting: list[tuple[str, str, set[str]]] = []
        for d in ours(docs, "SecretReference"):
            name = d["metadata"]["name"]
            if name in self.cloud_refs:
                self.waiting.append(("secretreference", name, CLOUD_REASONS))
            else:
                self.ready.append(("secretreference", name))
        blocked_webhooks = set()
        for d in ours(docs, "Webhook"):
            name = d["metadata"]["name"]
            if set(secret_names(d["spec"], "secretRef", "accessTokenRef")) & self.cloud_refs:
                blocked_webhooks.add(name)
                self.waiting.append(("webhook", name, {"SecretReferenceNotReady"}))
            else:
                self.ready.append(("webhook", name))
        for d in ours(docs, "Automation"):
            name, action = d["metadata"]["name"], d["spec"]["action"]
            if "webhook" in action and action["webhook"]["webhookRef"]["name"] in blocked_webhooks:
                self.waiting.append(("automation", name, {"WebhookNotReady"}))
            elif (
                "slack" in action
                and set(secret_names(action["slack"], "tokenRef", "incomingWebhookRef")) & self.cloud_refs
            ):
                self.waiting.append(("automation", name, {"SecretReferenceNotReady"}))
            else:
                self.ready.append(("automation", name))


def vault_addresses() -> str:
    """The Vault addresses of the examples: the operator may send its token there (Kubernetes auth), so
    the Vault SecretReference gets past that check and fails on the missing service-account token."""
    addresses = {
        d["spec"]["vault"]["address"]
        for folder in EXAMPLES
        for d in ours(documents(folder), "SecretReference")
        if "vault" in d["spec"]
    }
    return ",".join(sorted(addresses))


def ready_condition(cluster: ControlPlane, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    obj = cluster.get_json(kind, name, "-n", namespace)
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def test_there_are_examples_with_readmes() -> None:
    assert [p.name[:2] for p in EXAMPLES] == [f"{n:02d}" for n in range(1, len(EXAMPLES) + 1)]
    assert len(EXAMPLES) >= 12
    for folder in EXAMPLES:
        readme = (folder / "README.md").read_text()
        assert f"kubectl apply -f examples/{folder.name}/" in readme, folder.name
        assert f"wbauto render -f examples/{folder.name}" in readme, folder.name
        assert ours(documents(folder), "Automation"), f"{folder.name} has no Automation"


@pytest.mark.cluster
@pytest.mark.parametrize("folder", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_reaches_the_expected_readiness(
    cluster: ControlPlane, namespace: str, tmp_path: Path, folder: Path, wandb: Emulator
) -> None:
    docs = documents(folder)
    expected = Expectation(docs)
    seed_scopes(wandb, docs)  # the W&B scopes the example watches exist, as they would in a real W&B
    proc = OperatorProcess(
        cluster, [namespace], tmp_path, wandb=wandb,
        env={"WBAUTO_VAULT_KUBERNETES_AUTH_ADDRESSES": vault_addresses()},
    )
    proc.start()
    try:
        cluster.apply(in_namespace(docs, namespace))
        for kind, name in expected.ready:
            cluster.kubectl(
                "wait",
                "--for=condition=Ready",
                f"--timeout={TIMEOUT:.0f}s",
                f"{kind}/{name}",
                "-n",
                namespace,
                timeout=TIMEOUT + 10,
            )
        for kind, name, reasons in expected.waiting:

            def waiting(kind: str = kind, name: str = name, reasons: set[str] = reasons) -> dict[str, Any] | None:
                c = ready_condition(cluster, kind, name, namespace)
                return c if c and c["status"] == "False" and c["reason"] in reasons else None

            condition = wait_until(waiting, TIMEOUT, f"{kind}/{name} Ready=False with one of {sorted(reasons)}")
            assert condition["message"], f"{kind}/{name} must say why it is not Ready"
            if kind == "secretreference":
                obj = cluster.get_json(kind, name, "-n", namespace)
                conditions = {c["type"]: c for c in obj["status"]["conditions"]}
                assert conditions["Reconciling"]["status"] == "True", "a cloud failure is transient: retried"
                assert "Stalled" not in conditions
        for automation in ours(docs, "Automation"):
            status = cluster.get_json("automation", automation["metadata"]["name"], "-n", namespace)["status"]
            assert status["eventType"] and status["actionType"] and status["target"]
        assert proc.alive(), f"the operator exited:\n{proc.logs()[-3000:]}"
        assert "failed; retrying" not in proc.logs(), "a reconcile raised instead of reporting a condition"
    finally:
        proc.stop()


RENDER_CASES = [
    (folder, doc["metadata"]["name"], doc["metadata"].get("namespace", "default"))
    for folder in EXAMPLES
    for doc in ours(documents(folder), "Automation")
]


@pytest.mark.parametrize(
    ("folder", "automation", "namespace"), RENDER_CASES, ids=[f"{f.name}-{a}" for f, a, _ in RENDER_CASES]
)
def test_render_succeeds_for_every_automation(folder: Path, automation: str, namespace: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wbauto", "render", "-f", str(folder), "-n", namespace, "-a", automation],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"# Automation {namespace}/{automation}:" in result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert "warning:" not in result.stderr, result.stderr
