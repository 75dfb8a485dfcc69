"""Inbound W&B webhook deliveries: the zero-latency event source.

A W&B automation whose webhook points at the operator (``POST /wandb/events``) sends W&B's payload,
signed with the webhook's secret (``X-Wandb-Signature``: base64 — or hex — HMAC-SHA256 of the raw
body) and, when configured, an access token (``Authorization: Bearer``). The receiver reads the whole
body (bounded in size and time, however the client splits it), verifies both, turns the payload into
the same :class:`~wbauto.api.event.Event` the poller produces and hands it to the engine; it answers
202 once the executions are stored.

Identity and replays: W&B signs the body only and its payload carries no time, so the event id is the
body's digest — a redelivery (or a replay) of the same body is the same event, and the store keeps one
execution per (Automation, event) for its dedupe horizon whatever the time between the two. A sender
that also signs a timestamp (``X-Wbauto-Timestamp`` + ``X-Wbauto-Signature``, as wbauto's own webhook
action does) gets a replay window: a request whose signed timestamp is more than
:data:`REPLAY_WINDOW` seconds away from now is refused, and the event id is bound to its delivery id.

Answers: 202 accepted · 400 malformed body (not JSON, too deep, invalid Unicode) · 401 unsigned, bad
signature, bad token or stale timestamp · 405 not POST · 408 body too slow · 413 body over the limit ·
415 not JSON · 422 not a W&B event payload · 503 secrets not resolvable.

The W&B side needs this payload template (the variables W&B fills in)::

    {"event_type": "${event_type}", "event_author": "${event_author}", "entity_name": "${entity_name}",
     "project_name": "${project_name}", "artifact_version": "${artifact_version}",
     "artifact_version_string": "${artifact_version_string}",
     "artifact_collection_name": "${artifact_collection_name}", "alias": "${alias}", "tag": "${tag}",
     "run_name": "${run_name}", "run_status": "${run_status}"}
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from wbauto import telemetry
from wbauto.api.event import ArtifactInfo, Event, EventType, RunInfo, Source, event_id
from wbauto.errors import DependencyMissing, SecretError

MAX_BODY = 1024 * 1024
BODY_TIMEOUT = 10.0  # the whole body must arrive within this, however it is split
REPLAY_WINDOW = 300.0  # a signed X-Wbauto-Timestamp further than this from now is refused
PATH = "/wandb/events"
_VERSION = re.compile(r"v[0-9]{1,9}")

EVENT_TYPES = {t.value: t for t in EventType if t is not EventType.RUN_HISTORY}
EVENT_TYPES.update({"LINK_ARTIFACT": EventType.LINK_MODEL, "RUN_METRIC_THRESHOLD": EventType.RUN_METRIC})


class PayloadError(ValueError):
    """Raised when a body is JSON but not a W&B event payload."""


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of X-Wandb-Signature in base64 (W&B docs) or hex form."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    candidate = header.strip()
    if candidate.lower().startswith("sha256="):
        candidate = candidate[7:]
    try:
        given = bytes.fromhex(candidate) if len(candidate) == 64 else base64.b64decode(candidate, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(digest, given)


def _text(doc: dict[str, Any], key: str) -> str:
    """A payload field as W&B renders it: text (a variable's value in quotes) or, for a variable a template
    left unquoted, a JSON integer; absent or null is empty."""
    value = doc.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # beyond Python's integer-to-text limit
            raise PayloadError(f"{key} is a number of more than 4300 digits") from None
    kind = {bool: "a boolean", float: "a number", list: "an array", dict: "an object"}.get(type(value), "a value")
    raise PayloadError(f"{key} must be a string (W&B renders each variable as text), not {kind}")


def parse_payload(doc: Any, *, body_id: str, received: datetime.datetime) -> Event:
    """W&B's rendered payload → Event; :class:`PayloadError` (naming the field) for anything else."""
    if not isinstance(doc, dict):
        raise PayloadError("the body must be a JSON object")
    raw_type = _text(doc, "event_type")
    if raw_type not in EVENT_TYPES:
        raise PayloadError(f"event_type {raw_type!r} is not a W&B event type")
    kind = EVENT_TYPES[raw_type]
    if kind in (EventType.RUN_METRIC, EventType.RUN_METRIC_CHANGE, EventType.RUN_METRIC_ZSCORE):
        raise PayloadError(f"{raw_type} cannot come through the receiver: wbauto evaluates metric windows on "
                           "run history, which only the poller reads")
    entity, project = _text(doc, "entity_name"), _text(doc, "project_name")
    version_string = _text(doc, "artifact_version_string")
    if not entity or not project:
        # W&B renders both for every event; fall back to the version string's own path
        parts = version_string.split(":")[0].split("/")
        if len(parts) == 3:
            entity, project = entity or parts[0], project or parts[1]
    if not entity or not project:
        raise PayloadError("entity_name and project_name are required")
    artifact = None
    collection = _text(doc, "artifact_collection_name")
    artifact_id = _text(doc, "artifact_version").removeprefix("wandb-artifact://_id/")
    if collection or version_string:
        path, _, label = version_string.partition(":")
        collection = collection or path.split("/")[-1]
        version = label if _VERSION.fullmatch(label) else ""
        artifact = ArtifactInfo(id=artifact_id, collection=collection, version=version,
                                version_index=int(version[1:]) if version else None,
                                aliases=[label] if label and not version else [])
    run = None
    run_name, run_id, state = _text(doc, "run_name"), _text(doc, "run_id"), _text(doc, "run_status").upper()
    if run_name:
        run = RunInfo(id=run_id or run_name, display_name=run_name, state=state)
    elif kind is EventType.RUN_STATE:
        raise PayloadError("RUN_STATE needs run_name (and run_status): add them to the W&B payload template")
    return Event(id=body_id, type=kind, time=received, source=Source.RECEIVER,
                 author=_text(doc, "event_author"), entity=entity, project=project,
                 alias=_text(doc, "alias"), tag=_text(doc, "tag"), artifact=artifact, run=run)


@dataclass
class ReceiverConfig:
    """Which SecretReferences hold the receiver's signing secret and (optional) access token."""

    secret_ref: tuple[str, str]  # (namespace, name)
    token_ref: tuple[str, str] | None = None


Resolve = Callable[[str, str], Awaitable[str]]
Handle = Callable[[Event], Awaitable[list[Any]]]


class Receiver:
    def __init__(self, config: ReceiverConfig, resolve: Resolve, handle: Handle, *,
                 now: Callable[[], float] = time.time) -> None:
        self.config = config
        self._resolve = resolve
        self._handle = handle
        self._now = now

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.post), web.route("*", PATH, self.wrong_method)]

    async def wrong_method(self, request: web.Request) -> web.Response:
        return _answer(405, "use POST")

    async def post(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _answer(413, f"body over {MAX_BODY} bytes")
        if request.content_type != "application/json":
            return _answer(415, "Content-Type must be application/json")
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                body = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return _answer(413, f"body over {MAX_BODY} bytes")
        except TimeoutError:
            return _answer(408, f"the body did not arrive within {BODY_TIMEOUT:g}s")
        except (ValueError, ConnectionError):
            return _answer(400, "unreadable body")
        signature = request.headers.get("X-Wandb-Signature")
        if not signature:
            return _answer(401, "unsigned: X-Wandb-Signature is required")
        try:
            secret = await self._resolve(*self.config.secret_ref)
            token = await self._resolve(*self.config.token_ref) if self.config.token_ref else None
        except (SecretError, DependencyMissing):
            return _answer(503, "the receiver's secrets cannot be resolved; see the operator's logs")
        if token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _answer(401, "missing or wrong bearer token")
        if not verify_signature(secret, body, signature):
            return _answer(401, "bad signature")
        identity = hashlib.sha256(body).hexdigest()
        if "X-Wbauto-Timestamp" in request.headers or "X-Wbauto-Signature" in request.headers:
            problem = self._stale(secret, body, request.headers)
            if problem is not None:
                return _answer(401, problem)
            identity += "/" + request.headers.get("X-Wbauto-Delivery", request.headers["X-Wbauto-Timestamp"])
        try:
            doc = json.loads(body)
            json.dumps(doc, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored or sent
        except RecursionError:
            return _answer(400, "the body is nested too deeply")
        except UnicodeError:
            return _answer(400, "the body contains invalid Unicode (a lone surrogate escape)")
        except ValueError:
            return _answer(400, "the body is not valid JSON")
        try:
            event = parse_payload(doc, body_id=event_id("receiver", identity),
                                  received=datetime.datetime.fromtimestamp(self._now(), datetime.UTC))
        except PayloadError as exc:
            return _answer(422, str(exc))
        created = await self._handle(event)
        return _answer(202, "accepted", event=event.id, executions=len(created))

    def _stale(self, secret: str, body: bytes, headers: Any) -> str | None:
        """Why a request carrying wbauto's timestamp headers must be refused, or None."""
        stamp, bound = headers.get("X-Wbauto-Timestamp", ""), headers.get("X-Wbauto-Signature", "")
        if not stamp.isdigit() or not bound:
            return "X-Wbauto-Timestamp and X-Wbauto-Signature must come together (unix seconds, v1=...)"
        delivery = headers.get("X-Wbauto-Delivery", "")
        message = f"{delivery}.{stamp}.".encode() + body
        expected = "v1=" + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected.encode(), bound.strip().encode()):
            return "bad X-Wbauto-Signature"
        if abs(self._now() - int(stamp)) > REPLAY_WINDOW:
            return f"stale request: X-Wbauto-Timestamp is more than {REPLAY_WINDOW:g}s from now (a replay?)"
        return None


class BodyTooLarge(ValueError):
    """Raised when a request body exceeds the receiver's limit."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, read until EOF in as many pieces as it arrives; at most ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(code: int, message: str, **extra: Any) -> web.Response:
    telemetry.RECEIVER_REQUESTS.labels(str(code)).inc()
    return web.json_response({"status": code, "message": message, **extra}, status=code)
