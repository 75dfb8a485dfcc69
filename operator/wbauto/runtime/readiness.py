"""Decide each object's status: parse → decide (here) → apply → report (in the runtimes).

Pure except for :func:`secret_reference`, which asks the resolver (the backend is the thing checked).
An invalid spec is terminal (``Stalled``); a missing or not-ready reference is transient (retried, and
re-evaluated at once when the reference changes).
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, field
from typing import Any

from wbauto.actions import egress, registry
from wbauto.actions import webhook as webhook_action
from wbauto.actions.base import Reference
from wbauto.api import kinds
from wbauto.api.automation import AutomationSpec
from wbauto.api.conditions import READY, Reason, summarize
from wbauto.api.manifests import Invalid, Resource
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.api.webhook import WebhookSpec
from wbauto.engine import checks
from wbauto.engine.events import registry as events
from wbauto.errors import DependencyMissing, SecretError
from wbauto.runtime.world import World
from wbauto.secrets.resolver import Resolver


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


_REASONS = {kinds.SECRET_REFERENCE.kind: (Reason.SECRET_REFERENCE_NOT_FOUND, Reason.SECRET_REFERENCE_NOT_READY),
            kinds.WEBHOOK.kind: (Reason.WEBHOOK_NOT_FOUND, Reason.WEBHOOK_NOT_READY)}


def _reference(world: World, namespace: str, ref: Reference, owner: str) -> Outcome | None:
    """None when the referenced object exists and is Ready; otherwise the transient outcome."""
    missing, not_ready = _REASONS[ref.kind]
    if world.get(ref.kind, namespace, ref.name) is None:
        return Outcome(False, missing, f"{ref.field}: {ref.kind} {namespace}/{ref.name} not found; create it and "
                                       f"this {owner} turns Ready")
    if not world.is_ready(ref.kind, namespace, ref.name):
        return Outcome(False, not_ready, f"{ref.field}: {ref.kind} {namespace}/{ref.name} is not Ready; see its "
                                         f"status (kubectl describe {ref.kind.lower()})")
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
    for ref in webhook_action.endpoint_references(spec):
        problem = _reference(world, res.namespace, ref, "Webhook")
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
    action, settings = registry.of(spec.action)
    event_type = events.of(spec.event).wandb_type.value
    fields = {"eventType": event_type, "actionType": spec.action.wandb_type,
              "target": action.describe(settings)}
    problems = checks.automation(spec, res.name)
    if problems:
        text = "; ".join(str(p) for p in problems)
        return Outcome(False, Reason.INVALID_SPEC, f"invalid spec: {text}; fix the manifest and apply it again",
                       stalled=True, fields=fields)
    for ref in action.references(settings):
        problem = _reference(world, res.namespace, ref, "Automation")
        if problem is not None:
            return Outcome(problem.ready, problem.reason, problem.message, fields=fields)
    problem_text = action.problems(settings, res.namespace, world)
    if problem_text is not None:
        return Outcome(False, Reason.PAYLOAD_SECRET_MISSING if "payload" in problem_text else Reason.INVALID_SPEC,
                       problem_text, stalled=True, fields=fields)
    if not spec.enabled:
        return Outcome(True, Reason.DISABLED, "spec.enabled is false: events are not matched", fields=fields)
    return Outcome(True, Reason.SUCCEEDED, f"watching {spec.scope.describe()} for {event_type}",
                   fields=fields)


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
