"""Decide each object's status: parse → decide (here) → apply → report (in the runtimes).

Pure except for :func:`secret_reference`, which asks the resolver (the backend is the thing checked).
An invalid spec is terminal (``Stalled``); a missing or not-ready reference is transient (retried, and
re-evaluated at once when the reference changes).
"""

from __future__ import annotations

import datetime
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

from wbauto.actions import egress
from wbauto.actions import webhook as webhook_action
from wbauto.api import kinds
from wbauto.api.automation import AutomationSpec
from wbauto.api.conditions import READY, Reason, summarize
from wbauto.api.manifests import Invalid, Resource
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.api.webhook import WebhookSpec
from wbauto.engine import checks
from wbauto.errors import DependencyMissing, SecretError
from wbauto.runtime.world import World
from wbauto.secrets.resolver import Resolver

_SECRET_USE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@dataclass(frozen=True)
class Outcome:
    ready: bool
    reason: str
    message: str
    stalled: bool = False
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def transient(self) -> bool:
        return not self.ready and not self.stalled


def invalid(item: Invalid) -> Outcome:
    problems = "; ".join(str(p) for p in item.problems)
    return Outcome(False, Reason.INVALID_SPEC, f"invalid spec: {problems}; fix the manifest and apply it again",
                   stalled=True)


async def secret_reference(res: Resource, resolver: Resolver) -> Outcome:
    spec: SecretReferenceSpec = res.spec  # type: ignore[assignment]
    try:
        value = await resolver.resolve(res.namespace, res.name)
    except SecretError as exc:
        # the backend's answer can change without any edit here (the Secret gets fixed): keep retrying,
        # unless the SecretReference itself is unusable
        terminal = exc.reason in (Reason.INVALID_SPEC, Reason.BACKEND_NOT_INSTALLED)
        return Outcome(False, exc.reason, str(exc), stalled=terminal, fields={"backend": spec.backend})
    except DependencyMissing as exc:  # removed while we were looking
        return Outcome(False, exc.reason, str(exc), fields={"backend": spec.backend})
    resolved_at = resolver.resolved_at(res.namespace, res.name)
    return Outcome(
        True, Reason.SUCCEEDED,
        f"resolved from {spec.backend}" + (f" (version {value.version})" if value.version else ""),
        fields={
            "backend": spec.backend,
            "resolvedVersion": value.version or None,
            "lastResolvedTime": _time(resolved_at) if resolved_at else None,
        },
    )


def _reference(world: World, namespace: str, name: str, field_name: str, owner: str) -> Outcome | None:
    """None when the SecretReference exists and is Ready; otherwise the transient outcome."""
    if world.get(kinds.SECRET_REFERENCE.kind, namespace, name) is None:
        return Outcome(False, Reason.SECRET_REFERENCE_NOT_FOUND,
                       f"{field_name}: SecretReference {namespace}/{name} not found; create it and this "
                       f"{owner} turns Ready")
    if not world.is_ready(kinds.SECRET_REFERENCE.kind, namespace, name):
        return Outcome(False, Reason.SECRET_REFERENCE_NOT_READY,
                       f"{field_name}: SecretReference {namespace}/{name} is not Ready; see its status "
                       "(kubectl describe secretreference)")
    return None


def webhook(res: Resource, world: World, policy: egress.Policy) -> Outcome:
    spec: WebhookSpec = res.spec  # type: ignore[assignment]
    try:
        egress.check_url(spec.url, policy)
    except egress.EgressDenied as exc:
        return Outcome(False, Reason.EGRESS_DENIED, f"spec.url: {exc}", stalled=True)
    bundle_problem = ca_bundle_problem(spec.ca_bundle)
    if bundle_problem is not None:
        return Outcome(False, Reason.INVALID_CA_BUNDLE,
                       f"spec.caBundle: {bundle_problem}; fix the manifest and apply it again", stalled=True)
    refs = [("spec.secretRef", spec.secret_ref), ("spec.accessTokenRef", spec.access_token_ref)]
    refs += [(f"spec.payloadSecretRefs[{i}]", r) for i, r in enumerate(spec.payload_secret_refs)]
    for field_name, ref in refs:
        if ref is not None:
            problem = _reference(world, res.namespace, ref.name, field_name, "Webhook")
            if problem is not None:
                return problem
    return Outcome(True, Reason.SUCCEEDED, f"endpoint {egress_safe_url(spec.url)} is ready")


def ca_bundle_problem(bundle: str | None) -> str | None:
    """Why Python's ssl cannot load ``bundle`` as CA certificates (what every delivery would do), or None."""
    if bundle is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=bundle)
    except (ssl.SSLError, ValueError, UnicodeError) as exc:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        return f"not a PEM CA bundle that loads ({reason})"
    return None


