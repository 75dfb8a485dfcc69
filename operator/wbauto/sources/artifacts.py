"""Artifact events from successive reads of one project (pure): collections, versions, aliases, tags.

The state kept between reads (in the project's cursor, JSON)::

    {"collections": {<collection id>: {
        "name": str, "type": "ArtifactSequence" | "ArtifactPortfolio",
        "tags": {<tag>: n}, "ctn": {<tag>: n},             # collection tags; n counts their additions
        "versions": {<artifact id>: {                       # None: the collection is not tracked (yet)
            "v": "v3",                                      # the version in this collection
            "a": {<alias>: [<W&B alias id>, n]}, "an": {<alias>: n},
            "t": {<tag>: n}, "tn": {<tag>: n}}} | None,
        "absent": [[kind, ...]],                            # absences seen once, awaiting a second read
        "gone": bool}}}                                     # absent from the last listing

**Identity from W&B's facts.** An event's id is built from what W&B says changed: the collection and
artifact ids, the version, the alias with W&B's own alias id (a new id when an alias is added again).
Where W&B exposes no id or time — a tag added to a version or a collection — the id counts that tag's
additions on that object (``n``); only the one poller of the project keeps that count, so the same
change read again (another cycle, a restart, another scope on the same project) has the same id.

**Absence is not deletion.** A collection missing from the listing is gone only when reading it by id
answers null; a version, alias or tag missing from a read is removed (and a removal event fires) only
when the next read confirms it. One empty or short answer from W&B therefore changes nothing.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from wbauto import telemetry
from wbauto.api.event import ArtifactInfo, Event, EventType, event_id
from wbauto.wbapi.client import printable

log = logging.getLogger("wbauto.poller")

MakeEvent = Callable[..., Event]
_VERSION = re.compile(r"v([0-9]{1,9})")


def parse_time(text: str | None) -> datetime.datetime:
    if not text:
        return datetime.datetime.fromtimestamp(0, datetime.UTC)
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def version_index(version: str) -> int | None:
    found = _VERSION.fullmatch(version)
    return int(found.group(1)) if found else None


def author(created_by: Mapping[str, Any] | None) -> str:
    """``${event_author}`` on the poll path: the version's creator (W&B exposes no actor for a link, an
    alias or a tag change; see docs/payload-variables.md)."""
    if not created_by:
        return ""
    if created_by.get("__typename") == "Run":
        return str((created_by.get("user") or {}).get("username") or "")
    return str(created_by.get("username") or "")


def decode(value: Any) -> Any:
    """A JSON string inside W&B's JSON (metadata, history rows, historyKeys) decoded, lone surrogates
    replaced; None when it is not JSON."""
    if isinstance(value, str):
        try:
            return printable(json.loads(value))
        except (ValueError, RecursionError):
            return None
    return value


def artifact_info(coll: Mapping[str, Any], edge: Mapping[str, Any], aliases: list[str]) -> ArtifactInfo:
    node = edge["node"]
    version = str(edge.get("version") or f"v{node.get('versionIndex', 0)}")
    metadata = decode(node.get("metadata"))
    index = version_index(version)
    return ArtifactInfo(
        id=str(node["id"]), collection=str(coll["name"]), collection_type=str(coll["type"]),
        type=str((node.get("artifactType") or {}).get("name") or ""),
        version_index=index if index is not None else _int(node.get("versionIndex")),
        version=version, digest=str(node.get("digest") or ""), aliases=aliases,
        tags=sorted(str(t["name"]) for t in node.get("tags") or []),
        metadata=metadata if isinstance(metadata, dict) else {},
        created_at=parse_time(node.get("createdAt")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def tracked(state: Mapping[str, Any], listing: list[Mapping[str, Any]], wanted: Collection[str] | None) -> list[str]:
    """The collection ids to read versions of: listed and wanted, plus tracked ones missing from the
    listing (their by-id read tells whether they are really gone)."""
    known: Mapping[str, Any] = state.get("collections") or {}
    ids = [str(c["id"]) for c in listing if wanted is None or c["name"] in wanted]
    listed = {str(c["id"]) for c in listing}
    ids += [cid for cid, e in known.items() if cid not in listed and e.get("versions") is not None]
    return ids


def diff(project: str, state: dict[str, Any], listing: list[Mapping[str, Any]],
         versions: Mapping[str, list[Mapping[str, Any]] | None], make: MakeEvent, *, quiet: bool) -> list[Event]:
    """Compare a new read (``listing`` of collections, ``versions`` by collection id: edges, or None when
    the collection answered null) with ``state`` (updated in place); return the events. ``quiet``
    (a baseline) records what is there and fires nothing. A collection whose data breaks the diff is
    reported and left as it was; the others go on."""
    known: dict[str, Any] = state.setdefault("collections", {})
    events: list[Event] = []
    listed = {str(c["id"]): c for c in listing}
    fresh: set[str] = set()
    for cid, node in listed.items():
        before = json.dumps(known.get(cid))
        try:
            entry = known.get(cid)
            tags = {str(e["node"]["name"]) for e in ((node.get("tags") or {}).get("edges") or [])}
            if entry is None:
                entry = known[cid] = {"name": str(node["name"]), "type": str(node["__typename"]),
                                      "tags": dict.fromkeys(sorted(tags), 1), "ctn": dict.fromkeys(sorted(tags), 1),
                                      "versions": None, "absent": [], "gone": False}
                if not quiet:
                    fresh.add(cid)  # appeared after the baseline: everything in it is new
            else:
                entry["name"], entry["type"], entry["gone"] = str(node["name"]), str(node["__typename"]), False
                events += _collection_tags(project, cid, entry, tags, make, quiet)
        except Exception as exc:
            _report(project, cid, exc, known, before)
    for cid in [c for c in known if c not in listed]:
        entry = known[cid]
        if cid in versions:
            if versions[cid] is None:
                del known[cid]  # read by id: W&B says it no longer exists
            else:
                entry["gone"] = False  # a short listing; the collection is still there
        elif entry.get("gone"):
            del known[cid]  # missing from two listings in a row (an untracked collection)
        else:
            entry["gone"] = True
    for cid, edges in versions.items():
        entry = known.get(cid)
        if entry is None or edges is None:
            continue
        before = json.dumps(entry)
        try:
            newly_tracked = entry["versions"] is None and cid not in fresh
            events += _versions(project, cid, entry, edges, make, quiet or newly_tracked)
        except Exception as exc:
            _report(project, cid, exc, known, before)
    return events


def _report(project: str, cid: str, exc: Exception, known: dict[str, Any], before: str) -> None:
    """A collection whose data the diff cannot handle: restore it, count it, say so once per cycle."""
    telemetry.POLL_ITEM_ERRORS.labels("collection").inc()
    log.warning("collection %s in project %s could not be compared (%s: %s); left as it was",
                cid, project, type(exc).__name__, exc)
    previous = json.loads(before)
    if previous is None:
        known.pop(cid, None)
    else:
        known[cid] = previous


def _pending(entry: dict[str, Any]) -> set[tuple[str, ...]]:
    return {tuple(str(p) for p in item) for item in entry.get("absent") or []}


def _collection_tags(project: str, cid: str, entry: dict[str, Any], tags: set[str], make: MakeEvent,
                     quiet: bool) -> list[Event]:
    pending = _pending(entry)
    counts: dict[str, int] = entry.setdefault("ctn", {})
    present: dict[str, int] = entry["tags"]
    info = ArtifactInfo(collection=entry["name"], collection_type=entry["type"])
    events: list[Event] = []
    for tag in sorted(tags):
        pending.discard(("c", tag))
        if tag not in present:
            n = present[tag] = counts[tag] = counts.get(tag, 0) + 1
            if not quiet:
                events.append(make(project, EventType.ADD_COLLECTION_TAG, event_id("ctag+", cid, tag, n), tag=tag,
                                   artifact=info))
    for tag in [t for t in present if t not in tags]:
        if ("c", tag) in pending:
            n = present.pop(tag)
            pending.discard(("c", tag))
            if not quiet:
                events.append(make(project, EventType.REMOVE_COLLECTION_TAG, event_id("ctag-", cid, tag, n), tag=tag,
                                   artifact=info))
        else:
            pending.add(("c", tag))
    entry["absent"] = [list(p) for p in sorted(pending)]
    return events


def _same_collection(alias: Mapping[str, Any], entry: Mapping[str, Any], project: str) -> bool:
    owner = alias.get("artifactCollection")
    if not owner:
        return True
    owner_project = owner.get("project") or {}
    return bool(owner.get("name") == entry["name"] and owner_project.get("name", project) == project)


def _versions(project: str, cid: str, entry: dict[str, Any], edges: list[Mapping[str, Any]], make: MakeEvent,
              quiet: bool) -> list[Event]:
    seen: dict[str, Any] = entry["versions"] or {}
    pending = _pending(entry)
    portfolio = entry["type"] == "ArtifactPortfolio"
    events: list[Event] = []
    present: set[str] = set()
    ordered = sorted(edges, key=lambda e: (str(e["node"].get("createdAt") or ""), str(e["node"]["id"])))
    for edge in ordered:
        node = edge["node"]
        if node.get("state") != "COMMITTED":
            continue  # pending uploads fire when they are committed
        art_id = str(node["id"])
        version = str(edge.get("version") or f"v{node.get('versionIndex', 0)}")
        aliases = {str(a["alias"]): str(a.get("id") or "") for a in node.get("aliases") or []
                   if _same_collection(a, entry, project)}
        tags = {str(t["name"]) for t in node.get("tags") or []}
        present.add(art_id)
        pending.discard(("v", art_id))
        info = artifact_info(entry, edge, sorted(aliases))
        by = author(node.get("createdBy"))

        def emit(kind: EventType, *parts: object, alias: str = "", tag: str = "", what: ArtifactInfo = info,
                 who: str = by) -> None:
            if not quiet:
                events.append(make(project, kind, event_id(*parts), author=who, alias=alias, tag=tag, artifact=what))

        old = seen.get(art_id)
        if old is None:
            old = seen[art_id] = {"v": version, "a": {}, "an": {}, "t": {}, "tn": {}}
            kind = EventType.LINK_MODEL if portfolio else EventType.CREATE_ARTIFACT
            emit(kind, "link" if portfolio else "create", cid, art_id, version)
        elif old["v"] != version and portfolio:  # unlinked and linked again between two reads
            gone = ArtifactInfo(id=art_id, collection=entry["name"], collection_type=entry["type"], version=old["v"],
                                version_index=version_index(old["v"]))
            emit(EventType.UNLINK_ARTIFACT, "unlink", cid, art_id, old["v"], what=gone, who="")
            emit(EventType.LINK_MODEL, "link", cid, art_id, version)
        old["v"] = version
        for alias, alias_id in sorted(aliases.items()):
            pending.discard(("a", art_id, alias))
            held = old["a"].get(alias)
            again = held is not None and bool(alias_id) and bool(held[0]) and held[0] != alias_id
            if held is None or again:
                n = old["an"][alias] = old["an"].get(alias, 0) + 1
                old["a"][alias] = [alias_id, n]
                emit(EventType.ADD_ARTIFACT_ALIAS, "alias", cid, art_id, alias, alias_id or f"#{n}", alias=alias)
            elif alias_id and not held[0]:
                held[0] = alias_id
        for alias in [a for a in old["a"] if a not in aliases]:
            if ("a", art_id, alias) in pending:
                del old["a"][alias]  # confirmed by a second read; no event (W&B has no alias-removed event)
                pending.discard(("a", art_id, alias))
            else:
                pending.add(("a", art_id, alias))
        for tag in sorted(tags):
            pending.discard(("t", art_id, tag))
            if tag not in old["t"]:
                n = old["t"][tag] = old["tn"][tag] = old["tn"].get(tag, 0) + 1
                emit(EventType.ADD_ARTIFACT_TAG, "tag+", cid, art_id, tag, n, tag=tag)
        for tag in [t for t in old["t"] if t not in tags]:
            if ("t", art_id, tag) in pending:
                n = old["t"].pop(tag)
                pending.discard(("t", art_id, tag))
                emit(EventType.REMOVE_ARTIFACT_TAG, "tag-", cid, art_id, tag, n, tag=tag)
            else:
                pending.add(("t", art_id, tag))
    for art_id in [a for a in seen if a not in present]:
        if ("v", art_id) not in pending:
            pending.add(("v", art_id))
            continue
        version = str(seen.pop(art_id).get("v") or "")
        pending = {p for p in pending if len(p) < 2 or p[1] != art_id}
        if portfolio and not quiet:
            gone = ArtifactInfo(id=art_id, collection=entry["name"], collection_type=entry["type"], version=version,
                                version_index=version_index(version))
            events.append(make(project, EventType.UNLINK_ARTIFACT, event_id("unlink", cid, art_id, version),
                               artifact=gone))
    entry["versions"] = seen
    entry["absent"] = [list(p) for p in sorted(pending)]
    return events


def migrate(state: dict[str, Any]) -> dict[str, Any]:
    """A project's artifact state from a version-1 cursor (lists of aliases and tags) to this shape."""
    for entry in (state.get("collections") or {}).values():
        if isinstance(entry.get("tags"), list):
            entry["tags"] = dict.fromkeys(entry["tags"], 1)
            entry["ctn"] = dict(entry["tags"])
        entry.setdefault("absent", [])
        entry.setdefault("gone", False)
        entry.pop("baseline", None)
        for version in (entry.get("versions") or {}).values():
            if isinstance(version.get("a"), list):
                version["a"] = {a: ["", 1] for a in version["a"]}
                version["an"] = dict.fromkeys(version["a"], 1)
            if isinstance(version.get("t"), list):
                version["t"] = dict.fromkeys(version["t"], 1)
                version["tn"] = dict(version["t"])
    return state
