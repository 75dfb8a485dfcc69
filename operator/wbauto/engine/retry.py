"""Retry policy (pure): which failures are retried and how long to wait.

Exponential backoff with jitter: attempt n waits ``backoff * 2**(n-1)`` capped at ``maxBackoff``, then
scaled by a random factor in [0.5, 1.0] so that a burst of failures does not retry in lockstep. A
``Retry-After`` from the server (429/503) is honoured when it is longer, up to one hour.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from wbauto.api.schema import parse_duration
from wbauto.api.webhook import RetryPolicy as RetrySpec

MAX_RETRY_AFTER = 3600.0
_MAX_DOUBLINGS = 64  # far past any maxBackoff / backoff ratio (24h / 1ms < 2**27)


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    backoff: float = 2.0
    max_backoff: float = 300.0

    @classmethod
    def from_spec(cls, spec: RetrySpec) -> Policy:
        return cls(spec.max_attempts, parse_duration(spec.backoff).total_seconds(),
                   parse_duration(spec.max_backoff).total_seconds())


def delay(policy: Policy, attempts_done: int, retry_after: float | None = None,
          rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before the next attempt, after ``attempts_done`` failed attempts (>= 1)."""
    doublings = min(max(0, attempts_done - 1), _MAX_DOUBLINGS)  # 2**1024 is beyond a float
    base = min(policy.max_backoff, policy.backoff * 2.0 ** doublings)
    jittered = base * (0.5 + rand() / 2)
    if retry_after is not None and retry_after > 0:
        return max(jittered, min(retry_after, MAX_RETRY_AFTER))
    return jittered


def retry_after_seconds(header: str | None) -> float | None:
    """Parse a Retry-After header given in seconds (HTTP-dates are rare for webhooks; ignored)."""
    if not header:
        return None
    try:
        return max(0.0, float(header.strip()))
    except ValueError:
        return None


def retryable_status(code: int) -> bool:
    """5xx, 429 and 408 are worth retrying; other 4xx are the request's fault."""
    return code >= 500 or code in (408, 429)
