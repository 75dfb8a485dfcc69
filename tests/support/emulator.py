"""Helpers for tests that run the W&B emulator: a hand-driven clock and a GraphQL call over HTTP."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

API_KEY = "e" * 40
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    """A clock that only moves when told to (``advance``)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """POST one GraphQL request; the decoded body of a 200 answer."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seed_scopes(emulator: Any, documents: Iterable[Any]) -> None:
    """Create in the emulator every project, registry (with its organization) and entity the Automations
    among ``documents`` watch, so the operator's polls find them. Idempotent."""
    import contextlib

    from wbauto.emulator.state import EmulatorError

    state = emulator.state
    automations = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Automation"]
    # registries first: their organization's entity must not already exist as a team
    automations.sort(key=lambda d: "registry" not in ((d.get("spec") or {}).get("scope") or {}))
    for doc in automations:
        scope = (doc.get("spec") or {}).get("scope") or {}
        with contextlib.suppress(EmulatorError):
            if "project" in scope:
                state.create_project(scope["project"]["entity"], scope["project"]["project"])
            elif "collection" in scope:
                state.create_project(scope["collection"]["entity"], scope["collection"]["project"])
            elif "entity" in scope:
                state.create_project(scope["entity"]["name"], "default")
            elif "registry" in scope:
                organization = scope["registry"]["organization"]
                with contextlib.suppress(EmulatorError):
                    state.create_organization(organization, entity=organization)
                state.create_registry(organization, scope["registry"]["name"])
