"""End to end, standalone runtime: every W&B event kind made by the real ``wandb`` SDK exactly as a user makes
it (``wandb.init`` + ``run.log`` / ``run.log_artifact`` / a failing run, ``artifact.aliases``/``tags`` +
``save()``, ``artifact.link()`` / ``unlink()``, a collection's ``tags`` + ``save()``) against the emulator,
and the signed webhook a real loopback receiver gets for it, checked with an independent HMAC.

The SDK runs in a worker thread (its calls block) while the engine polls on the event loop; it talks only
to the emulator on 127.0.0.1 (:func:`tests.support.emulator.sdk_sandbox` fails the test otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb

from tests.e2e.test_events_to_webhooks import COLLECTION, PROJECT, REGISTRY, SECRET, rule, signed_webhook
from tests.support.emulator import run_settings, sdk_sandbox
from tests.support.receiver import Receiver
from tests.support.standalone import API_KEY, Harness, finished
from wbauto.emulator import Emulator, State

ORG, REGISTRY_PROJECT = "acme-org", "wandb-registry-model"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """acme/fraud with fraud-model v0 (logged by alice, the API key's user), the registry ``model`` of
    acme-org, and the SDK pointed at it."""
    with Emulator(api_key=API_KEY, state=State(viewer="alice")) as emu, \
            sdk_sandbox(tmp_path / "sdk", base_url=emu.url, api_key=API_KEY):
        emu.state.create_organization(ORG, entity=ORG, teams=["acme"])
        emu.state.create_registry(ORG, "model")
        emu.state.log_artifact("acme", "fraud", "fraud-model", metadata={"accuracy": 0.9})
        yield emu


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(secret=SECRET).start()
    yield r
    r.stop()


@pytest.fixture
def api(emulator: Emulator) -> wandb.Api:
    return wandb.Api(api_key=API_KEY, overrides={"base_url": emulator.url}, timeout=30)


async def deliver(tmp_path: Path, emulator: Emulator, receiver: Receiver, event: dict[str, Any],
                  scope: dict[str, Any], user_does: Callable[[], Any], count: int = 1,
                  **spec: Any) -> list[dict[str, Any]]:
    """Start the engine on one Automation, let the SDK do what a user does, wait for ``count`` finished
    executions; the bodies the receiver got, each signature verified."""
    harness = Harness(tmp_path, emulator, [*signed_webhook(receiver, tmp_path), rule("sdk", scope, event, **spec)])
    await harness.start()
    try:
        await asyncio.to_thread(user_does)
        records = await harness.executions(count)
    finally:
        await harness.stop()
    assert len(finished(records)) == len(records) == count, [(r.automation, r.status.error) for r in records]
    requests = receiver.wait_for(count)
    assert len(requests) == count and all(r.signature_ok for r in requests), "signed with the Webhook's secret"
    return receiver.bodies()


def training_run(run_id: str, rows: list[dict[str, float]], *, fail: bool = False) -> Callable[[], None]:
    """A training script: ``wandb.init``, one ``run.log`` per row, then it ends (or raises)."""

    def train() -> None:
        with wandb.init(entity="acme", project="fraud", id=run_id, name=f"train-{run_id}",
                        settings=run_settings()) as run:
            for row in rows:
                run.log(row)
            if fail:
                raise RuntimeError("training diverged")

    def train_and_catch() -> None:
        with pytest.raises(RuntimeError, match="diverged"):
            train()

    return train_and_catch if fail else train


async def test_create_artifact_from_run_log_artifact(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"fraud-model-weights")
    logged: list[wandb.Artifact] = []

    def log_version() -> None:
        with wandb.init(entity="acme", project="fraud", id="train-7", settings=run_settings()) as run:
            artifact = wandb.Artifact("fraud-model", type="model", metadata={"accuracy": 0.95})
            artifact.add_file(str(weights))
            logged.append(run.log_artifact(artifact).wait())

    [body] = await deliver(tmp_path, emulator, receiver, {"artifactVersionCreated": {}}, COLLECTION, log_version)
    assert (body["event_type"], body["author"], body["version_string"], body["accuracy"]) == (
        "CREATE_ARTIFACT", "alice", "acme/fraud/fraud-model:v1", "0.95")
    assert body["version"] == f"wandb-artifact://_id/{logged[0].id}"
    stored = emulator.state.project("acme", "fraud").collections["fraud-model"].memberships[1].artifact  # type: ignore[union-attr]
    assert stored.files["model.pt"].data == b"fraud-model-weights"


async def test_link_model_from_artifact_link(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                             api: wandb.Api) -> None:
    def link() -> None:
        api.artifact("acme/fraud/fraud-model:v0").link(f"{REGISTRY_PROJECT}/fraud-detector", aliases=["staging"])

    [body] = await deliver(tmp_path, emulator, receiver, {"artifactLinked": {}}, REGISTRY, link)
    assert (body["event_type"], body["entity"], body["project"], body["collection"]) == (
        "LINK_ARTIFACT", ORG, REGISTRY_PROJECT, "fraud-detector")
    assert body["version_string"] == f"{ORG}/{REGISTRY_PROJECT}/fraud-detector:v0"


async def test_unlink_artifact_from_unlink(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                           api: wandb.Api) -> None:
    v0 = emulator.state.project("acme", "fraud").collections["fraud-model"].memberships[0].artifact  # type: ignore[union-attr]
    emulator.state.link_artifact(v0.id, entity=ORG, project=REGISTRY_PROJECT, collection="fraud-detector")

    def unlink() -> None:
        api.artifact(f"{ORG}/{REGISTRY_PROJECT}/fraud-detector:v0").unlink()

    [body] = await deliver(tmp_path, emulator, receiver, {"artifactUnlinked": {}}, REGISTRY, unlink)
    assert (body["event_type"], body["collection"], body["project"]) == (
        "UNLINK_ARTIFACT", "fraud-detector", REGISTRY_PROJECT)
    assert body["version"] == f"wandb-artifact://_id/{v0.id}"


async def test_add_artifact_alias_from_aliases_and_save(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                                        api: wandb.Api) -> None:
    def promote() -> None:
        artifact = api.artifact("acme/fraud/fraud-model:v0")
        artifact.aliases.append("production")
        artifact.save()

    [body] = await deliver(tmp_path, emulator, receiver, {"artifactAliasAdded": {"aliasRegex": "^production$"}},
                           PROJECT, promote)
    assert (body["event_type"], body["alias"], body["version_string"]) == (
        "ADD_ARTIFACT_ALIAS", "production", "acme/fraud/fraud-model:production")


async def test_add_artifact_tag_from_tags_and_save(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                                   api: wandb.Api) -> None:
    def tag() -> None:
        artifact = api.artifact("acme/fraud/fraud-model:v0")
        artifact.tags = [*artifact.tags, "eval-passed"]
        artifact.save()

    [body] = await deliver(tmp_path, emulator, receiver, {"artifactTagAdded": {"tagRegex": "^eval"}}, PROJECT, tag)
    assert (body["event_type"], body["tag"], body["version_string"]) == (
        "ADD_ARTIFACT_TAG", "eval-passed", "acme/fraud/fraud-model:v0")


async def test_remove_artifact_tag_from_tags_and_save(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                                      api: wandb.Api) -> None:
    emulator.state.add_tag("acme", "fraud", "fraud-model", "v0", "candidate")

    def untag() -> None:
        artifact = api.artifact("acme/fraud/fraud-model:v0")
        artifact.tags.remove("candidate")
        artifact.save()

    [body] = await deliver(tmp_path, emulator, receiver, {"artifactTagRemoved": {}}, PROJECT, untag)
    assert (body["event_type"], body["tag"]) == ("REMOVE_ARTIFACT_TAG", "candidate")


async def test_add_collection_tag_from_collection_save(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                                       api: wandb.Api) -> None:
    def tag() -> None:
        collection = api.artifact_collection("model", "acme/fraud/fraud-model")
        collection.tags = ["team-a"]
        collection.save()

    [body] = await deliver(tmp_path, emulator, receiver, {"collectionTagAdded": {}}, PROJECT, tag)
    assert (body["event_type"], body["tag"], body["collection"]) == ("ADD_COLLECTION_TAG", "team-a", "fraud-model")


async def test_remove_collection_tag_from_collection_save(tmp_path: Path, emulator: Emulator, receiver: Receiver,
                                                          api: wandb.Api) -> None:
    emulator.state.add_collection_tag("acme", "fraud", "fraud-model", "team-a")

    def untag() -> None:
        collection = api.artifact_collection("model", "acme/fraud/fraud-model")
        collection.tags = []
        collection.save()

    [body] = await deliver(tmp_path, emulator, receiver, {"collectionTagRemoved": {}}, PROJECT, untag)
    assert (body["event_type"], body["tag"], body["collection"]) == ("REMOVE_COLLECTION_TAG", "team-a", "fraud-model")


async def test_run_metric_from_run_log(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    losses = [0.9, 0.8, 0.7, 0.06, 0.05, 0.04]
    [body] = await deliver(tmp_path, emulator, receiver,
                           {"runMetricThreshold": {"metric": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$lt",
                                                   "threshold": 0.1}},
                           PROJECT, training_run("r-metric", [{"loss": v} for v in losses]))
    assert (body["event_type"], body["run"], body["metric"], body["author"]) == (
        "RUN_METRIC", "train-r-metric", "loss", "alice")
    assert body["filter"] == "AVERAGE(loss) over 3 < 0.1"


async def test_run_metric_change_from_run_log(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    accuracies = [0.5, 0.52, 0.48, 0.9, 0.9]
    [body] = await deliver(tmp_path, emulator, receiver,
                           {"runMetricChange": {"metric": "acc", "agg": "AVERAGE", "currentWindow": 2,
                                                "priorWindow": 3, "changeType": "RELATIVE", "direction": "INCREASE",
                                                "amount": 0.5}},
                           PROJECT, training_run("r-change", [{"acc": v} for v in accuracies]))
    assert (body["event_type"], body["run"], body["metric"]) == ("RUN_METRIC_CHANGE", "train-r-change", "acc")


async def test_run_metric_zscore_from_run_log(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    accuracies = [0.5, 0.52, 0.48, 0.51, 0.9]
    [body] = await deliver(tmp_path, emulator, receiver,
                           {"runMetricZScore": {"metric": "acc", "window": 4, "threshold": 2.0,
                                                "direction": "INCREASE"}},
                           PROJECT, training_run("r-zscore", [{"acc": v} for v in accuracies]))
    assert (body["event_type"], body["run"], body["metric"]) == ("RUN_METRIC_ZSCORE", "train-r-zscore", "acc")


async def test_run_state_from_a_failing_run(tmp_path: Path, emulator: Emulator, receiver: Receiver) -> None:
    [body] = await deliver(tmp_path, emulator, receiver, {"runStateChanged": {"states": ["FAILED"]}}, PROJECT,
                           training_run("r-state", [{"loss": 0.5}], fail=True), runFilter={"nameRegex": "^train-"})
    assert (body["event_type"], body["run"], body["status"], body["author"]) == (
        "RUN_STATE", "train-r-state", "FAILED", "alice")
    assert emulator.state.project("acme", "fraud").runs["r-state"].exitcode == 1  # type: ignore[union-attr]
