"""Status conditions, kstatus style (as Flux): ``Ready``, ``Reconciling``, ``Stalled``, each with
``observedGeneration`` and a fixed CamelCase reason. Pure functions: callers pass the clock.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from wbauto.api.schema import Model

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


class Reason(StrEnum):
    """Every reason a wbauto condition can carry. Documented per kind in docs/."""

    # shared
    SUCCEEDED = "Succeeded"
    PROGRESSING = "Progressing"
    INVALID_SPEC = "InvalidSpec"
    DISABLED = "Disabled"
    # references inside the namespace
    SECRET_REFERENCE_NOT_FOUND = "SecretReferenceNotFound"
    SECRET_REFERENCE_NOT_READY = "SecretReferenceNotReady"
    WEBHOOK_NOT_FOUND = "WebhookNotFound"
    WEBHOOK_NOT_READY = "WebhookNotReady"
    PAYLOAD_SECRET_MISSING = "PayloadSecretMissing"
    # webhooks
    EGRESS_DENIED = "EgressDenied"
    INVALID_CA_BUNDLE = "InvalidCABundle"
    # secret resolution
    SECRET_NOT_FOUND = "SecretNotFound"
    ACCESS_DENIED = "AccessDenied"
    BACKEND_UNAVAILABLE = "BackendUnavailable"
    BAD_FORMAT = "BadFormat"
    BACKEND_NOT_INSTALLED = "BackendNotInstalled"
    # event sources
    SOURCE_UNAVAILABLE = "SourceUnavailable"
    # executions (AutomationExecution, from its phase)
    PENDING = "Pending"
    RETRYING = "Retrying"
    SKIPPED = "Skipped"
    FAILED = "Failed"


class Condition(Model):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str = Field(description="Condition type: Ready, Reconciling or Stalled.", max_length=316)
    status: str = Field(description='"True", "False" or "Unknown".', pattern="^(True|False|Unknown)$")
    reason: str = Field(description="Fixed CamelCase reason for the last transition.", max_length=1024)
    message: str = Field("", description="Human-readable details, naming the field and what to do.",
                         max_length=32768)
    last_transition_time: datetime.datetime = Field(
        description="When the status last changed.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed for.")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    """Return ``conditions`` with ``type_`` set; ``lastTransitionTime`` moves only when status flips."""
    status_text = "True" if status else "False"
    out: list[dict[str, Any]] = []
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = now.isoformat().replace("+00:00", "Z")
    if previous is not None and previous.get("status") == status_text:
        transition = previous.get("lastTransitionTime") or transition
    new: dict[str, Any] = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    out = [c for c in conditions if c.get("type") != type_]
    out.append(new)
    order = {READY: 0, RECONCILING: 1, STALLED: 2}
    return sorted(out, key=lambda c: (order.get(c["type"], 9), c["type"]))


def remove_condition(conditions: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [c for c in conditions if c.get("type") != type_]


def summarize(
    conditions: list[dict[str, Any]],
    *,
    ready: bool,
    reason: str,
    message: str,
    stalled: bool,
    generation: int | None,
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    """The whole kstatus triple for one outcome.

    - ready: ``Ready=True``; no ``Reconciling``/``Stalled``.
    - transient (not ready, not stalled): ``Ready=False`` + ``Reconciling=True`` (will retry).
    - terminal (stalled): ``Ready=False`` + ``Stalled=True``; waits for a spec change.
    """
    out = set_condition(conditions, READY, ready, reason, message, generation, now)
    if ready:
        out = remove_condition(remove_condition(out, RECONCILING), STALLED)
    elif stalled:
        out = remove_condition(out, RECONCILING)
        out = set_condition(out, STALLED, True, reason, message, generation, now)
    else:
        out = remove_condition(out, STALLED)
        out = set_condition(out, RECONCILING, True, Reason.PROGRESSING, message, generation, now)
    return out


def condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def is_ready(conditions: list[dict[str, Any]] | None) -> bool:
    c = condition(conditions, READY)
    return c is not None and c.get("status") == "True"
