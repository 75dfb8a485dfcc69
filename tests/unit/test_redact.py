"""Secrets are masked in every encoding they take on the way into text (issue 12 §9): the encodings are made
by the standard library's own encoders (json, urllib, base64), not by the redactor's model of them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wbauto.redact import MASK, Redactor

TOKEN = 'tok"en-\u00fc-\\-1234567890'
API_KEY = "w" * 10 + "0123456789abcdefABCDEF0123456789"
SLACK = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    for value in (TOKEN, API_KEY, SLACK):
        r.add(value)
    return r


@pytest.mark.parametrize("text", [
    json.dumps({"echo": TOKEN}),                                             # a receiver echoing the body
    json.dumps({"echo": TOKEN}, ensure_ascii=False),
    "GET /x?" + urlencode({"token": TOKEN}),                                 # a query string
    quote(TOKEN, safe=""), quote_plus(TOKEN),
    "Authorization: Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode(),  # W&B's credentials
    base64.b64encode(API_KEY.encode()).decode(),
    base64.b64encode(b"prefix-" + API_KEY.encode() + b"-suffix").decode(),   # inside a longer base64 text
    "HTTP 302: redirected to slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx",
    "POST https://other.example/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx failed",
])
def test_every_encoding_is_masked(redactor: Redactor, text: str) -> None:
    scrubbed = redactor.scrub(text)
    assert MASK in scrubbed
    for secret in (TOKEN, API_KEY, "abcdefghijklmnopqrstuvwx", "T0123ABCD/B0123ABCD"):
        assert secret not in scrubbed
        assert json.dumps(secret)[1:-1] not in scrubbed


@settings(max_examples=300, deadline=None, derandomize=True)
@given(secret=st.text(min_size=12, max_size=60), before=st.binary(max_size=7), after=st.binary(max_size=7))
def test_base64_at_any_alignment(secret: str, before: bytes, after: bytes) -> None:
    r = Redactor()
    r.add(secret)
    """The secret's bytes at any offset in a base64 text: the aligned middle of their encoding is masked."""
    encoded = base64.b64encode(before + secret.encode() + after).decode()
    assert MASK in r.scrub(encoded)


def test_short_values_mask_nothing_ordinary() -> None:
    r = Redactor()
    r.add("abc")
    assert r.scrub("abc def") == "abc def"
