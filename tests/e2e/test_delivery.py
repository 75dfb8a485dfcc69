"""Delivery guarantees and the other actions, end to end on the standalone runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.controlplane import free_port
from tests.support.manifests import automation, obj, webhook
from tests.support.receiver import Receiver, slack_api
from tests.support.standalone import Harness, until
from wbauto.api.execution import Phase
from wbauto.emulator.server import Emulator

SECRET = "delivery-signing-secret"
PROJECT = {"project": {"entity": "acme", "project": "fraud"}}
FAST_RETRY = {"maxAttempts": 3, "backoff": "50ms", "maxBackoff": "200ms"}


def secret_file(tmp_path: Path, name: str, value: str) -> dict[str, Any]:
    (tmp_path / name).write_text(value)
    return obj("SecretReference", name, {"file": {"path": str(tmp_path / name)}, "refreshInterval": "1s"})


def alias_rule(name: str = "aliased", action: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return automation(name, scope=PROJECT, event={"artifactAliasAdded": {}},
                      action=action or {"webhook": {"webhookRef": {"name": "hook"}}}, **spec)


def add_alias(emulator: Emulator, alias: str, version: str = "v0") -> None:
    emulator.state.add_alias("acme", "fraud", "fraud-model", version, alias, author="alice")


async def test_receiver_down_for_a_while_then_delivered(tmp_path: Path, emulator: Emulator) -> None:
    port = free_port()
    docs = [secret_file(tmp_path, "signing", SECRET),
            webhook(url=f"http://127.0.0.1:{port}/hook", secretRef={"name": "signing"},
                    retry={"maxAttempts": 50, "backoff": "50ms", "maxBackoff": "200ms"}),
            alias_rule()]
    harness = Harness(tmp_path, emulator, docs)
    app = await harness.start()
    receiver = Receiver(secret=SECRET)
    try:
        add_alias(emulator, "staging")
        # attempts fail while nothing listens; the execution stays Pending with the error recorded
        pending = await until(lambda: [r for r in app.engine.dispatcher.records.values() if r.status.attempts >= 2],
                              30, "two failed attempts")
        assert pending[0].status.phase is Phase.PENDING and "connection failed" in (pending[0].status.error or "")
        receiver.start(port)
        records = await harness.executions(1)
    finally:
        await harness.stop()
        receiver.stop()
    record = records[0]
    assert record.status.phase is Phase.FINISHED and record.status.attempts >= 3
    assert record.status.response_code == 200
    assert len(receiver.requests) == 1 and receiver.requests[0].signature_ok


async def test_receiver_always_failing_ends_failed_after_max_attempts(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(secret=SECRET, default_status=500).start()
    docs = [secret_file(tmp_path, "signing", SECRET),
            webhook(url=receiver.url(), secretRef={"name": "signing"}, retry=FAST_RETRY), alias_rule()]
    try:
        records = await Harness(tmp_path, emulator, docs).deliver(lambda: add_alias(emulator, "staging"))
    finally:
        receiver.stop()
    record = records[0]
    assert record.status.phase is Phase.FAILED
    assert record.status.attempts == 3 and record.status.response_code == 500
    assert record.status.error == "gave up after 3 attempts: HTTP 500"
    assert len(receiver.requests) == 3
    assert len({r.headers["X-Wbauto-Delivery"] for r in receiver.requests}) == 1  # stable across retries


async def test_client_errors_are_not_retried_and_429_is(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(statuses=[429, 429, 200, 404]).start()
    docs = [webhook(url=receiver.url(), retry=FAST_RETRY), alias_rule()]
    harness = Harness(tmp_path, emulator, docs)
    await harness.start()
    try:
        add_alias(emulator, "a")
        first = await harness.executions(1)
        add_alias(emulator, "b")
        records = await harness.executions(2)
    finally:
        await harness.stop()
        receiver.stop()
    assert first[0].status.phase is Phase.FINISHED and first[0].status.attempts == 3
    second = next(r for r in records if r.name != first[0].name)
    assert second.status.phase is Phase.FAILED and second.status.attempts == 1
    assert second.status.error == "HTTP 404"


async def test_rotated_secret_is_used_and_401_rereads_it(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(secret="new-secret-value").start()
    docs = [secret_file(tmp_path, "signing", "old-secret-value"),
            webhook(url=receiver.url(), secretRef={"name": "signing"}, retry=FAST_RETRY), alias_rule()]
    # the receiver rejects the old signature with 401 the first time
    receiver.respond = lambda req: (200 if req.signature_ok else 401, {})
    harness = Harness(tmp_path, emulator, docs)
    await harness.start()
    try:
        (tmp_path / "signing").write_text("new-secret-value")
        add_alias(emulator, "staging")
        records = await harness.executions(1)
    finally:
        await harness.stop()
        receiver.stop()
    assert records[0].status.phase is Phase.FINISHED
    assert receiver.requests[-1].signature_ok


async def test_deleting_the_automation_does_not_cancel_its_execution(tmp_path: Path, emulator: Emulator) -> None:
    port = free_port()
    docs = [webhook(url=f"http://127.0.0.1:{port}/hook", retry={"maxAttempts": 100, "backoff": "50ms",
                                                               "maxBackoff": "100ms"}), alias_rule()]
    harness = Harness(tmp_path, emulator, docs)
    app = await harness.start()
    receiver = Receiver()
    try:
        add_alias(emulator, "staging")
        await until(lambda: [r for r in app.engine.dispatcher.records.values() if r.status.attempts >= 1], 30,
                    "a failed attempt")
        (harness.manifests / "all.yaml").write_text(yaml.safe_dump_all(docs[:1]))  # the Automation is gone
        await until(lambda: not list(app.world.automations()), 30, "the Automation to be removed")
        receiver.start(port)
        records = await harness.executions(1)
    finally:
        await harness.stop()
        receiver.stop()
    assert records[0].status.phase is Phase.FINISHED and len(receiver.requests) == 1


async def test_slack_bot_token_message(tmp_path: Path, emulator: Emulator) -> None:
    slack = slack_api("xoxb-test-token").start()
    docs = [secret_file(tmp_path, "slack-bot", "xoxb-test-token"),
            alias_rule("notify", action={"slack": {
                "tokenRef": {"name": "slack-bot"}, "channel": "#ml-alerts", "apiUrl": slack.url("/api"),
                "title": "New ${alias} model", "message": "${artifact_version_string} by ${event_author}",
                "severity": "WARN"}})]
    try:
        records = await Harness(tmp_path, emulator, docs).deliver(lambda: add_alias(emulator, "production"))
    finally:
        slack.stop()
    assert records[0].status.phase is Phase.FINISHED and records[0].status.result
    request = slack.requests[0]
    assert request.path == "/api/chat.postMessage"
    message = request.json()
    assert message["channel"] == "#ml-alerts"
    attachment = message["attachments"][0]
    assert attachment["color"] == "#ECB22E"  # WARN
    blocks = json.dumps(attachment["blocks"])
    assert "New production model" in blocks and "acme/fraud/fraud-model:production by alice" in blocks
    assert "View in W&B" in blocks and "https://wandb.ai/acme/fraud/artifacts/model/fraud-model/v0" in blocks


async def test_slack_incoming_webhook_and_api_errors(tmp_path: Path, emulator: Emulator) -> None:
    hook = Receiver().start()
    slack = slack_api("xoxb-right").start()
    docs = [secret_file(tmp_path, "incoming", hook.url("/services/T0/B0/XYZ")),
            secret_file(tmp_path, "wrong-bot", "xoxb-wrong"),
            alias_rule("incoming", action={"slack": {"incomingWebhookRef": {"name": "incoming"}}}),
            alias_rule("badtoken", action={"slack": {"tokenRef": {"name": "wrong-bot"}, "channel": "C1",
                                                     "apiUrl": slack.url("/api")}})]
    try:
        # a bad token is retried (the secret is re-read) up to the operator's --retry-max-attempts; short backoff
        # as an operator would configure it, so the test does not wait out the default 2 s doubling
        records = {r.automation: r for r in await Harness(tmp_path, emulator, docs, retry_backoff=0.05,
                                                          retry_max_backoff=0.2).deliver(
            lambda: add_alias(emulator, "production"), 2, timeout=60)}
    finally:
        hook.stop()
        slack.stop()
    assert records["incoming"].status.phase is Phase.FINISHED
    assert hook.requests[0].path == "/services/T0/B0/XYZ" and "attachments" in hook.requests[0].json()
    assert "/services/T0" not in records["incoming"].spec.action.target  # the URL is a secret
    bad = records["badtoken"]
    assert bad.status.phase is Phase.FAILED and "invalid_auth" in (bad.status.error or "")
    assert bad.status.attempts == 5 and (bad.status.error or "").startswith("gave up after 5 attempts")


async def test_launch_pushes_to_the_run_queue(tmp_path: Path, emulator: Emulator) -> None:
    emulator.state.create_run_queue("acme", "model-registry", "gpu-queue")
    docs = [alias_rule("retrain", action={"launch": {
        "queue": "gpu-queue", "job": "acme/fraud/job-train", "jobVersion": "latest", "project": "fraud-retrain",
        "overrides": {"args": ["--model", "${artifact_version_string}"],
                      "runConfig": {"epochs": 5, "source": "${artifact_version}"}}, "priority": 1}})]
    records = await Harness(tmp_path, emulator, docs).deliver(lambda: add_alias(emulator, "production"))
    assert records[0].status.phase is Phase.FINISHED, records[0].status.error
    items = emulator.state.queue_items("acme", "model-registry", "gpu-queue")
    assert len(items) == 1
    spec = items[0].run_spec if hasattr(items[0], "run_spec") else items[0]["runSpec"]
    spec = json.loads(spec) if isinstance(spec, str) else spec
    assert spec["job"] == "acme/fraud/job-train:latest"
    assert spec["project"] == "fraud-retrain" and spec["entity"] == "acme"
    assert spec["overrides"]["args"] == ["--model", "acme/fraud/fraud-model:production"]
    assert spec["overrides"]["run_config"]["epochs"] == 5
    assert spec["overrides"]["run_config"]["source"].startswith("wandb-artifact://_id/")
    assert records[0].status.result and "runQueueItem" in records[0].status.result


async def test_rate_limit_records_skipped(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver().start()
    docs = [webhook(url=receiver.url()), alias_rule(rateLimit={"maxExecutions": 1, "period": "1h"})]
    try:
        records = await Harness(tmp_path, emulator, docs).deliver(
            lambda: (add_alias(emulator, "a"), add_alias(emulator, "b")), 2)
    finally:
        receiver.stop()
    phases = sorted(r.status.phase.value for r in records)
    assert phases == ["Finished", "Skipped"]
    skipped = next(r for r in records if r.status.phase is Phase.SKIPPED)
    assert "rate limit" in (skipped.status.error or "") and len(receiver.requests) == 1
