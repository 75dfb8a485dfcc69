"""``webhook`` action: POST the rendered payload to a Webhook, signed as W&B signs it.

Headers: ``Content-Type: application/json``; ``Authorization: Bearer <token>`` when the Webhook has an
access token; ``X-Wandb-Signature: base64(HMAC-SHA256(secret, body))`` when it has a signing secret
(verifiable with ``openssl dgst -sha256 -hmac "$SECRET" -binary | base64``); ``X-Wbauto-Delivery`` (the
same on every retry, for receivers to deduplicate) and ``X-Wbauto-Timestamp`` (unix seconds). W&B's
signature covers the body only; ``X-Wbauto-Signature: v1=base64(HMAC-SHA256(secret,
"<delivery>.<timestamp>.<body>"))`` also binds the delivery id and the timestamp, so a receiver can refuse
replays and stale requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

from wbauto.actions.base import Action, Context, Lookup, Reference, Result
from wbauto.actions.http import Response
from wbauto.api.automation import WebhookAction as WebhookActionSpec
from wbauto.api.event import Event
from wbauto.api.execution import ExecutionRecord, RequestRecord
from wbauto.api.schema import parse_duration
from wbauto.api.webhook import SignatureEncoding, WebhookSpec
from wbauto.engine import retry, templates
from wbauto.engine.retry import retry_after_seconds, retryable_status
from wbauto.errors import ConfigError, DeliveryError, cut
from wbauto.redact import MASK, scrub

DELIVERY_HEADER = "X-Wbauto-Delivery"
TIMESTAMP_HEADER = "X-Wbauto-Timestamp"
SIGNATURE_HEADER = "X-Wandb-Signature"
BOUND_SIGNATURE_HEADER = "X-Wbauto-Signature"
MAX_RECORDED_BODY = 16384


def sign(secret: str, body: bytes, encoding: SignatureEncoding = SignatureEncoding.BASE64) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding is SignatureEncoding.BASE64 else digest.hex()


def sign_bound(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """``v1=`` + base64(HMAC-SHA256(secret, "<delivery>.<timestamp>.<body>"))."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1=" + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def endpoint_of(record: ExecutionRecord) -> WebhookSpec | None:
    """The Webhook snapshot of an execution, parsed once per execution (kept in the record's memo)."""
    if "endpoint" not in record.memo:
        endpoint = record.spec.action.config.get("endpoint")
        record.memo["endpoint"] = WebhookSpec.model_validate(endpoint) if endpoint else None
    found: WebhookSpec | None = record.memo["endpoint"]
    return found


def config(webhook_name: str, webhook: WebhookSpec | None, payload: str | None) -> dict[str, Any]:
    """The snapshot stored in the execution."""
    return {"webhook": webhook_name, "endpoint": webhook.dump() if webhook is not None else None,
            "payload": payload}


def endpoint_references(spec: WebhookSpec) -> list[Reference]:
    """The SecretReferences a Webhook uses, and the fields naming them."""
    refs = [("spec.secretRef", spec.secret_ref), ("spec.accessTokenRef", spec.access_token_ref)]
    refs += [(f"spec.payloadSecretRefs[{i}]", r) for i, r in enumerate(spec.payload_secret_refs)]
    return [Reference("SecretReference", ref.name, field) for field, ref in refs if ref is not None]


def secret_variables(spec: WebhookSpec) -> list[str]:
    """The ``${NAME}`` secret variables a Webhook gives payload templates."""
    names = ["SECRET"] if spec.secret_ref is not None else []
    names += ["ACCESS_TOKEN"] if spec.access_token_ref is not None else []
    return names + [templates.secret_variable(ref.name) for ref in spec.payload_secret_refs]


async def secrets_for(spec: WebhookSpec, namespace: str, context: Context) -> tuple[str | None, dict[str, str]]:
    """(signing secret, template secret variables) — resolved now, so rotation takes effect at once."""
    variables: dict[str, str] = {}
    signing = None
    if spec.secret_ref is not None:
        signing = (await context.resolver.resolve(namespace, spec.secret_ref.name)).value
        variables["SECRET"] = signing
    if spec.access_token_ref is not None:
        variables["ACCESS_TOKEN"] = (await context.resolver.resolve(namespace, spec.access_token_ref.name)).value
    for ref in spec.payload_secret_refs:
        variables[templates.secret_variable(ref.name)] = (await context.resolver.resolve(namespace, ref.name)).value
    return signing, variables


def invalidate(spec: WebhookSpec, namespace: str, context: Context) -> None:
    for ref in (spec.secret_ref, spec.access_token_ref, *spec.payload_secret_refs):
        if ref is not None:
            context.resolver.invalidate(namespace, ref.name)


