"""Regular expressions as the apiserver runs them: RE2 syntax (Go's ``regexp``), linear time.

Used for the CRDs' ``pattern`` keywords and CEL's ``matches()``. Go's ``regexp`` accepts RE2's syntax
except ``\\C`` (any byte), which is refused here as Go refuses it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 logs every failed compilation to stderr by default
_ANY_BYTE = re.compile(r"(?<!\\)(\\\\)*\\C")


class RegexError(ValueError):
    """The pattern does not compile under RE2 / Go ``regexp`` rules; the text says why."""


@functools.lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> Any:
    if _ANY_BYTE.search(pattern):
        raise RegexError("invalid escape sequence: \\C")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(detail) from exc


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (Go ``MatchString``); RegexError if it does not compile."""
    return bool(compile_re2(pattern).search(text) is not None)
