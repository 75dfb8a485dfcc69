"""The status loop on its own (no cluster): what it reports, in which order, as objects come and go."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.manifests import automation, obj, webhook
from tests.support.standalone import until
from wbauto.actions import egress
from wbauto.runtime.reconciler import Reconciler
from wbauto.runtime.world import Key, World
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver


class Recorder:
    """A Reporter that keeps what would go to the apiserver."""

    def __init__(self) -> None:
        self.statuses: list[tuple[Key, str, str]] = []  # (key, Ready status, reason)
        self.events: list[tuple[Key, bool, str]] = []

    async def status(self, key: Key, body: dict[str, Any], status: dict[str, Any]) -> None:
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        self.statuses.append((key, ready["status"], ready["reason"]))

    async def event(self, key: Key, body: dict[str, Any], warning: bool, reason: str, message: str) -> None:
        self.events.append((key, warning, reason))


def loop(tmp_path: Path, secret: str | None) -> tuple[Reconciler, Recorder]:
    if secret is not None:
        (tmp_path / "sig").write_text(secret)
    world = World()
    recorder = Recorder()
    resolver = Resolver(secrets_base.Context(allow_local=True), world.secret_reference)
    return Reconciler(world, resolver, egress.Policy.build(allow_private=True), recorder), recorder


async def settle(reconciler: Reconciler, want: int) -> None:
    """Run the loop until ``want`` objects have a decision (deadline: 10 s)."""
    task = asyncio.create_task(reconciler.run())
    try:
        await until(lambda: len(reconciler.world.ready) >= want, 10, f"{want} decisions")
    finally:
        task.cancel()


def documents(tmp_path: Path, automations: int) -> list[dict[str, Any]]:
    docs = [obj("SecretReference", "sig", {"file": {"path": str(tmp_path / "sig")}}),
            webhook(url="http://127.0.0.1:9/hook", secretRef={"name": "sig"})]
    return docs + [automation(f"a{i}") for i in range(automations)]


async def test_at_startup_dependents_wait_for_their_references_instead_of_warning(tmp_path: Path) -> None:
    reconciler, recorder = loop(tmp_path, "signing-secret")
    # dependents first, as a directory listing or a watch may deliver them
    for doc in reversed(documents(tmp_path, 20)):
        reconciler.observe(doc)
    await settle(reconciler, 22)
    assert all(status == "True" for _, status, _ in recorder.statuses), recorder.statuses
    assert len(recorder.statuses) == 22  # one status each: no passing "not Ready" first
    assert not [e for e in recorder.events if e[1]]  # and no Warning Events


async def test_a_reference_that_is_not_ready_is_reported_by_its_dependents(tmp_path: Path) -> None:
    reconciler, recorder = loop(tmp_path, None)  # the secret's file does not exist
    for doc in documents(tmp_path, 2):
        reconciler.observe(doc)
    await settle(reconciler, 4)
    reasons = {key[0]: reason for key, _, reason in recorder.statuses}
    assert reasons == {"SecretReference": "SecretNotFound", "Webhook": "SecretReferenceNotReady",
                       "Automation": "WebhookNotReady"}
