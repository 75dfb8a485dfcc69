"""W&B's filter expressions evaluated against an event (pure): the MongoDB-style language of
``wbauto.api.filters``, with W&B's meanings.

- A node holds when every key holds; ``$and`` (every node), ``$or`` (one node), ``$nor`` (no node), ``$not``
  (the node does not hold).
- A field's operators all hold. On a list value (a run's tags, a version's aliases) an operator holds when it
  holds for one element, as in MongoDB: ``tags: {$in: [a, b]}`` is "one of the tags is a or b",
  ``tags: {$eq: a}`` "a is one of the tags"; ``$ne`` and ``$nin`` hold when no element matches. ``$eq`` with a
  list operand also holds when the whole list is equal. ``$all``: the list holds every operand; ``$size``:
  its length.
- ``$contains`` is W&B's substring match (``display_name: {$contains: train}`` holds for ``train-42``); on a
  list, for one element. ``$regex`` is RE2 (W&B's regex engine, and Kubernetes CEL's), searched, not anchored.
- A missing field (a run without a group, a collection event's version aliases) satisfies only ``$ne``,
  ``$nin``, ``$exists: false`` and a ``$not`` whose operators do not hold.
- Comparisons (``$gt $gte $lt $lte``) compare numbers with numbers, text with text, booleans with booleans
  and the run's ``createdAt`` with ISO 8601 text as times; anything else does not compare (false). ``true``
  equals only ``true``, never ``1``.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import re2

from wbauto.api.event import Event, EventType, RunInfo

MISSING: Any = object()
"""The value of a field the event does not have."""

Lookup = Callable[[str], Any]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@functools.cache
def compiled(pattern: str) -> re2._Regexp:
    """An RE2 pattern, compiled once (patterns come from manifests: bounded, checked at admission)."""
    return re2.compile(pattern, _OPTIONS)


def search(pattern: str, text: str) -> bool:
    return compiled(pattern).search(text) is not None


# --- the values a filter reads -----------------------------------------------------------------------------

_ADDED_TAGS = (EventType.ADD_ARTIFACT_TAG, EventType.REMOVE_ARTIFACT_TAG, EventType.ADD_COLLECTION_TAG,
               EventType.REMOVE_COLLECTION_TAG)


def artifact_lookup(event: Event) -> Lookup:
    """``alias``: the alias added (artifactAliasAdded), else the version's aliases; ``tag``: the tag added or
    removed (tag events), else the version's tags. A collection event has no version: both missing then."""
    art = event.artifact
    has_version = art is not None and bool(art.id or art.version)

    def lookup(field: str) -> Any:
        if field == "alias":
            if event.type is EventType.ADD_ARTIFACT_ALIAS:
                return event.alias or MISSING
            return list(art.aliases) if art is not None and has_version else MISSING
        if field == "tag":
            if event.type in _ADDED_TAGS:
                return event.tag or MISSING
            return list(art.tags) if art is not None and has_version else MISSING
        return MISSING

    return lookup


def run_lookup(run: RunInfo) -> Lookup:
    """The run fields of W&B's run filters: display_name (displayName), name (the id), username, state (as
    W&B spells it: running, finished, ...), tags, group, jobType, createdAt, duration (seconds from creation
    to the last heartbeat), config.<path> (through W&B's ``{"value": ...}`` wrapper) and
    summary_metrics.<path>."""
    duration = (run.heartbeat_at - run.created_at).total_seconds() if run.heartbeat_at and run.created_at else None
    plain: dict[str, Any] = {
        "display_name": run.display_name or run.id, "displayName": run.display_name or run.id, "name": run.id,
        "username": run.user, "state": run.state.lower(), "tags": list(run.tags), "group": run.group,
        "jobType": run.job_type, "createdAt": run.created_at, "duration": duration,
    }

    def lookup(field: str) -> Any:
        if field in plain:
            value = plain[field]
            return MISSING if value is None or value == "" else value
        root, _, path = field.partition(".")
        if root == "config":
            return config_value(run.config, path)
        if root == "summary_metrics":
            return path_value(run.summary_metrics, path.split("."))
        return MISSING

    return lookup


