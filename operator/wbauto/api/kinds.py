"""The four kinds of ``automations.wandb.ai/v1alpha1``: names, models and ``kubectl get`` columns."""

from __future__ import annotations

from dataclasses import dataclass

from wbauto.api.automation import AutomationSpec, AutomationStatus
from wbauto.api.execution import AutomationExecutionSpec, AutomationExecutionStatus
from wbauto.api.schema import Model
from wbauto.api.secretreference import SecretReferenceSpec, SecretReferenceStatus
from wbauto.api.webhook import WebhookSpec, WebhookStatus

GROUP = "automations.wandb.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
PREFIX = GROUP  # annotation / label prefix: automations.wandb.ai/...


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[Model]
    status: type[Model]
    columns: tuple[Column, ...]
    description: str
    categories: tuple[str, ...] = ("wbauto",)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


READY = Column("Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition")
STATUS = Column("Status", '.status.conditions[?(@.type=="Ready")].message', priority=1,
                description="Ready message")
AGE = Column("Age", ".metadata.creationTimestamp", type="date")

SECRET_REFERENCE = Kind(
    kind="SecretReference",
    plural="secretreferences",
    short_names=("wbsecret", "wbsr"),
    spec=SecretReferenceSpec,
    status=SecretReferenceStatus,
    columns=(
        Column("Backend", ".status.backend"),
        READY,
        Column("Version", ".status.resolvedVersion", priority=1),
        STATUS,
        AGE,
    ),
    description="Where one secret value lives (W&B team secret): Kubernetes, AWS, GCP, Azure or Vault.",
)

WEBHOOK = Kind(
    kind="Webhook",
    plural="webhooks",
    short_names=("wbhook", "wbwh"),
    spec=WebhookSpec,
    status=WebhookStatus,
    columns=(
        Column("URL", ".spec.url"),
        READY,
        Column("Last Test", ".status.lastTest.responseCode", type="integer", priority=1),
        STATUS,
        AGE,
    ),
    description="An HTTP endpoint Automations post to (W&B team webhook), with optional signing secret "
    "and access token.",
)

AUTOMATION = Kind(
    kind="Automation",
    plural="automations",
    short_names=("wba",),
    spec=AutomationSpec,
    status=AutomationStatus,
    columns=(
        Column("Event", ".status.eventType"),
        Column("Action", ".status.actionType"),
        Column("Target", ".status.target"),
        Column("Enabled", ".spec.enabled", type="boolean", priority=1),
        READY,
        Column("Last Result", ".status.lastExecution.status"),
        Column("Last Code", ".status.lastExecution.responseCode", type="integer", priority=1),
        Column("Last Execution", ".status.lastExecution.time", type="date"),
        STATUS,
        AGE,
    ),
    description="A W&B automation: scope + event (+ filters) + action.",
)

AUTOMATION_EXECUTION = Kind(
    kind="AutomationExecution",
    plural="automationexecutions",
    short_names=("wbexec", "wbx"),
    spec=AutomationExecutionSpec,
    status=AutomationExecutionStatus,
    columns=(
        Column("Automation", ".spec.automation.name"),
        Column("Event", ".spec.event.type"),
        Column("Status", ".status.phase"),
        Column("Code", ".status.responseCode", type="integer"),
        Column("Attempts", ".status.attempts", type="integer"),
        Column("Target", ".spec.action.target", priority=1),
        Column("Error", ".status.error", priority=1),
        AGE,
    ),
    description="One execution of an Automation: the durable outbox entry and the history row.",
)

KINDS: tuple[Kind, ...] = (SECRET_REFERENCE, WEBHOOK, AUTOMATION, AUTOMATION_EXECUTION)
BY_KIND = {k.kind: k for k in KINDS}
