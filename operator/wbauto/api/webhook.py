"""``Webhook``: an HTTP endpoint (W&B's "team webhook"), with an optional signing secret and token.

Requests are ``POST`` with ``Content-Type: application/json``. When ``secretRef`` is set the body is
signed: ``X-Wandb-Signature: base64(HMAC-SHA256(secret, body))``. When ``accessTokenRef`` is set the
request carries ``Authorization: Bearer <token>``. wbauto adds ``X-Wbauto-Delivery`` (stable across
retries, for receivers to deduplicate) and ``X-Wbauto-Timestamp``.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from wbauto.api.conditions import Condition
from wbauto.api.schema import DURATION, CABundle, HttpUrl, Model, ObjectName, Rule, Rules, bounded, url_rules

RESERVED_HEADERS = ("authorization", "content-type", "content-length", "host", "x-wandb-signature",
                    "x-wbauto-delivery", "x-wbauto-timestamp", "x-wbauto-signature")

Headers = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=256)],
        Annotated[str, StringConstraints(max_length=4096)],
    ],
    Rules(
        Rule(
            cel="self.all(k, k.matches('^[A-Za-z0-9!#$%&*+.^_`|~-]+$'))",
            message="header names must be HTTP tokens (letters, digits and !#$%&*+.^_`|~-)",
        ),
        Rule(
            cel="self.all(k, !(k.lowerAscii() in " + str(list(RESERVED_HEADERS)).replace('"', "'") + "))",
            message="headers must not set Authorization, Content-Type, Content-Length, Host, "
            "X-Wandb-Signature or X-Wbauto-*: use accessTokenRef / secretRef for credentials",
        ),
    ),
]


class SignatureEncoding(StrEnum):
    """How the HMAC digest is written in X-Wandb-Signature. W&B's English docs verify base64
    (``openssl dgst -sha256 -hmac KEY -binary | base64``); a later translation shows hex."""

    BASE64 = "base64"
    HEX = "hex"


class SecretRef(Model):
    """A SecretReference in the same namespace."""

    name: ObjectName = Field(description="Name of the SecretReference (same namespace).")


class RetryPolicy(Model):
    """Retries for connection errors, timeouts, HTTP 5xx and 429 (honouring Retry-After)."""

    __rules__ = (
        Rule(
            cel="!has(self.backoff) || !has(self.maxBackoff) || "
            "duration(self.backoff) <= duration(self.maxBackoff)",
            message="backoff must not be longer than maxBackoff",
            field_path=".backoff",
        ),
    )

    max_attempts: int = Field(8, ge=1, le=100, description="Attempts in total, the first one included.")
    backoff: Annotated[str, DURATION, bounded("1h")] = Field(
        "2s", description="Delay before the first retry; doubles each time (with jitter); at most 1h.")
    max_backoff: Annotated[str, DURATION, bounded("24h")] = Field(
        "5m", description="Upper bound for the delay between attempts; at most 24h.")


class WebhookSpec(Model):
    """An HTTP endpoint that Automations post to."""

    __rules__ = url_rules("url")

    url: HttpUrl = Field(
        description="Endpoint URL (http or https, no credentials). W&B refuses IP literals and localhost; "
        "so does wbauto's egress guard unless the operator allows private targets.")
    secret_ref: SecretRef | None = Field(
        None, description="SecretReference whose value signs each body: X-Wandb-Signature = "
        "base64(HMAC-SHA256(secret, body)).")
    access_token_ref: SecretRef | None = Field(
        None, description="SecretReference whose value is sent as `Authorization: Bearer <token>`.")
    signature_encoding: SignatureEncoding = Field(
        SignatureEncoding.BASE64, description="Encoding of X-Wandb-Signature: base64 (W&B docs) or hex.")
    payload_secret_refs: Annotated[list[SecretRef], Field(max_length=16)] = Field(
        default_factory=list, description="SecretReferences whose values payload templates may use as "
        "${NAME} (the name upper-cased, - as _). A wbauto extension: W&B only signs with the secret. "
        "secretRef and accessTokenRef are always available as ${SECRET} and ${ACCESS_TOKEN}.")
    headers: Headers = Field(default_factory=dict, description="Extra static request headers.")
    timeout: Annotated[str, DURATION, bounded("10m")] = Field(
        "15s", description="Timeout of one attempt (connect + response); at most 10m.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retry policy.")
    success_codes: Annotated[
        list[Annotated[int, Field(ge=100, le=599)]], Field(max_length=64)
    ] = Field(default_factory=list, description="Status codes that count as delivered. Empty: any 2xx.")
    ca_bundle: CABundle | None = Field(
        None, description="PEM CA bundle to verify the endpoint's certificate (private CAs).")


class WebhookTestResult(Model):
    """The last `wbauto test-webhook` (the W&B "Test" button) against this Webhook."""

    time: datetime.datetime = Field(description="When the test ran.")
    response_code: int | None = Field(None, description="HTTP status code, if a response came back.")
    error: str | None = Field(None, description="Error text (cut), if the test failed.", max_length=1024)


class WebhookStatus(Model):
    """Observed state of the Webhook."""

    conditions: list[Condition] = Field(default_factory=list, description="Ready / Reconciling / Stalled.")
    observed_generation: int | None = Field(None, description="Last generation reconciled.")
    last_test: WebhookTestResult | None = Field(None, description="Result of the last test send.")
