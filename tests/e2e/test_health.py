"""Health as Argo CD and Flux read it, on objects the operator wrote to the real apiserver: the Argo CD Lua
health checks (docs/argocd-health.yaml, run by a real Lua 5.1 interpreter, as gopher-lua in Argo CD) and
kstatus (the real sigs.k8s.io/cli-utils/pkg/kstatus/status, tools/kstatus) for every kind and state."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lupa.lua51 as lua51
import pytest
import yaml

from tests.support.controlplane import ControlPlane, free_port, wait_until
from tests.support.manifests import automation, secret_reference, webhook
from tests.support.operator import OperatorProcess
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("Automation", "Webhook", "SecretReference", "AutomationExecution")
FAST = {"backoff": "50ms", "maxBackoff": "200ms"}
PROJECT = {"project": {"entity": "acme", "project": "fraud"}}
BROKEN_CA = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def health_scripts() -> dict[str, str]:
    data = yaml.safe_load((ROOT / "docs" / "argocd-health.yaml").read_text())["data"]
    return {k: data[f"resource.customizations.health.automations.wandb.ai_{k}"] for k in KINDS}


def argocd_health(script: str, obj: dict[str, Any]) -> tuple[str, str]:
    """Runs a health script as Argo CD does: ``obj`` is a global table, the script returns {status, message}."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals()["obj"] = to_lua(runtime, obj)
    result = runtime.execute(script)
    return str(result["status"]), str(result["message"] or "")


def to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def kstatus(objects: list[dict[str, Any]]) -> list[dict[str, str]]:
    tools = subprocess.run(["bash", str(ROOT / "tools" / "build.sh"), "kstatus"], check=True,
                           capture_output=True, text=True).stdout.split()
    run = subprocess.run([str(Path(tools[-1]) / "kstatus")], input="\n".join(json.dumps(o) for o in objects),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


@pytest.fixture(scope="module")
def live(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One namespace holding every kind in every state the operator reaches, plus the operator's scrape."""
    ns = "health-states"
    tmp = tmp_path_factory.mktemp("health")
    cluster.kubectl("create", "namespace", ns)
    ok = Receiver().start()
    failing = Receiver(default_status=500).start()
    closed = free_port()
    with Emulator(api_key=API_KEY) as emu:
        emu.state.create_project("acme", "fraud")
        emu.state.log_artifact("acme", "fraud", "fraud-model", author="alice")
        proc = OperatorProcess(cluster, [ns], tmp, env={"WANDB_API_KEY": API_KEY},
                               extra_args=["--wandb-base-url", emu.url, "--poll-interval", "300ms"])

        def rule(name: str, hook: str) -> dict[str, Any]:
            return automation(name, namespace=ns, scope=PROJECT,
                              event={"artifactAliasAdded": {"aliasRegex": f"^{name}$"}},
                              action={"webhook": {"webhookRef": {"name": hook}}})

        cluster.apply([
            secret_reference("present", namespace=ns, kubernetes={"name": "present", "key": "key"}),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "present", "namespace": ns},
             "stringData": {"key": "health-signing-secret"}},
            secret_reference("absent", namespace=ns, kubernetes={"name": "absent", "key": "key"}),
            webhook("ok", url=ok.url(), namespace=ns, secretRef={"name": "present"}, retry={"maxAttempts": 2, **FAST}),
            webhook("failing", url=failing.url(), namespace=ns, retry={"maxAttempts": 2, **FAST}),
            webhook("closed", url=f"http://127.0.0.1:{closed}/hook", namespace=ns,
                    retry={"maxAttempts": 50, "backoff": "1h", "maxBackoff": "1h"}),
            webhook("waiting", url=ok.url(), namespace=ns, secretRef={"name": "absent"}),
            webhook("badca", url="https://127.0.0.1:1/hook", namespace=ns, caBundle=BROKEN_CA),
            rule("delivered", "ok"), rule("rejected", "failing"), rule("retrying", "closed"),
            automation("blocked", namespace=ns, scope=PROJECT, action={"webhook": {"webhookRef": {"name": "waiting"}}}),
            automation("invalid", namespace=ns, scope=PROJECT,
                       action={"webhook": {"webhookRef": {"name": "ok"}, "payload": '{"a": ${alias}}'}}),
        ])
        proc.start()
        try:
            for name in ("delivered", "rejected", "retrying"):
                cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", f"automation/{name}", "-n", ns)
            wait_until(lambda: emu.state.stats().get("WbautoCollectionVersions", 0) >= 1, 60, "the first poll")
            for name in ("delivered", "rejected", "retrying"):
                emu.state.add_alias("acme", "fraud", "fraud-model", "v0", name, author="alice")

            def phases() -> dict[str, str] | None:
                items = cluster.get_json("automationexecutions", "-n", ns)["items"]
                got = {i["spec"]["automation"]["name"]: (i.get("status") or {}) for i in items}
                if (got.get("delivered", {}).get("phase") == "Finished"
                        and got.get("rejected", {}).get("phase") == "Failed"
                        and got.get("retrying", {}).get("attempts", 0) >= 1):
                    return {k: v.get("phase", "") for k, v in got.items()}
                return None

            wait_until(phases, 60, "executions Finished, Failed and Retrying")
            objects = {kind: cluster.get_json(kind.lower() + "s", "-n", ns)["items"] for kind in KINDS}
            yield {"objects": objects, "metrics": scrape(proc), "proc": proc, "namespace": ns}
        finally:
            proc.stop()
            ok.stop()
            failing.stop()


