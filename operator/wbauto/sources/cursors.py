"""A project's cursor: what its poller has read, stored durably so a restart neither loses nor repeats
events.

A cursor is loaded from the store once (a version-1 cursor is upgraded), copied for each cycle and saved
after the cycle's executions are stored (see :mod:`wbauto.sources.poller`). It starts from a fresh
baseline — what is there is recorded and fires nothing — when there is none, when its project is first
polled late (an Automation added on a new scope), and when it is older than :data:`MAX_CATCH_UP`: old
history is not replayed. Shape::

    {"v": 2, "baseline": <time>, "saved": <time>,
     "state": {"artifacts": ..., "seen_a": bool, "runs": ..., "seen_r": bool}}

(``artifacts`` and ``runs``: see :mod:`wbauto.sources.artifacts` and :mod:`wbauto.sources.runs`.)
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wbauto.sources import artifacts
from wbauto.sources.plan import ScopeKey

log = logging.getLogger("wbauto.poller")

LoadCursor = Callable[[str], Awaitable[dict[str, Any] | None]]
SaveCursor = Callable[[str, dict[str, Any]], Awaitable[None]]
Clock = Callable[[], datetime.datetime]

MAX_CATCH_UP = datetime.timedelta(hours=24)  # an older cursor is not replayed: the project starts afresh
CURSOR_VERSION = 2


def iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Cursor:
    """One project's cursor, as last loaded or saved (None: not loaded yet)."""

    key: ScopeKey
    rebaseline: bool  # start from a fresh baseline whatever the store holds
    stored: dict[str, Any] | None = None

    @property
    def store_key(self) -> str:
        return f"scope:{self.key}"

    async def open(self, load: LoadCursor, now: Clock) -> dict[str, Any]:
        """A working copy for one cycle (loaded once, from the store)."""
        if self.stored is None:
            loaded = upgrade(await load(self.store_key), self.key)
            stale = loaded is not None and now() - artifacts.parse_time(loaded.get("saved")) > MAX_CATCH_UP
            if stale:
                log.warning("cursor of %s is older than %s: starting from now, not replaying", self.key, MAX_CATCH_UP)
            if loaded is None or self.rebaseline or stale:
                loaded = {"v": CURSOR_VERSION, "baseline": iso(now()), "state": {}}
            self.stored = loaded
        copy: dict[str, Any] = json.loads(json.dumps(self.stored))
        return copy

    async def commit(self, cursor: dict[str, Any], changed_events: bool, save: SaveCursor, now: Clock) -> None:
        """Keep ``cursor`` (the cycle's working copy); save it when it changed, after events, or now and then."""
        saved = artifacts.parse_time(cursor.get("saved"))
        if changed_events or cursor != self.stored or now() - saved > MAX_CATCH_UP / 4:
            cursor["saved"] = iso(now())  # refreshed now and then even when nothing changes
            await save(self.store_key, cursor)
        self.stored = cursor


def upgrade(loaded: dict[str, Any] | None, key: ScopeKey) -> dict[str, Any] | None:
    """A cursor in this version's shape (version-1 cursors held every project of a scope)."""
    if loaded is None or loaded.get("v") == CURSOR_VERSION:
        return loaded
    project_state = dict((loaded.get("projects") or {}).get(str(key.project)) or {})
    state: dict[str, Any] = {}
    if "collections" in project_state:
        state["artifacts"] = artifacts.migrate({"collections": project_state["collections"]})
        state["seen_a"] = True
    if "runs" in project_state:
        state["runs"] = {"runs": project_state["runs"], "seen": project_state.get("seen")}
        for entry in state["runs"]["runs"].values():
            entry.setdefault("sn", {entry.get("state", ""): 1})
        state["seen_r"] = True
    return {"v": CURSOR_VERSION, "baseline": loaded.get("baseline"), "saved": loaded.get("saved"), "state": state}
