"""The retry policy (wbauto.engine.retry), against what the Webhook's ``retry`` fields and the docs promise:
``maxAttempts`` counts every attempt; ``backoff`` is the delay before the first retry and doubles each time,
with jitter (a factor between 0.5 and 1); ``maxBackoff`` bounds it; a ``Retry-After: <seconds>`` is honoured
when longer, at most one hour; 5xx, 408 and 429 are retried, other 4xx are not."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wbauto.api.webhook import RetryPolicy as RetrySpec
from wbauto.engine.retry import Policy, delay, retry_after_seconds, retryable_status

LOW, HIGH = 0.0, 1.0 - 2 ** -53  # the ends of random.random()
HOUR = 3600.0


def test_the_webhook_defaults_are_8_attempts_2s_doubling_to_5m() -> None:
    assert Policy.from_spec(RetrySpec()) == Policy(max_attempts=8, backoff=2.0, max_backoff=300.0)
    spec = RetrySpec.model_validate({"maxAttempts": 3, "backoff": "50ms", "maxBackoff": "1h30m"})
    assert Policy.from_spec(spec) == Policy(3, 0.05, 5400.0)


@pytest.mark.parametrize(("attempts_done", "base"), [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0),
                                                     (6, 64.0), (7, 128.0), (8, 256.0), (9, 300.0), (30, 300.0)])
def test_the_schedule_doubles_from_backoff_and_stops_at_max_backoff(attempts_done: int, base: float) -> None:
    policy = Policy(max_attempts=100, backoff=2.0, max_backoff=300.0)
    assert delay(policy, attempts_done, rand=lambda: HIGH) == pytest.approx(base)
    assert delay(policy, attempts_done, rand=lambda: LOW) == pytest.approx(base / 2)
    assert delay(policy, attempts_done, rand=lambda: 0.5) == pytest.approx(base * 0.75)


@given(backoff=st.floats(0.001, HOUR), spread=st.floats(1.0, 1000.0), attempts_done=st.integers(1, 100_000),
       r=st.floats(LOW, HIGH))
@example(backoff=2.0, spread=150.0, attempts_done=1025, r=0.0)  # 2**1024 is beyond a float
def test_a_delay_is_always_between_half_and_all_of_the_capped_backoff(backoff: float, spread: float,
                                                                      attempts_done: int, r: float) -> None:
    policy = Policy(max_attempts=100, backoff=backoff, max_backoff=backoff * spread)
    base = policy.max_backoff if attempts_done > 64 else min(policy.max_backoff,
                                                             backoff * 2.0 ** (attempts_done - 1))
    wait = delay(policy, attempts_done, rand=lambda: r)
    assert math.isfinite(wait)
    assert base / 2 * (1 - 1e-9) <= wait <= base * (1 + 1e-9)
    assert wait <= policy.max_backoff * (1 + 1e-9)


@given(backoff=st.floats(0.001, 60.0), attempts_done=st.integers(1, 200), r=st.floats(LOW, HIGH))
def test_with_the_same_jitter_a_later_retry_never_waits_less(backoff: float, attempts_done: int, r: float) -> None:
    policy = Policy(max_attempts=100, backoff=backoff, max_backoff=300.0)
    assert delay(policy, attempts_done + 1, rand=lambda: r) >= delay(policy, attempts_done, rand=lambda: r)


def test_jitter_spreads_a_burst_of_retries() -> None:
    """Without a random factor, a burst of failures would retry in lockstep."""
    import random

    rng = random.Random(7)
    waits = {round(delay(Policy(), 3, rand=rng.random), 6) for _ in range(50)}
    assert len(waits) > 40 and min(waits) >= 4.0 and max(waits) <= 8.0


@pytest.mark.parametrize(("retry_after", "expected"), [
    (120.0, 120.0),        # longer than the backoff: honoured
    (1.0, 2.0),            # shorter: the backoff wins
    (0.0, 2.0),            # "Retry-After: 0" does not make a retry immediate
    (900.0, 900.0),        # longer than maxBackoff too: the server asked for it
    (HOUR, HOUR),
    (86_400.0, HOUR),      # at most one hour
    (math.inf, HOUR),
    (None, 2.0),
])
def test_retry_after_is_honoured_when_longer_up_to_an_hour(retry_after: float | None, expected: float) -> None:
    policy = Policy(max_attempts=8, backoff=2.0, max_backoff=300.0)
    assert delay(policy, 1, retry_after, rand=lambda: HIGH) == pytest.approx(expected)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5),
    (None, None), ("", None), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # an HTTP-date: documented as not honoured (seconds only)
])
def test_retry_after_header_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


@given(st.text(max_size=30))
@example("-5")
@example("nan")
@example("1e999")
def test_any_retry_after_header_parses_to_nothing_or_a_non_negative_wait(header: str) -> None:
    seconds = retry_after_seconds(header)
    assert seconds is None or seconds >= 0 or math.isnan(seconds)
    wait = delay(Policy(), 1, seconds, rand=lambda: HIGH)
    assert 2.0 <= wait <= HOUR  # whatever the header says: at least the backoff, at most an hour


@pytest.mark.parametrize("code", [500, 502, 503, 504, 599, 408, 429])
def test_server_errors_timeouts_and_rate_limits_are_retried(code: int) -> None:
    assert retryable_status(code)


@pytest.mark.parametrize("code", [400, 404, 405, 409, 410, 413, 415, 422, 451])
def test_other_client_errors_are_the_request_s_fault_and_not_retried(code: int) -> None:
    assert not retryable_status(code)