def config_value(config: Mapping[str, Any], path: str) -> Any:
    """``path`` (``lr``, ``optimizer.lr``) in a run config as W&B stores it (``{"lr": {"value": 0.01}}``); a
    ``.value`` right after the key (W&B's own spelling, ``lr.value``) is the same value."""
    key, *rest = path.split(".")
    entry = config.get(key, MISSING)
    if isinstance(entry, Mapping) and "value" in entry:
        entry = entry["value"]
        if rest[:1] == ["value"] and not (isinstance(entry, Mapping) and "value" in entry):
            rest = rest[1:]
    return path_value(entry, rest) if entry is not MISSING else MISSING


def path_value(value: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return MISSING if value is None else value


# --- evaluation -------------------------------------------------------------------------------------------


def holds(node: Mapping[str, Any], lookup: Lookup) -> bool:
    """Whether the filter node ``node`` (W&B's JSON form) holds for the fields ``lookup`` reads."""
    for key, value in node.items():
        if key == "$and":
            ok = all(holds(n, lookup) for n in value)
        elif key == "$or":
            ok = any(holds(n, lookup) for n in value)
        elif key == "$nor":
            ok = not any(holds(n, lookup) for n in value)
        elif key == "$not":
            ok = not holds(value, lookup)
        else:
            ok = operators_hold(value, lookup(key))
        if not ok:
            return False
    return True


def operators_hold(ops: Mapping[str, Any], value: Any) -> bool:
    return all(_holds(op, operand, value) for op, operand in ops.items())


def _holds(op: str, operand: Any, value: Any) -> bool:
    if op == "$exists":
        return (value is not MISSING) == bool(operand)
    if op == "$not":
        return not operators_hold(operand, value)
    if op == "$ne":
        return value is MISSING or not _equal_or_member(value, operand)
    if op == "$nin":
        return value is MISSING or not any(_equal_or_member(value, x) for x in operand)
    if value is MISSING:
        return False
    if op == "$eq":
        return _equal_or_member(value, operand)
    if op == "$in":
        return any(_equal_or_member(value, x) for x in operand)
    if op == "$all":
        items = value if isinstance(value, list) else [value]
        return bool(operand) and all(any(same(e, x) for e in items) for x in operand)
    if op == "$size":
        return isinstance(value, list) and len(value) == operand
    check = _CHECKS.get(op)
    if check is None:
        raise ValueError(f"unknown filter operator {op}")
    items = value if isinstance(value, list) else [value]
    return any(check(e, operand) for e in items)


def same(a: Any, b: Any) -> bool:
    """JSON equality as MongoDB compares: booleans only with booleans, numbers by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, datetime.datetime) and isinstance(b, str):
        parsed = _time(b)
        return parsed is not None and a == parsed
    return type(a) is type(b) and bool(a == b)


def _equal_or_member(value: Any, operand: Any) -> bool:
    if isinstance(value, list):
        return same(value, operand) or any(same(e, operand) for e in value)
    return same(value, operand)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and not (isinstance(x, float) and math.isnan(x))


def _time(text: str) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """``a`` and ``b`` as two values of one ordered kind, or None when they do not compare."""
    if _number(a) and _number(b):
        return a, b
    if isinstance(a, bool) and isinstance(b, bool):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    if isinstance(a, datetime.datetime) and isinstance(b, str):
        parsed = _time(b)
        return (a if a.tzinfo else a.replace(tzinfo=datetime.UTC), parsed) if parsed is not None else None
    return None


def _comparison(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(value: Any, operand: Any) -> bool:
        pair = _ordered(value, operand)
        return pair is not None and test(*pair)

    return check


def _regex(value: Any, pattern: Any) -> bool:
    return isinstance(value, str) and isinstance(pattern, str) and search(pattern, value)


def _contains(value: Any, text: Any) -> bool:
    return isinstance(value, str) and isinstance(text, str) and text in value


_CHECKS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": _comparison(lambda a, b: a > b),
    "$gte": _comparison(lambda a, b: a >= b),
    "$lt": _comparison(lambda a, b: a < b),
    "$lte": _comparison(lambda a, b: a <= b),
    "$regex": _regex,
    "$contains": _contains,
}
