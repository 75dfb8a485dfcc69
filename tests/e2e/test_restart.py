"""Restarts: durable cursors (no loss, no repeat) and a SIGKILL in the middle of a burst."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from tests.support.controlplane import wait_until
from tests.support.manifests import automation, webhook
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY, Harness, until
from wbauto.api.execution import Phase
from wbauto.emulator.server import Emulator

PROJECT = {"project": {"entity": "acme", "project": "fraud"}}
PAYLOAD = '{"tag": "${tag}", "alias": "${alias}", "type": "${event_type}"}'


def documents(receiver: Receiver) -> list[dict[str, object]]:
    action = {"webhook": {"webhookRef": {"name": "hook"}, "payload": PAYLOAD}}
    return [webhook(url=receiver.url(), retry={"maxAttempts": 100, "backoff": "50ms", "maxBackoff": "200ms"}),
            automation("tags", scope=PROJECT, event={"artifactTagAdded": {}}, action=action),
            automation("aliases", scope=PROJECT, event={"artifactAliasAdded": {}}, action=action)]


async def test_stop_make_events_start_each_event_exactly_once(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver().start()
    state = emulator.state
    try:
        harness = Harness(tmp_path, emulator, documents(receiver))
        await harness.start()
        state.add_tag("acme", "fraud", "fraud-model", "v0", "before-stop")
        await harness.executions(1)
        await harness.stop()

        # while the operator is down
        state.add_tag("acme", "fraud", "fraud-model", "v0", "while-down-1")
        state.add_tag("acme", "fraud", "fraud-model", "v0", "while-down-2")
        state.add_alias("acme", "fraud", "fraud-model", "v0", "staging")
        state.log_artifact("acme", "fraud", "fraud-model", author="bob")  # `latest` moves to v1: an alias event

        harness = Harness(tmp_path, emulator, documents(receiver))
        await harness.start(wait_first_poll=False)
        records = await harness.executions(5)
        await harness.stop()
        # a third start with nothing new: nothing is produced again
        harness = Harness(tmp_path, emulator, documents(receiver))
        await harness.start()
        assert harness.app is not None
        again = await harness.app.store.history(limit=100)
        await harness.stop()
    finally:
        receiver.stop()
    seen = sorted((b["type"], b["tag"] or b["alias"]) for b in receiver.bodies())
    assert seen == sorted([("ADD_ARTIFACT_TAG", "before-stop"), ("ADD_ARTIFACT_TAG", "while-down-1"),
                           ("ADD_ARTIFACT_TAG", "while-down-2"), ("ADD_ARTIFACT_ALIAS", "staging"),
                           ("ADD_ARTIFACT_ALIAS", "latest")]), seen
    assert len(records) == len(again) == 5
    assert all(r.status.phase is Phase.FINISHED for r in again)


def test_sigkill_mid_burst_then_restart_delivers_everything(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver(delay=0.1).start()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "all.yaml").write_text(yaml.safe_dump_all(documents(receiver)))
    (tmp_path / "key").write_text(API_KEY)
    args = [sys.executable, "-m", "wbauto", "run", "--manifests", str(manifests), "--state",
            str(tmp_path / "state.sqlite"), "--allow-cidr", "127.0.0.1/32", "--wandb-base-url", emulator.url,
            "--wandb-api-key-file", str(tmp_path / "key"), "--poll-interval", "300ms", "--workers", "4",
            "--metrics-address", "", "--health-address", "", "--log-format", "json"]
    log = open(tmp_path / "operator.log", "ab")  # noqa: SIM115 - closed below
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

    tags = [f"burst-{i:02d}" for i in range(40)]
    proc = start()
    try:
        # the first poll records a baseline; wait for it through the emulator's request counter
        wait_until(lambda: emulator.state.stats().get("WbautoCollectionVersions", 0) >= 1, 30, "the first poll")
        for tag in tags:
            emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", tag)
        receiver.wait_for(8)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = len(receiver.requests)
        assert killed_at < len(tags), "the burst finished before the kill; slow the receiver down"
        proc = start()
        wait_until(lambda: {r.json()["tag"] for r in receiver.requests} >= set(tags), 60,
                   "every tag delivered after the restart")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
        log.close()
        receiver.stop()
    deliveries: dict[str, set[str]] = defaultdict(set)
    for request in receiver.requests:
        deliveries[request.json()["tag"]].add(request.headers["X-Wbauto-Delivery"])
    assert set(deliveries) == set(tags)
    assert all(len(ids) == 1 for ids in deliveries.values()), "a duplicate carried a different delivery id"
    assert len({next(iter(ids)) for ids in deliveries.values()}) == len(tags)


async def test_reenabling_does_not_replay_what_happened_while_disabled(tmp_path: Path, emulator: Emulator) -> None:
    receiver = Receiver().start()
    emulator.state.log_artifact("acme", "solo", "model", author="alice")
    docs = documents(receiver)
    docs[1]["spec"]["enabled"] = False  # "tags", alone on its scope: nothing else keeps that scope polled
    docs[1]["spec"]["scope"] = {"project": {"entity": "acme", "project": "solo"}}
    harness = Harness(tmp_path, emulator, docs)
    app = await harness.start()
    try:
        emulator.state.add_tag("acme", "solo", "model", "v0", "while-disabled")
        # the scope stays polled while its Automation is disabled: wait for a cycle that sees the tag
        seen = app.engine.pollers.cycles if app.engine.pollers else 0
        await until(lambda: app.engine.pollers is not None and app.engine.pollers.cycles >= seen + 2, 30, "polls")
        docs[1]["spec"]["enabled"] = True
        (harness.manifests / "all.yaml").write_text(yaml.safe_dump_all(docs))
        await until(lambda: all(r.spec.enabled for r in app.world.automations()), 30, "re-enabled")  # type: ignore[attr-defined]
        emulator.state.add_tag("acme", "solo", "model", "v0", "after")
        records = await harness.executions(1)
        await until(lambda: receiver.requests, 30, "the delivery")
    finally:
        await harness.stop()
        receiver.stop()
    assert [b["tag"] for b in receiver.bodies()] == ["after"]
    assert len(records) == 1
