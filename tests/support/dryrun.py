"""The apiserver's verdict on a manifest, over HTTP: ``POST ...?dryRun=All&fieldValidation=Strict`` (what
``kubectl apply --dry-run=server`` sends for a new object, without a kubectl process per manifest), and the
comparison with ``wbauto validate``'s verdict: accept/reject, and for rejections the fields named."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.controlplane import ControlPlane
from wbauto.admission.review import Verdict
from wbauto.api import kinds


@dataclass(frozen=True)
class Answer:
    code: int
    fields: frozenset[str]
    message: str

    @property
    def accepted(self) -> bool:
        return self.code < 300


_UNKNOWN = re.compile(r'(?:unknown|duplicate) field "([^"]+)"')
_META_FIELD = re.compile(r"Go struct field ObjectMeta\.([A-Za-z]+)")


def fields_of(code: int, status: dict[str, Any]) -> frozenset[str]:
    """The fields a rejection names. 422: the causes; 400: parsed from the decoding error's text."""
    message = str(status.get("message") or "")
    if code == 422:
        causes = (status.get("details") or {}).get("causes") or []
        return frozenset(str(c.get("field")) for c in causes if c.get("field") and c.get("field") != "<nil>")
    unknown = _UNKNOWN.findall(message)
    if unknown:
        return frozenset(unknown)
    meta = _META_FIELD.findall(message)
    if meta:
        return frozenset(f"metadata.{m}" for m in meta)
    if "ObjectMeta" in message or "parsing time" in message:
        return frozenset({"metadata"})
    return frozenset()


class DryRun:
    """One keep-alive HTTPS connection to the test apiserver, posting objects with ``dryRun=All``."""

    def __init__(self, cluster: ControlPlane, namespace: str) -> None:
        self.namespace = namespace
        target = urlsplit(cluster.server)
        self._host, self._port = target.hostname or "127.0.0.1", target.port or 443
        self._ctx: ssl.SSLContext = cluster.ssl_context("admin")
        self._conn = self._connect()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self._host, self._port, context=self._ctx, timeout=30)

    def post(self, doc: dict[str, Any]) -> Answer:
        kind = kinds.BY_KIND[doc["kind"]]
        path = (f"/apis/{kinds.GROUP}/{kinds.VERSION}/namespaces/{self.namespace}/{kind.plural}"
                "?dryRun=All&fieldValidation=Strict")
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
        for attempt in range(2):
            try:
                self._conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = self._conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = self._connect()
                if attempt:
                    raise
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))  # the apiserver echoes deep objects back
        try:
            status = json.loads(data)
        finally:
            sys.setrecursionlimit(limit)
        if response.status < 300:
            return Answer(response.status, frozenset(), "")
        return Answer(response.status, fields_of(response.status, status), str(status.get("message")))

    def close(self) -> None:
        self._conn.close()


def disagreement(verdict: Verdict, answer: Answer) -> str | None:
    """Why ``wbauto validate``'s verdict differs from the apiserver's answer, or None when they agree."""
    ours = frozenset(p.field for p in verdict.problems)
    if answer.accepted and not ours:
        return None
    if answer.accepted:
        return f"validate rejects ({sorted(ours)}), the apiserver accepts"
    if not ours:
        return f"validate accepts, the apiserver rejects: {answer.message[:300]}"
    theirs = answer.fields
    if theirs == frozenset({"metadata"}) and all(f.startswith("metadata") for f in ours):
        return None  # a decoding error whose text does not name the ObjectMeta field
    if ours != theirs:
        return f"fields differ: validate {sorted(ours)}, apiserver {sorted(theirs)}: {answer.message[:300]}"
    return None
