"""Keep secret values out of text: every resolved secret value is registered here, and log records,
error texts and recorded request and response bodies pass through :func:`scrub` before anyone sees them.

A value is masked in every encoding it can take on its way into text: as is, JSON-escaped (a receiver
echoing the request body), URL-encoded (a query string, a redirect Location), base64 (alone, inside a
longer base64 text at any alignment, and as HTTP Basic credentials ``api:VALUE`` — the W&B API key),
and for URL-valued secrets (a Slack incoming-webhook URL) the path that carries the secret.
"""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words; backends reject nothing, the mask does
_MIN_PART = 8  # shortest derived form (base64 core, URL path part) worth masking


def variants(value: str) -> set[str]:
    """Every form ``value`` can appear in within text (the forms shorter than it may be dropped)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
             quote(value, safe=""), quote_plus(value), quote(value)}
    raw = value.encode()
    for prefix in (b"", b"api:"):
        forms.add(base64.b64encode(prefix + raw).decode())
        forms.add(base64.urlsafe_b64encode(prefix + raw).decode())
    for offset in range(3):  # the aligned middle of base64(x + value + y) for any x, y
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = 4 * ((offset + 2) // 3)
        whole = (offset + len(raw)) // 3 * 4
        core = encoded[start:whole]
        forms.add(core)
    parts = urlsplit(value) if "://" in value else None
    if parts is not None and parts.path.strip("/"):
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        forms.update({path, path.lstrip("/"), parts.path.rstrip("/").rsplit("/", 1)[-1]})
        segments = parts.path.strip("/").split("/")
        forms.update("/".join(segments[i:]) for i in range(1, len(segments)))
    return {f for f in forms if len(f) >= min(_MIN_PART, len(value))}


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._lock = threading.Lock()
        self._sorted: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        if len(value) < _MIN_LENGTH or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            self._forms |= variants(value)
            # longest first, so a value containing another is masked whole
            self._sorted = tuple(sorted(self._forms, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for value in self._sorted:
            if value in text:
                text = text.replace(value, MASK)
        return text


REDACTOR = Redactor()


def scrub(text: str) -> str:
    return REDACTOR.scrub(text)
