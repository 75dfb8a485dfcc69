"""Helpers for tests that run the W&B emulator: a hand-driven clock and a GraphQL call over HTTP."""

from __future__ import annotations

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
