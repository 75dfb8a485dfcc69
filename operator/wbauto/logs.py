"""Logging setup: JSON lines (or plain text), every record scrubbed of secret values."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from wbauto.redact import scrub

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class ScrubFilter(logging.Filter):
    """Render the message once, scrubbed; drop args so no handler can re-render the raw values."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_") or key == "settings":
                continue
            if isinstance(value, (str, int, float, bool, type(None))):
                doc[key] = value
            elif isinstance(value, (dict, list)) and len(text := json.dumps(value, default=str)) <= 512:
                doc[key] = json.loads(text)
        if record.exc_text:
            doc["exception"] = record.exc_text
        return scrub(json.dumps(doc, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # chatty libraries: their request logs could carry URLs with tokens
    for noisy in ("kopf.objects", "kopf.activities", "kopf._core", "httpx", "httpcore", "botocore", "urllib3",
                  "azure", "msal", "google", "hvac", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
