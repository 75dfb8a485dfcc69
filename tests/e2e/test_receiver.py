"""The inbound receiver: W&B-native webhook deliveries become the same Events the poller produces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.controlplane import free_port
from tests.support.manifests import automation, obj, webhook
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY, Harness
from wbauto.api.execution import Phase
from wbauto.emulator.server import Emulator

SECRET = "inbound-signing-secret"
TOKEN = "inbound-access-token"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """W&B with the project the events name: an Automation on a project W&B does not have is not Ready
    (its poll fails), whether or not the poll's answer came before the readiness check."""
    with Emulator(api_key=API_KEY) as emu:
        emu.state.create_project("acme", "fraud")
        yield emu


def wandb_payload(**overrides: Any) -> dict[str, Any]:
    payload = {"event_type": "ADD_ARTIFACT_ALIAS", "event_author": "alice", "entity_name": "acme",
               "project_name": "fraud", "artifact_version": "wandb-artifact://_id/QXJ0aWZhY3Q6OQ==",
               "artifact_version_string": "acme/fraud/fraud-model:production",
               "artifact_collection_name": "fraud-model", "alias": "production", "tag": "",
               "run_name": "", "run_status": ""}
    payload.update(overrides)
    return payload


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_signed_deliveries_become_executions_and_bad_ones_are_refused(tmp_path: Path,
                                                                           emulator: Emulator) -> None:
    downstream = Receiver().start()
    (tmp_path / "inbound-secret").write_text(SECRET)
    (tmp_path / "inbound-token").write_text(TOKEN)
    port = free_port()
    docs = [obj("SecretReference", "inbound-secret", {"file": {"path": str(tmp_path / "inbound-secret")}}),
            obj("SecretReference", "inbound-token", {"file": {"path": str(tmp_path / "inbound-token")}}),
            webhook(url=downstream.url()),
            automation("fan-out", scope={"project": {"entity": "acme", "project": "fraud"}},
                       event={"artifactAliasAdded": {"aliasRegex": "^prod"}},
                       action={"webhook": {"webhookRef": {"name": "hook"},
                                           "payload": '{"from": "${event_author}", "v": "${artifact_version}"}'}})]
    harness = Harness(tmp_path, emulator, docs, receiver_address=f"127.0.0.1:{port}",
                      receiver_secret_ref="default/inbound-secret", receiver_token_ref="default/inbound-token")
    await harness.start(wait_first_poll=False)
    url = f"http://127.0.0.1:{port}/wandb/events"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient() as client:
            body = json.dumps(wandb_payload()).encode()
            metric = json.dumps(wandb_payload(event_type="RUN_METRIC", run_name="r")).encode()
            ok = await client.post(url, content=body, headers={**auth, "X-Wandb-Signature": sign(body)})
            assert ok.status_code == 202 and ok.json()["executions"] == 1
            again = await client.post(url, content=body, headers={**auth, "X-Wandb-Signature": sign(body)})
            assert again.status_code == 202 and again.json()["executions"] == 0  # a redelivery: same event
            hexed = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert (await client.post(url, content=body, headers={**auth, "X-Wandb-Signature": hexed})
                    ).status_code == 202

            answers = {
                "unsigned": await client.post(url, content=body, headers=auth),
                "bad signature": await client.post(url, content=body, headers={
                    **auth, "X-Wandb-Signature": sign(body, "wrong")}),
                "bad token": await client.post(url, content=body, headers={
                    "Authorization": "Bearer nope", "Content-Type": "application/json",
                    "X-Wandb-Signature": sign(body)}),
                "not json": await client.post(url, content=b"{nope", headers={
                    **auth, "X-Wandb-Signature": sign(b"{nope")}),
                "not a W&B event": await client.post(url, content=b'{"event_type": "HELLO"}', headers={
                    **auth, "X-Wandb-Signature": sign(b'{"event_type": "HELLO"}')}),
                "metric event": await client.post(url, content=metric, headers={
                    **auth, "X-Wandb-Signature": sign(metric)}),
                "wrong content type": await client.post(url, content=body, headers={
                    **auth, "Content-Type": "text/plain", "X-Wandb-Signature": sign(body)}),
                "oversized": await client.post(url, content=b" " * (1024 * 1024 + 10), headers={
                    **auth, "X-Wandb-Signature": "x"}),
                "GET": await client.get(url),
            }
        codes = {name: r.status_code for name, r in answers.items()}
        assert codes == {"unsigned": 401, "bad signature": 401, "bad token": 401, "not json": 400,
                         "not a W&B event": 422, "metric event": 422, "wrong content type": 415,
                         "oversized": 413, "GET": 405}
        records = await harness.executions(1)
    finally:
        await harness.stop()
        downstream.stop()
    assert [r.status.phase for r in records] == [Phase.FINISHED]
    event = records[0].spec.event
    assert event.source.value == "receiver" and event.alias == "production" and event.author == "alice"
    assert downstream.bodies() == [{"from": "alice", "v": "wandb-artifact://_id/QXJ0aWZhY3Q6OQ=="}]