def scrape(proc: OperatorProcess) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def by_name(live: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    if kind == "AutomationExecution":
        return {o["spec"]["automation"]["name"]: o for o in live["objects"][kind]}
    return {o["metadata"]["name"]: o for o in live["objects"][kind]}


# (kind, name) -> (Argo CD health, kstatus)
EXPECTED = {
    ("Automation", "delivered"): ("Healthy", "Current"),
    ("Automation", "blocked"): ("Progressing", "InProgress"),
    ("Automation", "invalid"): ("Degraded", "Failed"),
    ("Webhook", "ok"): ("Healthy", "Current"),
    ("Webhook", "waiting"): ("Progressing", "InProgress"),
    ("Webhook", "badca"): ("Degraded", "Failed"),
    ("SecretReference", "present"): ("Healthy", "Current"),
    ("SecretReference", "absent"): ("Progressing", "InProgress"),
    ("AutomationExecution", "delivered"): ("Healthy", "Current"),
    ("AutomationExecution", "rejected"): ("Degraded", "Failed"),
    ("AutomationExecution", "retrying"): ("Progressing", "InProgress"),
}


def test_the_same_script_serves_every_kind() -> None:
    scripts = health_scripts()
    assert len(set(scripts.values())) == 1


def test_argocd_health_of_live_objects(live: dict[str, Any]) -> None:
    scripts = health_scripts()
    got = {(kind, name): argocd_health(scripts[kind], by_name(live, kind)[name])[0] for kind, name in EXPECTED}
    assert got == {key: health for key, (health, _) in EXPECTED.items()}
    # every object the operator wrote has a verdict the operator meant (no Unknown, no Lua error)
    for kind in KINDS:
        for obj in live["objects"][kind]:
            status, message = argocd_health(scripts[kind], obj)
            assert status in {"Healthy", "Progressing", "Degraded"} and message


def test_argocd_health_respects_observed_generation(live: dict[str, Any]) -> None:
    """A spec newer than the status (the operator has not caught up) is Progressing, whatever Ready says."""
    script = health_scripts()["Automation"]
    ready = by_name(live, "Automation")["delivered"]
    assert argocd_health(script, ready)[0] == "Healthy"
    newer = {**ready, "metadata": {**ready["metadata"], "generation": ready["metadata"]["generation"] + 1}}
    status, message = argocd_health(script, newer)
    assert status == "Progressing" and "generation" in message
    stalled = by_name(live, "Automation")["invalid"]
    newer = {**stalled, "metadata": {**stalled["metadata"], "generation": stalled["metadata"]["generation"] + 1}}
    assert argocd_health(script, newer)[0] == "Progressing"


def test_execution_without_status_is_progressing() -> None:
    """Created Pending, before its first attempt writes a status."""
    obj = {"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "AutomationExecution",
           "metadata": {"name": "x", "namespace": "y", "generation": 1}, "spec": {}}
    assert argocd_health(health_scripts()["AutomationExecution"], obj)[0] == "Progressing"


def test_kstatus_of_live_objects(live: dict[str, Any]) -> None:
    objects = [by_name(live, kind)[name] for kind, name in EXPECTED]
    results = kstatus(objects)
    got = {(kind, name): r["status"] for (kind, name), r in zip(EXPECTED, results, strict=True)}
    assert got == {key: ks for key, (_, ks) in EXPECTED.items()}


def test_execution_conditions_as_written(live: dict[str, Any]) -> None:
    executions = by_name(live, "AutomationExecution")
    conds = {name: {c["type"]: c for c in o["status"]["conditions"]} for name, o in executions.items()}
    assert conds["delivered"]["Ready"]["status"] == "True" and conds["delivered"]["Ready"]["reason"] == "Succeeded"
    assert set(conds["delivered"]) == {"Ready"}
    assert conds["rejected"]["Stalled"]["reason"] == "Failed" and conds["rejected"]["Ready"]["status"] == "False"
    assert "HTTP 500" in conds["rejected"]["Stalled"]["message"]
    retrying = conds["retrying"]["Reconciling"]
    assert retrying["status"] == "True" and retrying["reason"] == "Retrying"
    for name, o in executions.items():  # derived from the status they are written with: no generation
        assert all("observedGeneration" not in c for c in o["status"]["conditions"]), name


def promtool() -> Path:
    tools = subprocess.run(["bash", str(ROOT / "tools" / "build.sh"), "promtool"], check=True,
                           capture_output=True, text=True).stdout.split()
    return Path(tools[-1]) / "promtool"


def test_readiness_of_every_object_in_the_scrape(live: dict[str, Any]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    ready = {(s.labels["kind"], s.labels["name"]): s.value
             for f in text_string_to_metric_families(live["metrics"]) if f.name == "wbauto_resource_ready"
             for s in f.samples if s.labels.get("namespace") == live["namespace"]}
    for (kind, name), (health, _) in EXPECTED.items():
        if kind != "AutomationExecution":
            assert ready[(kind, name)] == (1.0 if health == "Healthy" else 0.0), (kind, name)
    names = {f.name for f in text_string_to_metric_families(live["metrics"])}
    assert {"process_resident_memory_bytes", "python_info", "wbauto_reconciles", "wbauto_reconcile_seconds"} <= names


def test_promtool_check_metrics_on_a_live_scrape(live: dict[str, Any]) -> None:
    run = subprocess.run([str(promtool()), "check", "metrics"], input=live["metrics"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_readiness_series_removed_with_the_object(cluster: ControlPlane, live: dict[str, Any]) -> None:
    ns, proc = live["namespace"], live["proc"]
    series = f'wbauto_resource_ready{{kind="SecretReference",name="absent",namespace="{ns}"}}'
    assert series in scrape(proc)
    cluster.kubectl("delete", "secretreference", "absent", "-n", ns)
    wait_until(lambda: series not in scrape(proc), 30, "the series of the deleted SecretReference to go")


def rendered_rules(tmp: Path) -> Path:
    helm = subprocess.run(["bash", str(ROOT / "tools" / "build.sh"), "helm"], check=True, capture_output=True,
                          text=True).stdout.split()[-1]
    out = subprocess.run([f"{helm}/helm", "template", "r", str(ROOT / "charts" / "wbauto"), "--set",
                          "metrics.prometheusRule.enabled=true", "-s", "templates/prometheusrule.yaml"],
                         check=True, capture_output=True, text=True).stdout
    rule = yaml.safe_load(out)
    assert rule["kind"] == "PrometheusRule"
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def series(metrics: str, metric: str, **match: str) -> str:
    """One series of the live scrape, in promtool's input notation (its labels exactly as scraped)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == metric and all(s.labels.get(k) == v for k, v in match.items()):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                return f"{metric}{{{labels}}}"
    raise AssertionError(f"{metric} {match} not in the scrape")


def test_promtool_checks_and_tests_the_alerts(live: dict[str, Any], tmp_path: Path) -> None:
    rules = rendered_rules(tmp_path)
    run = subprocess.run([str(promtool()), "check", "rules", str(rules)], capture_output=True, text=True)
    assert run.returncode == 0 and "SUCCESS: 4 rules found" in run.stdout, run.stdout + run.stderr
    m, ns = live["metrics"], live["namespace"]
    blocked = series(m, "wbauto_resource_ready", kind="Automation", namespace=ns, name="blocked")
    delivered = series(m, "wbauto_resource_ready", kind="Automation", namespace=ns, name="delivered")
    failed = series(m, "wbauto_executions_total", outcome="failed", automation=f"{ns}/rejected")
    depth = series(m, "wbauto_queue_depth")
    # the scrape has request counters per scope; an unreachable W&B turns the same scope's errors up
    scope = series(m, "wbauto_poll_requests_total").split('scope="')[1].split('"')[0]
    errors = f'wbauto_poll_errors_total{{scope="{scope}"}}'
    tests = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": blocked, "values": "0x30"}, {"series": delivered, "values": "1x30"},
            {"series": failed, "values": "0 1 2 2 2x27"}, {"series": depth, "values": "150x30"},
            {"series": errors, "values": "0+1x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "WbautoAutomationNotReady", "exp_alerts": [
                {"exp_labels": {"severity": "warning", "namespace": ns, "name": "blocked"},
                 "exp_annotations": {
                     "summary": f"Automation {ns}/blocked is not Ready",
                     "description": f"kubectl describe automation blocked -n {ns} shows why (Ready, Stalled "
                                    "conditions)."}}]},
            {"eval_time": "5m", "alertname": "WbautoExecutionsFailing", "exp_alerts": [
                {"exp_labels": {"severity": "warning", "automation": f"{ns}/rejected"},
                 "exp_annotations": {"summary": f"Executions of {ns}/rejected fail",
                                     "description": "Failed AutomationExecutions in the last 15 minutes; "
                                                    "status.error says why."}}]},
            {"eval_time": "25m", "alertname": "WbautoExecutionsFailing", "exp_alerts": []},
            {"eval_time": "20m", "alertname": "WbautoWandbUnreachable", "exp_alerts": [
                {"exp_labels": {"severity": "critical", "scope": scope},
                 "exp_annotations": {"summary": f"W&B cannot be polled ({scope} scopes)",
                                     "description": "More than 3 failed poll cycles in 15 minutes: W&B "
                                                    "unreachable or the API key refused."}}]},
            {"eval_time": "20m", "alertname": "WbautoDeliveryBacklog", "exp_alerts": [
                {"exp_labels": {"severity": "warning"},
                 "exp_annotations": {"summary": "150 executions pending",
                                     "description": "Deliveries fall behind: receivers slow or down, or too "
                                                    "few workers."}}]},
            {"eval_time": "10m", "alertname": "WbautoDeliveryBacklog", "exp_alerts": []},
        ]}]}
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump(tests, width=1000))
    run = subprocess.run([str(promtool()), "test", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_metric_the_dashboard_queries_is_in_a_live_scrape(live: dict[str, Any]) -> None:
    import re

    from prometheus_client.parser import text_string_to_metric_families

    helm = subprocess.run(["bash", str(ROOT / "tools" / "build.sh"), "helm"], check=True, capture_output=True,
                          text=True).stdout.split()[-1]
    out = subprocess.run([f"{helm}/helm", "template", "r", str(ROOT / "charts" / "wbauto"), "--set",
                          "metrics.dashboard.enabled=true", "-s", "templates/dashboard.yaml"],
                         check=True, capture_output=True, text=True).stdout
    cm = yaml.safe_load(out)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["wbauto.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    queried = {m for e in exprs for m in re.findall(r"\b((?:wbauto|process|python)_[a-z_]+)", e)}
    scraped = {s.name for f in text_string_to_metric_families(live["metrics"]) for s in f.samples}
    assert len(queried) >= 10 and queried <= scraped, sorted(queried - scraped)
