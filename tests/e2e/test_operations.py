"""Operating wbauto: W&B outages surfaced as conditions, retention, metrics, and the CLI tools."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.controlplane import free_port
from tests.support.manifests import automation, obj, webhook
from tests.support.receiver import Receiver
from tests.support.standalone import Harness, until
from wbauto.api.execution import Phase
from wbauto.emulator.server import Emulator

PROJECT = {"project": {"entity": "acme", "project": "fraud"}}


def ready(app: Any, name: str) -> dict[str, Any] | None:
    body = app.world.bodies.get(("Automation", "default", name)) or {}
    return next((c for c in (body.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), None)


async def test_wandb_outage_is_a_condition_and_heals(tmp_path: Path, emulator: Emulator) -> None:
    harness = Harness(tmp_path, emulator, [automation(scope=PROJECT, action={"noOp": {}})])
    app = await harness.start()
    try:
        emulator.state.fail_next(3, "http500")
        c = await until(lambda: (r := ready(app, "auto")) and r["reason"] == "SourceUnavailable" and r, 30,
                        "Ready=False SourceUnavailable")
        assert c["status"] == "False" and "HTTP 500" in c["message"] and "retrying in" in c["message"]
        assert app.engine.pollers is not None
        # after three failures W&B answers again; the poller backs off, so ask it to poll now
        await until(lambda: not emulator.state.take_failure() and (app.engine.pollers.trigger() or True), 30,
                    "the injected failures used up")
        await until(lambda: (r := ready(app, "auto")) and r["status"] == "True", 60, "Ready again")
        # a project W&B does not know is reported, not silently ignored
        bad = automation("typo", scope={"project": {"entity": "acme", "project": "fruad"}}, action={"noOp": {}})
        (harness.manifests / "all.yaml").write_text(yaml.safe_dump_all(
            [automation(scope=PROJECT, action={"noOp": {}}), bad]))
        c = await until(lambda: (r := ready(app, "typo")) and r["reason"] == "SourceUnavailable" and r, 30,
                        "the typo reported")
        assert "project acme/fruad not found" in c["message"]
    finally:
        await harness.stop()


async def test_retention_keeps_the_newest_per_automation_and_drops_old(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver().start()
    docs = [webhook(url=receiver.url()), automation(scope=PROJECT, event={"artifactTagAdded": {}})]
    harness = Harness(tmp_path, emulator, docs)
    app = await harness.start()
    try:
        for i in range(5):
            emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", f"t{i}")
        await harness.executions(5)
        removed = await app.store.prune(keep=3, older_than=datetime.datetime.now(datetime.UTC)
                                        - datetime.timedelta(days=1))
        left = await app.store.history(limit=100)
        assert removed == 2 and len(left) == 3
        removed = await app.store.prune(keep=100, older_than=datetime.datetime.now(datetime.UTC)
                                        + datetime.timedelta(seconds=1))
        assert removed == 3 and await app.store.history(limit=100) == []
    finally:
        await harness.stop()
        receiver.stop()


async def test_metrics_endpoint(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(statuses=[503]).start()
    port = free_port()
    docs = [webhook(url=receiver.url(), retry={"maxAttempts": 3, "backoff": "50ms", "maxBackoff": "50ms"}),
            automation(scope=PROJECT, event={"artifactAliasAdded": {}})]
    harness = Harness(tmp_path, emulator, docs, metrics_address=f"127.0.0.1:{port}")
    await harness.start()
    try:
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        await harness.executions(1)
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        await harness.stop()
        receiver.stop()
    # one registry per process: other tests' executions count too, so check the series, not the value
    assert 'wbauto_executions_total{action="webhook",automation="default/auto",outcome="finished"}' in text
    assert 'wbauto_delivery_retries_total{action="webhook"}' in text
    assert "wbauto_event_to_delivery_seconds_bucket" in text and "wbauto_queue_depth" in text
    assert 'wbauto_poll_requests_total{scope="project"}' in text
    assert "wbauto_automations 1.0" in text
    assert "127.0.0.1" not in text, "metric labels carry no URLs"


def wbauto(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wbauto", *args], capture_output=True, text=True, timeout=60)


async def test_history_and_test_webhook_and_render_commands(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(secret="cli-secret").start()
    (tmp_path / "sig").write_text("cli-secret")
    docs = [obj("SecretReference", "sig", {"file": {"path": str(tmp_path / "sig")}}),
            webhook(url=receiver.url(), secretRef={"name": "sig"}),
            automation(scope=PROJECT, event={"artifactAliasAdded": {}},
                       action={"webhook": {"webhookRef": {"name": "hook"},
                                           "payload": '{"a": "${alias}", "v": "${artifact_version}"}'}})]
    harness = Harness(tmp_path, emulator, docs)
    records = await harness.deliver(lambda: emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging"))
    state = tmp_path / "state.sqlite"
    table = wbauto("history", "--state", str(state), "-o", "wide")
    assert table.returncode == 0 and "default/auto" in table.stdout and "Finished" in table.stdout
    as_json = json.loads(wbauto("history", "--state", str(state), "-o", "json").stdout)
    assert as_json[0]["name"] == records[0].name and as_json[0]["status"]["phase"] == "Finished"

    event_file = tmp_path / "event.json"
    event_file.write_text(records[0].spec.event.model_dump_json(by_alias=True))
    rendered = wbauto("render", "-f", str(harness.manifests), "--event", str(event_file))
    assert rendered.returncode == 0, rendered.stderr
    assert '"a": "staging"' in rendered.stdout and "(signed: X-Wandb-Signature)" in rendered.stdout

    sent = wbauto("test-webhook", "hook", "-f", str(harness.manifests), "--allow-private-targets")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "→ HTTP 200" in sent.stdout and "(signed)" in sent.stdout
    assert receiver.requests[-1].signature_ok and receiver.requests[-1].json()["event_type"] == "TEST"
    refused = wbauto("test-webhook", "hook", "-f", str(harness.manifests))  # loopback, no private targets
    assert refused.returncode == 1 and "egress denied" in refused.stdout
    receiver.stop()
    assert "cli-secret" not in table.stdout + rendered.stdout + sent.stdout + refused.stdout
    assert all(r.status.phase is Phase.FINISHED for r in records)


async def test_a_stalled_automation_does_not_fire_and_disabled_wins(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver().start()
    broken = automation("broken", scope=PROJECT, event={"artifactAliasAdded": {}},
                        action={"webhook": {"webhookRef": {"name": "hook"}, "payload": '{"a": ${alias}}'}})
    working = automation("working", scope=PROJECT, event={"artifactAliasAdded": {}})
    off = automation("off", scope={"project": {"entity": "acme", "project": "missing"}}, enabled=False,
                     action={"noOp": {}})
    harness = Harness(tmp_path, emulator, [webhook(url=receiver.url()), broken, working, off])
    app = await harness.start(wait_first_poll=False, wait_ready=False)
    try:
        await until(lambda: (r := ready(app, "broken")) and r["reason"] == "InvalidSpec", 30, "broken stalls")
        await until(lambda: (r := ready(app, "working")) and r["status"] == "True", 30, "working is Ready")
        pollers = app.engine.pollers
        assert pollers is not None  # acme/missing never settles: wait for the first read of acme/fraud alone
        await until(lambda: any(str(k) == "acme/fraud" and h.ok for k, h in pollers.health.items()), 30,
                    "the first poll of acme/fraud (what it sees then is the baseline)")
        emulator.state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        records = await harness.executions(1)
        # the disabled one's scope cannot be read (no such project), yet it reports Disabled
        await until(lambda: (r := ready(app, "off")) and r["reason"] == "Disabled", 30, "off is Disabled")
    finally:
        await harness.stop()
        receiver.stop()
    assert [r.automation for r in records] == ["working"]
