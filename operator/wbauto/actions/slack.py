"""``slack`` action: a Slack message (W&B's NOTIFICATION action).

With a bot token (``tokenRef``) it calls the Web API's ``chat.postMessage`` on ``channel``; with an
incoming-webhook URL (``incomingWebhookRef``) it posts to that URL. The message carries the title, the
message, the severity as the attachment colour, a summary of the event and a button back to W&B.
"""

from __future__ import annotations

import json
from typing import Any

from wbauto.actions.base import Action, Context, Lookup, Reference, Result
from wbauto.actions.http import Response
from wbauto.api.automation import Severity
from wbauto.api.automation import SlackAction as SlackSpec
from wbauto.api.event import Event
from wbauto.api.execution import ExecutionRecord, RequestRecord
from wbauto.engine import templates
from wbauto.engine.retry import retry_after_seconds, retryable_status
from wbauto.errors import DeliveryError, cut
from wbauto.redact import scrub

COLORS = {Severity.INFO: "#2EB67D", Severity.WARN: "#ECB22E", Severity.ERROR: "#E01E5A"}
RETRYABLE_API_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
AUTH_API_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}


def message(spec: SlackSpec, variables: dict[str, str], app_url: str) -> dict[str, Any]:
    """The Slack message body (without ``channel``)."""
    title = templates.render(spec.title, variables, json_body=False) or (
        f"{spec.severity.value}: {variables.get('automation_name', 'W&B automation')}")
    summary = _summary(variables)
    text = templates.render(spec.message, variables, json_body=False) or summary
    link = (variables.get("artifact_url") or variables.get("run_url")
            or f"{app_url}/{variables.get('entity_name', '')}/{variables.get('project_name', '')}")
    fields = [
        {"type": "mrkdwn", "text": f"*Event*\n{variables.get('event_type', '')}"},
        {"type": "mrkdwn", "text": f"*Automation*\n{variables.get('automation_name', '')}"},
        {"type": "mrkdwn",
         "text": f"*Project*\n{variables.get('entity_name', '')}/{variables.get('project_name', '')}"},
    ]
    if variables.get("event_author"):
        fields.append({"type": "mrkdwn", "text": f"*Author*\n{variables['event_author']}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": summary[:3000]}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "View in W&B"},
                                          "url": link}]},
    ]
    return {"text": f"{title}: {text}"[:4000],
            "attachments": [{"color": COLORS[spec.severity], "blocks": blocks}]}


def _summary(v: dict[str, str]) -> str:
    if v.get("artifact_version_string"):
        what = v["artifact_version_string"]
        detail = f" `{v['alias']}`" if v.get("alias") else f" `{v['tag']}`" if v.get("tag") else ""
        return f"{v.get('event_type', '')}{detail} on {what}"
    if v.get("run_name"):
        extra = v.get("metric_current_status") or v.get("run_status") or ""
        return f"{v.get('event_type', '')} for run {v['run_name']}" + (f": {extra}" if extra else "")
    return f"{v.get('event_type', '')} in {v.get('entity_name', '')}/{v.get('project_name', '')}"


class SlackAction(Action):
    type = "slack"

    def references(self, spec: SlackSpec) -> list[Reference]:
        refs = (("spec.action.slack.tokenRef", spec.token_ref),
                ("spec.action.slack.incomingWebhookRef", spec.incoming_webhook_ref))
        return [Reference("SecretReference", ref.name, field) for field, ref in refs if ref is not None]

    def describe(self, spec: SlackSpec) -> str:
        return spec.channel or "incoming-webhook"

    def target(self, config: dict[str, Any]) -> str:
        return str(config.get("channel") or "incoming webhook")

    def preview(self, spec: SlackSpec, namespace: str, event: Event, variables: dict[str, str],
                world: Lookup) -> str:
        return json.dumps(message(spec, variables, "https://wandb.ai"), indent=2)

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        spec = SlackSpec.model_validate(record.spec.action.config)
        body = message(spec, record.spec.variables, context.app_url)
        ref = spec.token_ref or spec.incoming_webhook_ref
        assert ref is not None
        secret = (await context.resolver.resolve(record.namespace, ref.name)).value
        if spec.token_ref is not None:
            url = f"{spec.api_url.rstrip('/')}/chat.postMessage"
            body = {"channel": spec.channel, **body}
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json; charset=utf-8"}
        else:
            url, headers = secret, {"Content-Type": "application/json"}
        shown_url = url.split("?", 1)[0] if spec.token_ref is not None else "incoming webhook (URL is a secret)"
        request = RequestRecord(method="POST", url=shown_url, body=json.dumps(body)[:16384])
        try:
            response = await context.http.post(url, json.dumps(body).encode(), headers, timeout=15.0)
        except DeliveryError as exc:
            exc.request = request
            raise
        return self._check(spec, response, record, context, request)

    def _check(self, spec: SlackSpec, response: Response, record: ExecutionRecord, context: Context,
               request: RequestRecord) -> Result:
        code = response.status
        text = cut(scrub(response.text), 1024)
        if code >= 400 or code < 200:
            auth = code in (401, 403)
            if auth:
                self._invalidate(spec, record, context)
            raise DeliveryError(f"Slack answered HTTP {code}: {text}", retryable=retryable_status(code) or auth,
                                status_code=code, response_body=text, auth_failed=auth, request=request,
                                retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if spec.token_ref is None:
            return Result(code, text, None, request)
        try:
            answer = json.loads(response.text)
        except ValueError:
            raise DeliveryError("Slack answered with a non-JSON body", retryable=True, status_code=code,
                                response_body=text, request=request) from None
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))
            auth = error in AUTH_API_ERRORS
            if auth:
                self._invalidate(spec, record, context)
            raise DeliveryError(f"Slack API error: {error}", retryable=error in RETRYABLE_API_ERRORS or auth,
                                status_code=code, response_body=text, auth_failed=auth, request=request)
        return Result(code, text, str(answer.get("ts") or ""), request)

    @staticmethod
    def _invalidate(spec: SlackSpec, record: ExecutionRecord, context: Context) -> None:
        ref = spec.token_ref or spec.incoming_webhook_ref
        if ref is not None:
            context.resolver.invalidate(record.namespace, ref.name)