def egress_safe_url(url: str) -> str:
    """The URL without query string (tokens sometimes live there)."""
    return url.split("?", 1)[0]


def automation(res: Resource, world: World) -> Outcome:
    spec: AutomationSpec = res.spec  # type: ignore[assignment]
    fields = {"eventType": spec.event.wandb_type, "actionType": spec.action.wandb_type,
              "target": action_target(spec)}
    problems = checks.automation(spec, res.name)
    if problems:
        text = "; ".join(str(p) for p in problems)
        return Outcome(False, Reason.INVALID_SPEC, f"invalid spec: {text}; fix the manifest and apply it again",
                       stalled=True, fields=fields)
    action = spec.action
    if action.webhook is not None:
        name = action.webhook.webhook_ref.name
        if world.get(kinds.WEBHOOK.kind, res.namespace, name) is None:
            return Outcome(False, Reason.WEBHOOK_NOT_FOUND,
                           f"spec.action.webhook.webhookRef: Webhook {res.namespace}/{name} not found; create "
                           "it and this Automation turns Ready", fields=fields)
        if not world.is_ready(kinds.WEBHOOK.kind, res.namespace, name):
            return Outcome(False, Reason.WEBHOOK_NOT_READY,
                           f"spec.action.webhook.webhookRef: Webhook {res.namespace}/{name} is not Ready; see "
                           "its status (kubectl describe webhook)", fields=fields)
        hook = world.webhook(res.namespace, name)
        provided = set(webhook_action.secret_variables(hook)) if hook is not None else set()
        missing = sorted(n for n in _SECRET_USE.findall(action.webhook.payload or "") if n not in provided)
        if missing:
            offered = ", ".join(f"${{{n}}}" for n in sorted(provided)) or "none"
            return Outcome(False, Reason.PAYLOAD_SECRET_MISSING,
                           f"spec.action.webhook.payload uses {', '.join(f'${{{n}}}' for n in missing)}, which "
                           f"Webhook {res.namespace}/{name} does not provide (it provides: {offered}); add the "
                           "SecretReference to the Webhook (secretRef, accessTokenRef or payloadSecretRefs) or "
                           "remove it from the payload", stalled=True, fields=fields)
    if action.slack is not None:
        for field_name, ref in (("spec.action.slack.tokenRef", action.slack.token_ref),
                                ("spec.action.slack.incomingWebhookRef", action.slack.incoming_webhook_ref)):
            if ref is not None:
                problem = _reference(world, res.namespace, ref.name, field_name, "Automation")
                if problem is not None:
                    return Outcome(problem.ready, problem.reason, problem.message, fields=fields)
    if not spec.enabled:
        return Outcome(True, Reason.DISABLED, "spec.enabled is false: events are not matched", fields=fields)
    return Outcome(True, Reason.SUCCEEDED, f"watching {scope_text(spec)} for {spec.event.wandb_type}",
                   fields=fields)


def action_target(spec: AutomationSpec) -> str:
    a = spec.action
    if a.webhook is not None:
        return a.webhook.webhook_ref.name
    if a.slack is not None:
        return a.slack.channel or "incoming-webhook"
    if a.launch is not None:
        return f"queue {a.launch.queue}"
    if a.kubernetes_job is not None:
        return "job"
    return "-"


def scope_text(spec: AutomationSpec) -> str:
    s = spec.scope
    if s.project is not None:
        return f"project {s.project.entity}/{s.project.project}"
    if s.registry is not None:
        return f"registry {s.registry.organization}/{s.registry.name}"
    if s.collection is not None:
        return f"collection {s.collection.entity}/{s.collection.project}/{s.collection.name}"
    assert s.entity is not None
    return f"entity {s.entity.name}"


def _time(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_for(
    current: dict[str, Any] | None,
    outcome: Outcome,
    generation: int | None,
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The new ``status`` (conditions + fields), or None when nothing but timestamps would change."""
    current = dict(current or {})
    conditions = summarize(current.get("conditions") or [], ready=outcome.ready, reason=outcome.reason,
                           message=outcome.message, stalled=outcome.stalled, generation=generation, now=now)
    new = {**current, "conditions": conditions, "observedGeneration": generation}
    for key, value in outcome.fields.items():
        if value is None:
            new.pop(key, None)
        else:
            new[key] = value
    if _comparable(new) == _comparable(current):
        return None
    return new


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                         for c in status.get("conditions") or []]
    return out


def ready_of(status: dict[str, Any] | None) -> bool:
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == READY:
            return bool(c.get("status") == "True")
    return False
