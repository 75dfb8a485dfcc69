"""Relay connections (``edges``/``pageInfo``/``totalCount``) with keyset cursors.

A cursor is the base64 of the sort key of the last item returned, so a page that follows it starts
after that key even when items were added or removed in between (offsets would skip or repeat them).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from graphql import GraphQLError

T = TypeVar("T")
Key = tuple[Any, ...]


def encode_cursor(key: Key) -> str:
    return base64.b64encode(json.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str) -> Key:
    try:
        key = json.loads(base64.b64decode(cursor, validate=True))
    except (binascii.Error, ValueError):
        raise GraphQLError(f"invalid cursor {cursor!r}") from None
    if not isinstance(key, list):
        raise GraphQLError(f"invalid cursor {cursor!r}")
    return tuple(key)


def connection(
    items: Sequence[T],
    *,
    key: Callable[[T], Key],
    after: str | None,
    first: int | None,
    descending: bool = False,
    edge: Callable[[T], dict[str, Any]] = lambda item: {"node": item},
) -> dict[str, Any]:
    """One page of ``items`` sorted by ``key`` (ascending unless ``descending``): the items after the
    ``after`` cursor, at most ``first`` of them (all when ``first`` is None)."""
    if first is not None and first < 0:
        raise GraphQLError("first must not be negative")
    ordered = sorted(items, key=key, reverse=descending)
    if after:
        mark = decode_cursor(after)
        try:
            ordered = [i for i in ordered if (key(i) < mark if descending else key(i) > mark)]
        except TypeError:
            raise GraphQLError(f"cursor {after!r} belongs to another list") from None
    page = ordered if first is None else ordered[:first]
    edges = [{**edge(item), "cursor": encode_cursor(key(item))} for item in page]
    return {
        "totalCount": len(items),
        "edges": edges,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": len(page) < len(ordered),
            "hasPreviousPage": bool(after),
        },
    }