async def post(
    spec: WebhookSpec,
    body: bytes,
    *,
    namespace: str,
    context: Context,
    delivery_id: str,
    signing_secret: str | None,
    access_token: str | None,
) -> Response:
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id, TIMESTAMP_HEADER: timestamp,
               **spec.headers}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    if signing_secret is not None:
        headers[SIGNATURE_HEADER] = sign(signing_secret, body, spec.signature_encoding)
        headers[BOUND_SIGNATURE_HEADER] = sign_bound(signing_secret, delivery_id, timestamp, body)
    return await context.http.post(spec.url, body, headers, timeout=parse_duration(spec.timeout).total_seconds(),
                                   ca_bundle=spec.ca_bundle)


def check(spec: WebhookSpec, response: Response) -> None:
    """Raise DeliveryError unless the status code counts as delivered."""
    code = response.status
    ok = code in spec.success_codes if spec.success_codes else 200 <= code < 300
    if ok:
        return
    body = cut(scrub(response.text), 1024)
    if code in (401, 403):
        raise DeliveryError(f"HTTP {code}: the endpoint refused the credentials (secrets are re-read before "
                            "the retry)", retryable=True, status_code=code, response_body=body, auth_failed=True)
    raise DeliveryError(f"HTTP {code}", retryable=retryable_status(code), status_code=code, response_body=body,
                        retry_after=retry_after_seconds(response.headers.get("Retry-After")))


_SECRET_USE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


class WebhookAction(Action):
    type = "webhook"

    def references(self, spec: WebhookActionSpec) -> list[Reference]:
        return [Reference("Webhook", spec.webhook_ref.name, "spec.action.webhook.webhookRef")]

    def problems(self, spec: WebhookActionSpec, namespace: str, world: Lookup) -> str | None:
        hook = world.webhook(namespace, spec.webhook_ref.name)
        provided = set(secret_variables(hook)) if hook is not None else set()
        missing = sorted(n for n in _SECRET_USE.findall(spec.payload or "") if n not in provided)
        if hook is None or not missing:
            return None
        offered = ", ".join(f"${{{n}}}" for n in sorted(provided)) or "none"
        return (f"spec.action.webhook.payload uses {', '.join(f'${{{n}}}' for n in missing)}, which Webhook "
                f"{namespace}/{spec.webhook_ref.name} does not provide (it provides: {offered}); add the "
                "SecretReference to the Webhook (secretRef, accessTokenRef or payloadSecretRefs) or remove it from "
                "the payload")

    def describe(self, spec: WebhookActionSpec) -> str:
        return spec.webhook_ref.name

    def snapshot(self, spec: WebhookActionSpec, namespace: str, world: Lookup) -> dict[str, Any]:
        return config(spec.webhook_ref.name, world.webhook(namespace, spec.webhook_ref.name), spec.payload)

    def policy(self, record: ExecutionRecord) -> retry.Policy | None:
        endpoint = endpoint_of(record)
        return retry.Policy.from_spec(endpoint.retry) if endpoint is not None else None

    def preview(self, spec: WebhookActionSpec, namespace: str, event: Event, variables: dict[str, str],
                world: Lookup) -> str:
        hook = world.webhook(namespace, spec.webhook_ref.name)
        names = ["SECRET", "ACCESS_TOKEN"]
        if hook is not None:
            names += [templates.secret_variable(r.name) for r in hook.payload_secret_refs]
            head = f"# POST {hook.url}" + ("  (signed: X-Wandb-Signature)" if hook.secret_ref else "")
        else:
            head = f"# Webhook {namespace}/{spec.webhook_ref.name} is not in these manifests"
        body = templates.render(spec.payload or templates.default_payload(), variables, dict.fromkeys(names, MASK))
        return head + "\n" + json.dumps(json.loads(body), indent=2)

    def target(self, config: dict[str, Any]) -> str:
        endpoint = config.get("endpoint") or {}
        url = str(endpoint.get("url", ""))
        return f"{config.get('webhook', '')} ({url.split('?', 1)[0]})" if url else str(config.get("webhook", ""))

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        cfg = record.spec.action.config
        spec = endpoint_of(record)
        if spec is None:
            raise ConfigError(f"Webhook {record.namespace}/{cfg.get('webhook')} did not exist when the event "
                              "matched; create it (spec.action.webhook.webhookRef)", reason="WebhookNotFound")
        signing, secret_vars = await secrets_for(spec, record.namespace, context)
        template = cfg.get("payload") or templates.default_payload()
        body = templates.render(template, record.spec.variables, secret_vars).encode()
        uses_secrets = any(name in template for name in secret_vars)
        shown = templates.render(template, record.spec.variables, dict.fromkeys(secret_vars, MASK)) \
            if uses_secrets else body.decode()
        request = RequestRecord(method="POST", url=spec.url.split("?", 1)[0], body=shown[:MAX_RECORDED_BODY])
        try:
            response = await post(spec, body, namespace=record.namespace, context=context,
                                  delivery_id=record.spec.delivery_id, signing_secret=signing,
                                  access_token=secret_vars.get("ACCESS_TOKEN"))
            check(spec, response)
        except DeliveryError as exc:
            if exc.auth_failed:
                invalidate(spec, record.namespace, context)
            exc.request = request
            raise
        return Result(response.status, cut(scrub(response.text), 1024), None, request)
