"""What the GraphQL resolver modules share: the resolver signature, W&B's ``order`` argument, and the
node W&B answers for a stored file (upload and download URLs included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from wbauto.emulator import model
from wbauto.emulator.state import State

Resolver = Callable[..., Any]
Info = GraphQLResolveInfo[State]


def order(value: str | None, fields: set[str], default: str) -> tuple[bool, str]:
    """``(descending, field)`` for W&B's ``order`` argument (``-field`` descending, ``+field`` ascending)."""
    text = value or default
    field = text.lstrip("+-")
    if field not in fields:
        raise GraphQLError(f"order {value!r} is not supported here; use one of {sorted(fields)}")
    return text.startswith("-"), field


def file_node(state: State, stored: model.StoredFile, artifact: model.Artifact | None = None) -> dict[str, Any]:
    """A ``File``: PUT its bytes to ``uploadUrl``, GET them from ``directUrl``."""
    url = state.file_url(stored)
    return {
        "id": stored.id,
        "name": stored.name,
        "displayName": stored.name.rsplit("/", 1)[-1],
        "digest": stored.md5,
        "md5": stored.md5,
        "sizeBytes": len(stored.data) if stored.data is not None else None,
        "storagePath": f"wandb_artifacts/{artifact.number}/{stored.number}/{stored.name}" if artifact else None,
        "uploadUrl": url,
        "uploadHeaders": [],
        "uploadMultipartUrls": None,
        "directUrl": url,
        "url": url,
        "artifact": artifact,
    }
