"""``AutomationExecution``: one execution — the durable outbox entry and the history row.

Created ``Pending`` before the action runs; the delivery workers move it to ``Finished``, ``Failed``
or ``Skipped``. It snapshots what to do (action and endpoint) so deleting the Automation or the Webhook
does not cancel it (W&B: "actions in progress are not affected"). Secret values are never stored:
they are resolved when the request is sent.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import Field

from wbauto.api.conditions import READY, RECONCILING, STALLED, Condition, Reason
from wbauto.api.event import Event
from wbauto.api.schema import Model


class Phase(StrEnum):
    PENDING = "Pending"
    FINISHED = "Finished"
    FAILED = "Failed"
    SKIPPED = "Skipped"

    @property
    def terminal(self) -> bool:
        return self is not Phase.PENDING


class AutomationRef(Model):
    """The Automation that created the execution, as it was then."""

    name: str = Field(description="Automation name (same namespace).")
    uid: str = Field("", description="Automation uid at creation.")
    generation: int = Field(0, description="Automation generation at creation.")
    display_name: str = Field("", description="W&B automation name (${automation_name}).")


class ExecutionAction(Model):
    """A snapshot of the action to run, taken when the execution was created."""

    type: str = Field(description="webhook, slack, launch, kubernetesJob or noOp.")
    target: str = Field("", description="Human-readable target: URL host, channel, queue or Job name.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The action spec (and, for webhooks, the Webhook spec).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class AutomationExecutionSpec(Model):
    """What happened and what to do. Written once, at creation."""

    automation: AutomationRef = Field(description="The Automation that matched.")
    event: Event = Field(description="The triggering event.")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Payload variables computed for this automation and event.")
    action: ExecutionAction = Field(description="Snapshot of the action.")
    delivery_id: str = Field(description="Sent as X-Wbauto-Delivery; the same on every retry.")
    skip_reason: str | None = Field(None, description="Set when the execution was created Skipped "
                                                      "(rate limit, disabled).")
    failure: str | None = Field(None, description="Set when the execution was created Failed, without an "
                                                  "attempt: the Automation could not run it (a Stalled Webhook, "
                                                  "an event that could not be evaluated).", max_length=1100)


class RequestRecord(Model):
    """What was sent (secrets replaced by ***)."""

    method: str = Field("POST", description="HTTP method.")
    url: str = Field("", description="Target URL (query string removed).")
    body: str = Field("", description="Body as sent, secrets replaced by ***; cut at 16 KiB.",
                      max_length=16500)


class AutomationExecutionStatus(Model):
    """Delivery state: phase, attempts, the last response."""

    phase: Phase = Field(Phase.PENDING, description="Pending, Finished, Failed or Skipped.")
    attempts: int = Field(0, ge=0, description="Attempts made so far.")
    response_code: int | None = Field(None, description="HTTP status of the last attempt.")
    error: str | None = Field(None, description="Error of the last attempt (cut at 1 KiB).", max_length=1100)
    result: str | None = Field(None, description="Action result: run queue item id, Job name, Slack ts.")
    request: RequestRecord | None = Field(None, description="The request last sent.")
    response_body: str | None = Field(None, description="Response body of the last attempt (cut at 1 KiB).",
                                      max_length=1100)
    next_attempt_time: datetime.datetime | None = Field(None, description="When the next retry is due.")
    last_attempt_time: datetime.datetime | None = Field(None, description="When the last attempt started.")
    completion_time: datetime.datetime | None = Field(None, description="When it became terminal.")
    duration_ms: int | None = Field(None, description="Event-to-completion latency in milliseconds.")
    conditions: list[Condition] | None = Field(
        None, description="Ready, Reconciling (while Pending) and Stalled (Failed), computed from the phase "
                          "each time the status is written, for kstatus, Argo CD and kubectl wait.")


def execution_conditions(status: AutomationExecutionStatus, created: datetime.datetime) -> list[dict[str, Any]]:
    """The kstatus conditions of an execution, from its phase, attempts and last error. Pure: the transition
    time is the moment the phase was reached (completion, last attempt or creation), never a clock read.
    No ``observedGeneration``: the spec never changes after creation and the conditions derive from the
    status written with them (an execution has no status subresource, so its generation moves with every
    write and would never match).

    - Pending, no attempt yet: ``Ready=False`` + ``Reconciling=True``, reason ``Pending``.
    - Pending after a failed attempt: the same with reason ``Retrying`` and the error as message.
    - Finished: ``Ready=True`` (``Succeeded``); Skipped: ``Ready=True`` (``Skipped``, nothing to deliver).
    - Failed: ``Ready=False`` + ``Stalled=True`` (``Failed``): terminal, no more attempts.
    """
    when = status.completion_time if status.phase.terminal else None
    moment = when or status.last_attempt_time or created
    transition = moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")

    def cond(type_: str, ok: bool, reason: Reason, message: str) -> dict[str, Any]:
        return {"type": type_, "status": "True" if ok else "False", "reason": reason.value,
                "message": message, "lastTransitionTime": transition}

    error = (status.error or "").strip()
    tried = f"after {status.attempts} attempt{'s' if status.attempts != 1 else ''}"
    if status.phase is Phase.FINISHED:
        return [cond(READY, True, Reason.SUCCEEDED, f"Delivered {tried}.")]
    if status.phase is Phase.SKIPPED:
        return [cond(READY, True, Reason.SKIPPED, f"Skipped: {error}" if error else "Skipped.")]
    if status.phase is Phase.FAILED:
        message = f"Failed {tried}: {error}" if error else f"Failed {tried}."
        return [cond(READY, False, Reason.FAILED, message), cond(STALLED, True, Reason.FAILED, message)]
    if status.attempts:
        message = f"Retrying {tried}: {error}" if error else f"Retrying {tried}."
        reason = Reason.RETRYING
    else:
        message, reason = "Waiting for the first attempt.", Reason.PENDING
    return [cond(READY, False, reason, message), cond(RECONCILING, True, reason, message)]


@dataclass
class ExecutionRecord:
    namespace: str
    name: str
    spec: AutomationExecutionSpec
    status: AutomationExecutionStatus = field(default_factory=AutomationExecutionStatus)
    created: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """What actions parsed from the snapshot (never stored; shared by the record's later versions)."""

    @property
    def automation(self) -> str:
        return self.spec.automation.name

    @property
    def terminal(self) -> bool:
        return self.status.phase.terminal

    def with_status(self, **changes: Any) -> ExecutionRecord:
        return ExecutionRecord(self.namespace, self.name, self.spec, self.status.model_copy(update=changes),
                               self.created, self.memo)


DEDUPE_HORIZON = datetime.timedelta(hours=48)
"""How long a store remembers that an execution existed, after retention removed it: longer than any
re-detection window (a poller never replays more than 24 h; the receiver treats an identical body within
this horizon as a redelivery), so a re-detected event never runs twice."""


def execution_name(automation: str, automation_uid: str, event_id: str) -> str:
    """Deterministic, so the same event never creates a second execution of the same automation."""
    digest = hashlib.sha256(f"{automation_uid}\x1f{automation}\x1f{event_id}".encode()).hexdigest()[:12]
    prefix = re.sub(r"[^a-z0-9-]", "-", automation.lower())[:48].strip("-.") or "automation"
    return f"{prefix}-{digest}"
