"""Keep secret values out of text: every resolved secret value is registered here, and log records,
error texts and recorded request bodies pass through :func:`scrub` before anyone sees them."""

from __future__ import annotations

import threading

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words; backends reject nothing, the mask does


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._sorted: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        if len(value) < _MIN_LENGTH or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            # longest first, so a value containing another is masked whole
            self._sorted = tuple(sorted(self._values, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for value in self._sorted:
            if value in text:
                text = text.replace(value, MASK)
        return text


REDACTOR = Redactor()


def scrub(text: str) -> str:
    return REDACTOR.scrub(text)
